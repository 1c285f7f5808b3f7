"""`hashwarden hash`: the signals of files and folders as JSON-lines records, without a case or a database."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from typing import Any

from hashwarden.config import VPDQ_QUERY_SECONDS_PER_HASH, VPDQ_SET_SECONDS_PER_HASH
from hashwarden.errors import EvidenceReadError
from hashwarden.evidence import FolderItem, FolderSource, Skipped
from hashwarden.evidence.tree import Node
from hashwarden.scan.parallel import parallel_map
from hashwarden.scan.worker import hash_item, hash_node
from hashwarden.signals import HashOptions

RECORD_FIELDS = ("path", "size", "md5", "sha1", "sha256", "media", "pdq", "pdq_quality")


def hash_paths(
    paths: list[str], *, dihedral: bool = False, workers: int = 1, warn: Callable[[str], Any] = print,
    seconds_per_hash: float = VPDQ_QUERY_SECONDS_PER_HASH, progress: Any = None,
) -> Iterator[dict[str, Any]]:
    """One record per regular file under `paths`, in walk order. A failed file gets `error` and what it could compute;
    a video gets `vpdq` (its sampled frames, one per `seconds_per_hash`; `hash_for_set` for a hash set).
    `progress` (the scan's Progress protocol) is told the bytes to read, then each file's as it is done."""
    options = HashOptions(dihedral=dihedral, vpdq_seconds_per_hash=seconds_per_hash)
    tasks: list[tuple[int, FolderItem, HashOptions]] = []
    shown: list[str] = []
    for given in paths:
        is_dir = os.path.isdir(given)
        try:
            for entry in FolderSource(given).iter_entries():
                label = os.path.join(given, entry.path) if is_dir else given
                if isinstance(entry, Skipped):
                    warn(f"skipped {label}: {entry.reason}")
                    continue
                tasks.append((len(shown), entry, options))
                shown.append(label)
        except EvidenceReadError as exc:
            warn(f"EvidenceReadError: {exc}")
    if progress:
        progress.phase("hashing (bytes)", sum(max(task[1].size, 0) for task in tasks))
    for row in parallel_map(hash_item, tasks, workers, ordered=True):
        if progress:
            progress.advance(max(tasks[row["source"]][1].size, 0))
        yield _record(row, shown[row["source"]], dihedral)


def hash_bytes(data: bytes, name: str, *, dihedral: bool = False,
               seconds_per_hash: float = VPDQ_QUERY_SECONDS_PER_HASH) -> dict[str, Any]:
    """The record `hash_paths` gives for a file holding `data`, computed from memory: the service's uploads are
    hashed without a byte reaching a disk. The same `hash_node` as a file's (digests, sniffing, PDQ with the image
    limits, vPDQ through FFmpeg reading the in-memory stream), so a file and its upload get the same hashes.
    `name` (a label: the upload's file name) is the record's path and is checked against the content's type."""
    options = HashOptions(dihedral=dihedral, vpdq_seconds_per_hash=seconds_per_hash)
    node = Node(name, b"", len(data), stream=io.BytesIO(data), seekable=True)  # BytesIO shares `data`: no copy
    return _record(hash_node(0, node, options, None), name, dihedral)


def _record(row: dict[str, Any], path: str, dihedral: bool) -> dict[str, Any]:
    """A worker's row as `hashwarden hash` prints it."""
    record = {name: row.get(name) for name in RECORD_FIELDS}
    record["path"] = path
    if dihedral:
        record["pdq_dihedral"] = row.get("pdq_dihedral")
    if row.get("vpdq") is not None:
        record["vpdq"] = row["vpdq"]
    if row.get("error"):
        record["error"] = row["error"]
    return record


def hash_for_set(
    paths: list[str], *, dihedral: bool = False, workers: int = 1, warn: Callable[[str], Any] = print,
    seconds_per_hash: float | None = None, progress: Any = None,
) -> Iterator[dict[str, Any]]:
    """Records meant for `import hashes` into a hash set: as `hash_paths`, with videos hashed at the set-building
    rate (`VPDQ_SET_SECONDS_PER_HASH`, every frame) unless `seconds_per_hash` is given.

    Why a rate of its own: a scan samples a seized video at the query rate (1/s) from wherever that copy starts;
    only a known video hashed at every frame is sure to hold a frame near each sampled one (bench/vpdq_trim.py).
    Images need nothing more: a set stores one PDQ per image and the scan's query brings the 8 dihedral forms.
    """
    rate = VPDQ_SET_SECONDS_PER_HASH if seconds_per_hash is None else seconds_per_hash
    return hash_paths(paths, dihedral=dihedral, workers=workers, warn=warn, seconds_per_hash=rate, progress=progress)
