"""One home for defaults: thresholds, limits, environment variable names and the settings the CLI reads."""

from __future__ import annotations

import os
from dataclasses import dataclass

# PDQ: ThreatExchange's recommended match distance (<=) and minimum quality (>=); see pdq/README.md upstream.
PDQ_MATCH_THRESHOLD = 31
PDQ_MIN_QUALITY = 50
# Leads (leads/clusters.py): shots from one device whose capture times follow each other within this many seconds
# are one burst, so one cluster (a phone's burst mode takes ~10 a second; a session of poses, a few a minute).
BURST_SECONDS = 30.0

# URLs (urls/): the longest URL canonicalized, in bytes as given (before any unescaping, which only shortens it).
# Longer input is refused with UrlError before any work, so a 10 MB line costs one length check. Browsers send far
# shorter URLs in practice (servers and CDNs commonly refuse request lines over 8-16 KB); 64 KiB leaves room for long
# query strings while keeping the worst case (repeated unescaping, then escaping to at most 3x) within milliseconds.
MAX_URL_BYTES = 64 * 1024
# Safe Browsing's expressions (urls/expressions.py): the exact host plus up to this many suffixes taken from the last
# five labels, and the root plus up to this many directory prefixes of the path (v4 "URLs and Hashing"; 5 x 6 = 30).
URL_HOST_SUFFIXES = 4
URL_PATH_PREFIXES = 3

# Reading: every byte of an item is read once, in chunks of this size, and fed to every digest.
READ_CHUNK_SIZE = 1 << 20

# Images: refuse to decode above this many pixels (decided from the header, before any allocation).
# 200 MP is larger than any camera or scanner output in use; a 2-worker scan stays within a few GB.
MAX_IMAGE_PIXELS = 200_000_000
# Pixels alone do not bound memory: a float or 32-bit pixel is 4 bytes, a decoder may hold a second full-size
# buffer, and the PDQ engine a few dozen rows of floats. Each image's peak (its encoded bytes, the decoder's buffers, the
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

# vPDQ matching: a video is known when at least this share of the query's unique good frames match a known video,
# whatever share of the known video they cover (python-threatexchange's VPDQ_QUERY_MATCH_THRESHOLD_PERCENT = 80 and
# VPDQ_INDEX_MATCH_THRESHOLD_PERCENT = 0, so a trimmed clip of a known video is known). The vpdq README's example
# is the other way round (compared >= 80 %, query >= 0 %); both are settings. Frames match as PDQ hashes do:
# distance <= PDQ_MATCH_THRESHOLD, frames below PDQ_MIN_QUALITY take no part.
VPDQ_QUERY_MATCH_PERCENT = 80.0
VPDQ_COMPARED_MATCH_PERCENT = 0.0

# Grading: the category scheme of a vote that names none (`hashwarden grade`): the UK database's, which the
# consensus rule is modelled on (grading/consensus.py).
DEFAULT_GRADING_SCHEME = "uk-sentencing"

