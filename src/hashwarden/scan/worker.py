"""What a worker process does with one item: open it read-only, read it once, return its signals as a row.

Runs in worker processes, so it takes and returns only picklable values and never touches a database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hashwarden.errors import EvidenceReadError
from hashwarden.evidence import FolderItem, Item
from hashwarden.index.known_filter import KnownFilter
from hashwarden.signals import HashOptions, hash_stream
from hashwarden.signals.hasher import FileSignals
from hashwarden.signals.media import MediaType, extension_mismatch


def hash_item(task: tuple[int, Item, HashOptions]) -> dict[str, Any]:
    """The case-database row of one item (without matches and status, which the writer adds)."""
    source, item, options = task
    row: dict[str, Any] = {
        "source": source, "key": item.key, "path": item.path, "size": max(item.size, 0), "media": "other",
    }
    if not isinstance(item, FolderItem):
        row["extra"] = item.extra
    try:
        with item.open() as fp:
            signals = hash_stream(fp, options, skip_decode=_known_file_check(options.known_filter))
            cut_off = getattr(fp, "cut_off", False)
    except EvidenceReadError as exc:
        row["error"] = str(exc.args[0])
        return row
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
