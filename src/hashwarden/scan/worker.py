"""What a worker process does with one item: open it read-only, read it once, return its signals as a row.

Runs in worker processes, so it takes and returns only picklable values and never touches a database.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from hashwarden.config import MAX_VIDEO_MEMBER_BYTES
from hashwarden.errors import EvidenceReadError
from hashwarden.evidence import FolderItem, Item
from hashwarden.index.known_filter import KnownFilter
from hashwarden.signals import HashOptions, hash_stream
from hashwarden.signals.hasher import FileSignals
from hashwarden.signals.media import MediaType, extension_mismatch
from hashwarden.signals.vpdq import hash_video


def hash_item(task: tuple[int, Item, HashOptions]) -> dict[str, Any]:
    """The case-database row of one item (without matches and status, which the writer adds)."""
    source, item, options = task
    row: dict[str, Any] = {
        "source": source, "key": item.key, "path": item.path, "size": max(item.size, 0), "media": "other",
    }
    if not isinstance(item, FolderItem):
        row["extra"] = item.extra
    known_file = _known_file_check(options.known_filter)
    try:
        with item.open() as fp:
            signals = hash_stream(fp, options, skip_decode=known_file)
            cut_off = getattr(fp, "cut_off", False)
    except EvidenceReadError as exc:
        row["error"] = str(exc.args[0])
        return row
    if signals.media == "video" and options.compute_pdq and signals.error is None and not cut_off:
        _add_vpdq(row, item, signals, options, known_file)
    notes = list(signals.notes)
    mismatch = extension_mismatch(item.path.rsplit("/", 1)[-1], MediaType(signals.media, signals.format))
    if mismatch:
        notes.append(mismatch)
    if signals.error is None and signals.size == 0:
        notes.append("empty file")
    if signals.error is None and item.size >= 0 and signals.size != item.size and not cut_off:
        notes.append(f"size changed during the scan: listed {item.size:,} bytes, read {signals.size:,}")
    row.update(
        size=signals.size, md5=signals.md5, sha1=signals.sha1, sha256=signals.sha256,
        media=signals.media, format=signals.format, pdq=signals.pdq, pdq_quality=signals.pdq_quality,
        pdq_dihedral=list(signals.pdq_dihedral) if signals.pdq_dihedral else None,
        error=signals.error, note="; ".join(notes) or None,
    )
    if cut_off:  # a decompression bomb: what was read is not the member, so its digests identify nothing
        row.update(md5=None, sha1=None, sha256=None, pdq=None, pdq_quality=None, pdq_dihedral=None,
                   error=f"expansion stopped after {signals.size:,} bytes: possible decompression bomb")
    return row


def _add_vpdq(row: dict[str, Any], item: Item, signals: FileSignals, options: HashOptions,
              known_file: Callable[[FileSignals], str | None] | None) -> None:
    """A video's vPDQ: a second, decoding read (FFmpeg seeks in the container), after the one digest read; a video
    inside an archive or disk image is decoded from memory (bounded), never from a copy on disk.
    `row["vpdq"]` holds the frames (for matching and `hashwarden hash`), `extra["vpdq"]` what the report shows."""
    reason = known_file(signals) if known_file else None
    if reason:
        signals.notes.append(reason.replace("for PDQ", "for vPDQ"))
        return
    try:
        with item.open() as fp:
            if not isinstance(item, FolderItem):  # a member stream: FFmpeg needs to seek, so from memory
                data = fp.read(MAX_VIDEO_MEMBER_BYTES + 1)
                if len(data) > MAX_VIDEO_MEMBER_BYTES:
                    signals.notes.append(f"video inside a container larger than {MAX_VIDEO_MEMBER_BYTES:,} bytes: "
                                         "not decoded for vPDQ")
                    return
                fp = io.BytesIO(data)
            video = hash_video(fp, seconds_per_hash=options.vpdq_seconds_per_hash, name=item.path,
                               max_pixels=options.max_image_pixels, threads=1)
    except EvidenceReadError as exc:
        signals.error = f"{signals.format or 'video'}: {exc.args[0]}"
        return
    row["vpdq"] = [frame.to_json() for frame in video.frames]
    summary = {"frames": len(video.frames), "decoded": video.decoded, "fps": round(video.fps, 3)}
    if video.rotation:
        summary["rotation"] = video.rotation
    if video.gaps:
        summary["gaps"] = video.gaps
        signals.notes.append(f"video: {sum(g['packets'] for g in video.gaps)} undecodable packets skipped")
    if video.note:
        signals.notes.append(f"video: {video.note}")
    row["extra"] = {**(row.get("extra") or {}), "vpdq": summary}


_FILTERS: dict[str, KnownFilter] = {}  # per worker process: mapped once, shared pages with the other workers


def _known_file_check(directory: str | None) -> Callable[[FileSignals], str | None] | None:
    """The check that spares a known file (NSRL, known-good lists) its PDQ decoding."""
    if directory is None:
        return None
    known = _FILTERS.get(directory)
    if known is None:
        known = _FILTERS[directory] = KnownFilter.open(directory)

    def check(signals: FileSignals) -> str | None:
        for name in ("sha1", "md5", "sha256"):
            value = getattr(signals, name)
            if value and known.lookup(name, bytes.fromhex(value)):
                return f"known file ({name} in an ignorable set): not decoded for PDQ"
        return None

    return check


def sha256_item(task: tuple[int, FolderItem]) -> tuple[int, bytes, int | None, str | None]:
    """(source, key, size, sha256) of an item read again after the scan: the custody 'after' listing."""
    source, item = task
    try:
        with item.open() as fp:
            signals = hash_stream(fp, HashOptions(compute_pdq=False, digests=("sha256",)))
    except EvidenceReadError:
        return source, item.key, None, None
    return source, item.key, signals.size, signals.sha256