# Evidence limits: every bound that keeps a crafted or damaged source from running a scan for days or out of
# memory. Reaching one is an error of the container it cuts, never silent.
# One budget per top-level file of a source (`Limits`), nested containers included: a 23 KB zip nested 16 wide
# and 4 deep would otherwise expand to 16 TiB.
MAX_CONTAINER_DEPTH = 16  # containers inside containers, at most
MAX_NESTED_BYTES = 512 << 20  # a member that must be seekable (a nested zip, 7z, disk image) is held in memory to this
EXPANSION_FLOOR = 4 << 30  # every top-level file may expand to at least this many bytes in all ...
EXPANSION_RATIO = 100  # ... or this many times its own size, whichever is larger
MAX_MEMBERS = 10_000_000  # members (at every level) under one top-level file
# Archives: one member that expands past this many bytes, or past this many times its stored size (a
# decompression bomb), is cut off; members of one compressed stream share the ratio.
MAX_MEMBER_BYTES = 8 << 30
MAX_MEMBER_RATIO = 1000
# Archives read by 7-Zip: members taken one by one after the stream failed, per archive; members listed in memory
# (~200 bytes each; past it libarchive, which streams its listing, reads the archive instead); a 7z inside a
# container is copied into memory for 7-Zip up to this size.
SEVENZIP_MAX_RETRIES = 1000
SEVENZIP_MAX_LISTED = 2_000_000
SEVENZIP_MAX_HANDOVER_BYTES = 512 << 20
# A child process (libarchive, 7-Zip) that sends nothing for this long is stuck, not slow (no single step takes
# this long; Debian's libarchive 3.6.2 loops forever on a crafted XAR): it is killed and its container reported.
CHILD_STALL_SECONDS = 60.0
# Folders: directory descriptors the walk keeps open at most; deeper ancestors are re-opened on the way back up.
MAX_OPEN_DIRS = 64
# Disk images: entries listed in one file system (or APFS container) before the listing stops (a corrupt file
# system can list without end); logical partitions followed in one extended chain (Linux stops far lower);
# bytes of GPT entries read (4096 entries of 256 bytes; the specification's minimum array is 16 KiB); entries in
# one EWF table (far above what any acquisition tool writes; more is a damaged header); the largest item carving
# measures (a video may be larger: it is cut there).
MAX_FS_ENTRIES = 10_000_000
MAX_LOGICAL_PARTITIONS = 256
MAX_GPT_ENTRY_BYTES = 1 << 20
MAX_EWF_TABLE_ENTRIES = 1 << 24
MAX_CARVE_BYTES = 256 << 20
# Virtual disks and volume layers (evidence/layers.py): one read() of a layer (TSK and the scan read in blocks far
# below it); differencing VHD/VMDK parents and QCOW backing files followed in one chain; VMDK extents (a
# twoGbMaxExtent VMDK of 8 TB has 4096); shadow copy stores (Windows keeps at most 64 per volume; more is a
# corrupt catalog); APFS directory depth; keys tried (each runs the format's key derivation, about a second for
# BitLocker) and the key file's size.
MAX_LAYER_READ = 64 << 20
MAX_LAYER_CHAIN = 16
MAX_VMDK_EXTENTS = 4096
MAX_SHADOW_STORES = 512
MAX_APFS_DEPTH = 1024
MAX_KEYS = 64
MAX_KEY_FILE_BYTES = 1 << 20

# Hash lists: bounds for hostile input. A list to import is untrusted like evidence: a crafted one must not make a
# reader hold a value without end, nest a parser into quadratic memory or run SQL without end. Reaching one is a
# FormatError naming the record, line or row, never a silent cut.
# JSON (VICS, JSON lines; formats/_jsonstream.py): bytes before one record must complete; no legitimate record comes
# near it (a VICS Media with 10,000 MediaFiles instances is about 3 MB), and a longer value is refused unheld.
MAX_JSON_RECORD_BYTES = 32 << 20
# JSON nesting, counted on the raw bytes before a parser sees them: a VICS record sits 2 levels inside the document
# (5 in #Cases) and is about 5 deep itself; ijson's memory grows with the square of the depth (30,000 levels in a
# 60 KB file: 2.3 GB). The service's JSON request bodies have the same bound (service/limits.py): a report.json is
# under 10 deep, and Python's json recurses into 100k `[`.
MAX_JSON_DEPTH = 64
# A VICS text field (Comments, Series, Tags, PhotoDNA), characters: an analyst's note is never a megabyte.
MAX_VICS_TEXT_CHARS = 1 << 20
# RDSv3 SQLite (formats/nsrl/untrusted_sqlite.py): the largest value SQLite builds (SQLITE_LIMIT_LENGTH), as a JSON
# record's limit.
MAX_SQLITE_VALUE_BYTES = MAX_JSON_RECORD_BYTES
# SQLite steps one read may take, a start plus so many per byte of the file: a legitimate read takes under 0.3 a
# byte (minimal table in key order, full view), so 16 is 50x that, and the start covers the schema and small files;
# a recursive view that never ends or a cross join is stopped there.
SQLITE_BASE_STEPS = 50_000_000
SQLITE_STEPS_PER_BYTE = 16
# An RDS file name or VERSION value, characters (cut in SQL just past it): NIST's longest are a few hundred.
MAX_RDS_NAME_CHARS = 4096
# RDS delta scripts (formats/nsrl/delta.py): bytes of one statement (a longer one is a missing ';', not an RDS
# row); keys one DELETE/UPDATE may expand to (IN lists multiply under AND).
MAX_DELTA_STATEMENT_BYTES = 16 << 20
MAX_DELTA_KEYS = 100_000

# Store
ENV_DB = "HASHWARDEN_DB"
DEFAULT_DB_PATH = "hashwarden.db"
# Imports: rows read, converted and written as one batch (record batches, RDS FILE batches, delta inserts). Bounds
# what an import holds at once; the per-batch cost (one executemany, one SQL aggregate) is spread over as many rows.
IMPORT_BATCH_ROWS = 50_000

