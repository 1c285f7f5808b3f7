"""One home for defaults: thresholds, limits, environment variable names and the settings the CLI reads."""

from __future__ import annotations

import os
from dataclasses import dataclass

# PDQ: ThreatExchange's recommended match distance (<=) and minimum quality (>=); see pdq/README.md upstream.
PDQ_MATCH_THRESHOLD = 31
PDQ_MIN_QUALITY = 50

# Reading: every byte of an item is read once, in chunks of this size, and fed to every digest.
READ_CHUNK_SIZE = 1 << 20

# Images: refuse to decode above this many pixels (decided from the header, before any allocation).
# 200 MP is larger than any camera or scanner output in use; a 2-worker scan stays within a few GB.
MAX_IMAGE_PIXELS = 200_000_000
# Pixels alone do not bound memory: a float or 32-bit pixel is 4 bytes, a decoder may hold a second full-size
# buffer, and the PDQ engine a float per pixel. Each image's peak (its encoded bytes, the decoder's buffers, the
# normalised pixels and the engine's) is predicted from the header and the image is refused above this budget,
# so a worker's decoding never holds more than this beyond its baseline: 2 workers stay within ~3 GiB.
MAX_DECODE_BYTES = 1536 * 1024 * 1024
# Images larger than this (bytes) are digested but not decoded for PDQ: no real photo is this large.
MAX_IMAGE_BYTES = 512 * 1024 * 1024
# Videos inside archives and disk images are decoded from memory (FFmpeg seeks, and nothing of the evidence is
# ever written to disk), up to this size; larger ones get their digests and a note.
MAX_VIDEO_MEMBER_BYTES = 2 * 1024 * 1024 * 1024
# Videos: a scan hashes one frame per this many seconds (the query rate, the reference's default).
VPDQ_QUERY_SECONDS_PER_HASH = 1.0
# Videos hashed for a hash set (`hashwarden hash --for-set`) keep every frame (0): a copy trimmed at any offset
# then samples frames the set holds. At 1/s a copy trimmed by 0.1-0.9 s was found 3 % of the time on the sample
# videos (their content moves within a few frames), at every frame 99 %, for ~30x the frames stored at 30 fps
# (bench/vpdq_trim.py, figures in docs/architecture.md).
VPDQ_SET_SECONDS_PER_HASH = 0.0

# Store
ENV_DB = "HASHWARDEN_DB"
DEFAULT_DB_PATH = "hashwarden.db"

# Audit: who did it. The examiner's name, from $HASHWARDEN_EXAMINER (the CLI's --examiner sets it); without one,
# audit rows name the OS user followed by this note, so that a reader knows no examiner was configured.
ENV_EXAMINER = "HASHWARDEN_EXAMINER"
OS_USER_NOTE = "OS user; no examiner name configured"

# Scan: the writer commits at least this often, so a killed scan loses at most this much work.
COMMIT_EVERY_ITEMS = 200
COMMIT_EVERY_SECONDS = 2.0


def database_url(db: str | None = None) -> str:
    """Turn `--db` (a path or a SQLAlchemy URL), else $HASHWARDEN_DB, else ./hashwarden.db, into a URL."""
    value = db or os.environ.get(ENV_DB) or DEFAULT_DB_PATH
    if "://" in value:
        return value
    return f"sqlite:///{os.path.abspath(value)}"


def examiner() -> str | None:
    """The configured examiner name ($HASHWARDEN_EXAMINER, surrounding blanks removed), or None."""
    name = (os.environ.get(ENV_EXAMINER) or "").strip()
    return name or None


@dataclass(frozen=True)
class ScanSettings:
    """What a scan is told: matching thresholds and how to run. The CLI builds one; tests build their own."""

    pdq_threshold: int = PDQ_MATCH_THRESHOLD
    pdq_min_quality: int = PDQ_MIN_QUALITY
    workers: int = 0  # 0 = one per core
    compute_pdq: bool = True
    max_image_pixels: int = MAX_IMAGE_PIXELS
    carve: bool = False  # carve media from unallocated space of disk images
    verify_ewf: bool = False  # verify E01 images against their stored MD5/SHA-1 (reads each image once more)
    known_filter: bool = True  # files in ignorable sets (NSRL) are reported ignorable and not decoded for PDQ
    vpdq_seconds_per_hash: float = 1.0  # videos: one frame hashed per this many seconds (0 = every frame)
    # A video is known when >= this % of its unique frames match a known video and >= this % of that video's
    # frames are matched (python-threatexchange's defaults; see index/video.py).
    vpdq_query_percent: float = 80.0
    vpdq_compared_percent: float = 0.0
    # What one file of a source may expand to, nested containers included (0 = the larger of 4 GiB and 100 times
    # its size; see evidence/tree.py): a small crafted archive cannot make a scan run for days.
    max_expanded_bytes: int = 0
    max_members: int = 10_000_000
    # passwords / recovery keys for BitLocker, LUKS, APFS and encrypted QCOW (format: evidence/layers.py, Keys)
    key_file: str | None = None
    # scan even when the database holds no alert entry (every item would be unknown): for hashing and listing only
    allow_empty: bool = False

    def worker_count(self) -> int:
        """`workers`, or 0 = the cores this process may run on (its CPU affinity, as a container or `taskset`
        sets it), not the machine's."""
        if self.workers > 0:
            return self.workers
        affinity = getattr(os, "sched_getaffinity", None)
        return len(affinity(0)) if affinity else (os.cpu_count() or 1)