# Audit: who did it. The examiner's name, from $HASHWARDEN_EXAMINER (the CLI's --examiner sets it); without one,
# audit rows name the OS user followed by this note, so that a reader knows no examiner was configured.
ENV_EXAMINER = "HASHWARDEN_EXAMINER"
OS_USER_NOTE = "OS user; no examiner name configured"

# Scan: the writer commits at least this often, so a killed scan loses at most this much work.
COMMIT_EVERY_ITEMS = 200
COMMIT_EVERY_SECONDS = 2.0
# `hashwarden match`: lines matched per PDQ join (bounds memory, keeps the join's advantage over one-by-one).
MATCH_BATCH_LINES = 100_000

# The service (hashwarden serve, service/). Defaults of its command; the issue-17 contract fixes the batch size.
SERVICE_HOST = "127.0.0.1"  # loopback unless told otherwise: a listening hash service is a deliberate choice
SERVICE_PORT = 8080
MAX_LOOKUP_ITEMS = 10_000  # items per POST /v1/lookup (more: 422)
# vPDQ frames in POST /v1/lookup (more: 422): per item (10 hours of video at `hashwarden hash`'s one frame a
# second), and per request, so that 10,000 video items cannot ask for millions of frames to be matched (100,000
# frames are ~11 MB of JSON). The remote client sends no more in one request.
MAX_LOOKUP_VPDQ_FRAMES = 36_000
MAX_LOOKUP_REQUEST_VPDQ_FRAMES = 100_000
# On SQLite, a lookup of at most this many items is matched on the event loop (a thread hand-off cost more than its
# match and one local read of what matched); a larger one in a worker thread, so the loop keeps answering meanwhile.
INLINE_LOOKUP_ITEMS = 16
# The lean path of POST /v1/lookup (service/fast_lookup.py) answers well-formed lookups of up to this many items
# without FastAPI's routing and pydantic (a 1,000-item batch's model validation was a tenth of its CPU); larger
# ones, and any it is not sure of, go to the route. Above INLINE_LOOKUP_ITEMS it matches in a worker thread too.
LEAN_LOOKUP_ITEMS = 1_000
DESCRIBE_IDS_PER_QUERY = 5_000  # entry ids bound in one query describing matches (SQLite allows 32,766 values)
# Bytes of any request body (more: 413, counted while the body streams in, so a chunked body cannot get round it).
# 10,000 items with their 8 dihedral PDQ forms each are ~7 MB of JSON.
MAX_REQUEST_BYTES = 16 << 20
# Per-key rate limit and slow-client bounds of the service (service/limits.py); `hashwarden serve` options and
# `create_app(limits=...)` override them. The token bucket refills `rate_per_second` requests a second up to
# `burst`; an empty bucket answers 429 with Retry-After. Each service process keeps its own buckets, so with
# --workers N a key gets up to N times the rate (unless a load balancer pins each key to one process).
# `body_timeout_seconds` bounds the reading of one request body (a byte-a-second "slowloris" body gets 408 and
# its connection closed); `keep_alive_seconds` is how long uvicorn holds an idle connection open.
# `index_refresh_seconds`: how often each process asks the store for its index generation and, when it moved,
# switches to the new one (service/index_refresh.py); a lookup sees an import within this plus the build time.
# Failed authentications (401) are limited per client address by a bucket of `failed_auth_burst` refilled at
# `failed_auth_per_second`: each costs a PBKDF2 and a query, and an emptied address gets 429 before either runs.
# The burst is well above a client's honest mistakes; behind a proxy all clients share one address.
ENV_REPO = "HASHWARDEN_REPO"  # how `serve --repo DIR` hands the published repository to each worker (/repo/)
ENV_SERVICE_LIMITS = "HASHWARDEN_SERVICE_LIMITS"  # how `serve` hands its limits to each uvicorn worker (JSON)
# POST /v1/media: the uploaded file's bytes (`max_media_bytes`, `serve --max-media-mb`; more: 413). The upload is
# held in memory only, so this is also its memory bound per upload; the request body may exceed it by the form's
# own bytes (boundaries, part headers) up to MEDIA_FORM_OVERHEAD_BYTES. At most MEDIA_UPLOADS_PER_PROCESS uploads
# are read and hashed at once in one service process (more: 503 with Retry-After), so memory stays bounded.
MAX_MEDIA_BYTES = 200 * 1000 * 1000
MEDIA_FORM_OVERHEAD_BYTES = 64 << 10
MEDIA_UPLOADS_PER_PROCESS = 4
# POST /v1/cases: a scan's report.json, streamed (service/case_stream.py): its own body cap (`max_case_bytes`,
# `serve --max-case-mb`; more: 413), since a national case has millions of items (~170 bytes each). Memory does not
# grow with it: the items are validated and written CASE_BATCH_ITEMS at a time inside one transaction; what is
# held whole is the report's header (every top-level key but `items`), at most MAX_CASE_HEADER_BYTES, and one item
# as it is parsed, at most MAX_CASE_ITEM_BYTES (a file's hashes, path and matches are a few KB; more: 413).
MAX_CASE_BYTES = 4 << 30
MAX_CASE_HEADER_BYTES = 1 << 20
MAX_CASE_ITEM_BYTES = 1 << 20
CASE_BATCH_ITEMS = 5_000
# On SQLite a streamed case's items are staged in a TEMP table until the report is complete (store/cases.py
# CaseWriter), with this page cache (KiB) instead of the store's 256 MiB: one more bounded cache, not two.
CASE_STAGE_CACHE_KIB = 16 << 10
# SQLite's page cache (KiB) while subscribe applies a repository's changes (store.db.page_cache), instead of the
# store's 256 MiB: a 100k-line delta into a 10M-entry set dirties ~700 MB of index pages, which the smaller cache
# spilled and read again (the delta's apply measured 6.7-7.0 s with 256 MiB, 5.3-5.6 s with 1 GiB; 2 GiB no better).
SUBSCRIBE_CACHE_KIB = 1 << 20
# The body-read deadline (limits.BodyLimit) counts only the time the server waits for the client's bytes, and
# grows with what has arrived: `body_timeout_seconds` plus one second per `min_body_bytes_per_second` received.
# A small body must be complete within the timeout; a 4 GiB case over a slow but steady link passes (at 64 KiB/s
# or faster); a client trickling bytes ("slowloris") is cut off (408) once it falls below that rate.
MIN_BODY_BYTES_PER_SECOND = 64 << 10


# The remote client (remote/, `hashwarden remote`): the API key comes from $HASHWARDEN_KEY or a key file, never
# the command line (where `ps` and the shell history would show it). Items per POST /v1/lookup (`--batch`, up to
# MAX_LOOKUP_ITEMS); seconds to connect and to wait for an answer (a 10,000-item PDQ batch on a busy server takes
# a few seconds); a 429 is retried after its Retry-After at most REMOTE_RETRIES times in a row, and a Retry-After
# longer than REMOTE_MAX_RETRY_AFTER_SECONDS is an error at once (a key limited that hard should not hang a job).
ENV_KEY = "HASHWARDEN_KEY"
REMOTE_BATCH_ITEMS = 1_000
REMOTE_CONNECT_TIMEOUT_SECONDS = 10.0
REMOTE_READ_TIMEOUT_SECONDS = 120.0
REMOTE_RETRIES = 5
REMOTE_MAX_RETRY_AFTER_SECONDS = 60
REMOTE_UPLOAD_BLOCK = 1 << 20  # `remote submit` streams report.json from disk in blocks of this


# Signed distribution of hash sets (distribution/, `hashwarden publish` / `subscribe`, TUF): how long each role's
# metadata stays valid. The timestamp is re-signed often (a `publish` with nothing new re-signs it: run it daily),
# so a subscriber cut off from the publisher (a freeze attack) notices within a day; root is signed offline, rarely.
TUF_ROOT_EXPIRY_DAYS = 365
TUF_TARGETS_EXPIRY_DAYS = 30
TUF_SNAPSHOT_EXPIRY_DAYS = 7
TUF_TIMESTAMP_EXPIRY_DAYS = 1
# Deltas kept per set in the repository: a subscriber further behind takes the full snapshot.
TUF_KEPT_DELTAS = 30
# gzip level of published lists: 1-9. 1, not gzip's default 6: the lists are hex hashes, which no level
# compresses much further (measured on a 1M-entry set: 3-5 % larger files, the JSON lines 63.5 MB against 60.0),
# while level 6 took 3-4x the time (19 s against 5.5 s for its four lists): at 10M entries that is minutes of every
# publish, changed or not.
TUF_GZIP_LEVEL = 1


@dataclass(frozen=True)
class Expiries:
    """How long each TUF role's metadata a `publish` signs stays valid, in days (defaults above)."""

    root_days: float = TUF_ROOT_EXPIRY_DAYS
    targets_days: float = TUF_TARGETS_EXPIRY_DAYS
    snapshot_days: float = TUF_SNAPSHOT_EXPIRY_DAYS
    timestamp_days: float = TUF_TIMESTAMP_EXPIRY_DAYS

    def __post_init__(self) -> None:
        if min(self.root_days, self.targets_days, self.snapshot_days, self.timestamp_days) <= 0:
            raise ValueError(f"metadata expiries must be positive: {self}")


# Self-reports (issue 20: web/selfhash/, service/self_reports.py): a young person hashes their own picture in the
# browser and sends only the hashes to POST /v1/self-reports, which needs no key. What bounds it, per service
# process: a client address may send SELF_REPORT_BURST reports at once, refilled at SELF_REPORT_PER_SECOND (one a
# minute), and ask for SELF_REPORT_CHALLENGE_BURST challenges, refilled at SELF_REPORT_CHALLENGE_PER_SECOND (the
# addresses live only in the buckets' memory, never in the store or the access log); each report carries a proof
# of work, a nonce making SHA-256(challenge ":" nonce) start with SELF_REPORT_POW_BITS zero bits (2^18: ~0.4 s of
# a desktop browser, a second or two of a phone; one hash for the server), on a challenge the server signed
# that expires after SELF_REPORT_CHALLENGE_SECONDS and buys one report; the body is at most MAX_SELF_REPORT_BYTES
# and no text field is longer than MAX_SELF_REPORT_FIELD (a body carrying anything like file content is refused).
# A video's vPDQ is at most MAX_SELF_REPORT_VPDQ_FRAMES frames (an hour at one frame a second). An analyst's
# confirmation vote puts the report's hashes in the alert set SELF_REPORT_SET (source "self-report").
SELF_REPORT_PER_SECOND = 1 / 60
SELF_REPORT_BURST = 5
SELF_REPORT_CHALLENGE_PER_SECOND = 0.5
SELF_REPORT_CHALLENGE_BURST = 20
SELF_REPORT_POW_BITS = 18
SELF_REPORT_CHALLENGE_SECONDS = 900
MAX_SELF_REPORT_BYTES = 512 << 10
MAX_SELF_REPORT_FIELD = 4096
MAX_SELF_REPORT_VPDQ_FRAMES = 3600
SELF_REPORT_SET = "self-reports"
# The key that signs the challenges: every worker of one `serve` must share it, so `serve` draws one at start
# and hands it to them here (or a deployment sets it, to keep challenges valid across restarts and machines).
ENV_SELF_REPORT_SECRET = "HASHWARDEN_SELF_REPORT_SECRET"


@dataclass(frozen=True)
class ServiceLimits:
    """The service's per-key rate, slow-client timeouts, upload size, index refresh and how often it purges expired
    cases (defaults: comments above)."""

    rate_per_second: float = 100.0
    burst: int = 200
    body_timeout_seconds: float = 30.0
    keep_alive_seconds: float = 5.0
    index_refresh_seconds: float = 2.0
    max_media_bytes: int = MAX_MEDIA_BYTES
    failed_auth_per_second: float = 10.0
    failed_auth_burst: int = 100
    purge_interval_seconds: float = 3600.0  # expired cases are purged at start and then this often
    header_timeout_seconds: float = 10.0  # a connection's request headers must be complete within this
    max_case_bytes: int = MAX_CASE_BYTES
    min_body_bytes_per_second: float = MIN_BODY_BYTES_PER_SECOND
    self_report_per_second: float = SELF_REPORT_PER_SECOND  # per client address (self-reports need no key)
    self_report_burst: int = SELF_REPORT_BURST
    self_report_pow_bits: int = SELF_REPORT_POW_BITS

    def __post_init__(self) -> None:
        if self.rate_per_second <= 0 or self.burst < 1 or self.body_timeout_seconds <= 0 \
                or self.keep_alive_seconds <= 0 or self.index_refresh_seconds <= 0 or self.max_media_bytes < 1 \
                or self.failed_auth_per_second <= 0 or self.failed_auth_burst < 1 \
                or self.purge_interval_seconds <= 0 or self.header_timeout_seconds <= 0 \
                or self.max_case_bytes < 1 or self.min_body_bytes_per_second <= 0 \
                or self.self_report_per_second <= 0 or self.self_report_burst < 1:
            raise ValueError(f"service limits must be positive: {self}")
        if not 0 <= self.self_report_pow_bits <= 32:
            raise ValueError(f"self_report_pow_bits must be 0 to 32, not {self.self_report_pow_bits}")


# API keys (store/identities.py): PBKDF2-HMAC-SHA256 over a 256-bit random secret, a per-key random salt. The
# secret's entropy is the protection, not the stretching (which guards low-entropy passwords), so the count is
# small: every request pays it. Each stored hash records its own count, so raising this later keeps old keys valid.
API_KEY_PBKDF2_ITERATIONS = 1_000
# Keys a service process remembers having verified (store/identities.py VerifiedKeys), so that a key seen again
# costs no PBKDF2; the revocation check stays the per-request indexed query. Forgotten all at once when full.
API_KEYS_VERIFIED_CACHED = 10_000


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
class Limits:
    """What one top-level file of a source may expand to, nested containers included (evidence/tree.py spends it).

    `max_expanded_bytes` 0 = the larger of EXPANSION_FLOOR and EXPANSION_RATIO x the file's size. A scan sets the
    first two (`--max-expanded-bytes`, `--max-members`); the others are here so that one object says it all."""

    max_expanded_bytes: int = 0
    max_members: int = MAX_MEMBERS
    max_depth: int = MAX_CONTAINER_DEPTH
    max_nested_bytes: int = MAX_NESTED_BYTES
    max_video_bytes: int = MAX_VIDEO_MEMBER_BYTES  # a video in a compressed container is held for FFmpeg up to this

    def bytes_for(self, size: int) -> int:
        """The expanded bytes a top-level file of `size` bytes may reach."""
        return self.max_expanded_bytes or max(EXPANSION_FLOOR, EXPANSION_RATIO * max(size, 0))


@dataclass(frozen=True)
class ScanSettings:
    """What a scan is told: matching thresholds, limits and how to run. The CLI's option defaults are these
    fields' defaults (and a service's will be), so a command and a library call scan alike; tests build their own."""

    pdq_threshold: int = PDQ_MATCH_THRESHOLD
    pdq_min_quality: int = PDQ_MIN_QUALITY
    workers: int = 0  # 0 = one per core
    compute_pdq: bool = True
    max_image_pixels: int = MAX_IMAGE_PIXELS
    carve: bool = False  # carve media from unallocated space of disk images
    verify_ewf: bool = False  # verify E01 images against their stored MD5/SHA-1 (reads each image once more)
    known_filter: bool = True  # files in ignorable sets (NSRL) are reported ignorable and not decoded for PDQ
    verify_after: bool = True  # read the evidence again after the scan for the custody "after" listing
    vpdq_seconds_per_hash: float = VPDQ_QUERY_SECONDS_PER_HASH  # videos: one frame per this many seconds (0 = all)
    # A video is known when >= this % of its unique frames match a known video and >= this % of that video's
    # frames are matched (python-threatexchange's defaults).
    vpdq_query_percent: float = VPDQ_QUERY_MATCH_PERCENT
    vpdq_compared_percent: float = VPDQ_COMPARED_MATCH_PERCENT
    # What one file of a source may expand to: a small crafted archive cannot make a scan run for days.
    limits: Limits = Limits()
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

# The URL list's files (urllist/files.py): hostile input like any list. A line holds one URL with its fields (the
# canonicalizer bounds the URL itself); rows bound a file's memory (derived entries are held until the one
# transaction that adds them all).
MAX_URL_LIST_LINE = 64 * 1024
MAX_URL_LIST_ROWS = 10_000_000

# Squid's external ACL helper on the URL list (urllist/squid.py). A request line holds a channel id, the URL as
# squid sends it (URL-escaped: up to 3 bytes per byte of the URL) and squid's other values; a longer line is
# answered BH and the rest of it skipped, never held. The list is re-read when its version moved, asked at most
# every SQUID_HELPER_REFRESH_SECONDS; when the store cannot be read, the helper keeps answering from the list it
# holds for at most SQUID_HELPER_MAX_STALE_SECONDS, then answers BH (squid's "helper broken") until it can again.
MAX_SQUID_HELPER_LINE = 3 * MAX_URL_BYTES + 1024
SQUID_HELPER_REFRESH_SECONDS = 2.0
SQUID_HELPER_MAX_STALE_SECONDS = 300.0

# The block page (urllist/block_page.py): how `serve` hands a block page configuration (a JSON file's path) to each
# uvicorn worker, and the largest template or configuration file read.
ENV_BLOCK_PAGE = "HASHWARDEN_BLOCK_PAGE"
MAX_BLOCK_PAGE_BYTES = 256 * 1024
