"""What a worker process does with one file of a source: read it and everything it holds in one pass, and return
each item's signals as a row.

Runs in worker processes, so it takes and returns only picklable values and never touches a database. The item is
the unit of failure: any exception while reading, expanding or decoding one item becomes that item's `error`
(type and one-line message; the traceback goes to the debug log), and the work goes on with the next item.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from hashwarden.errors import EvidenceReadError, describe
from hashwarden.evidence import FolderItem, FolderSource
from hashwarden.config import ScanSettings
from hashwarden.evidence.tree import Leave, Node, walk
from hashwarden.leads.metadata import Metadata, read_image, read_video, report_fields
from hashwarden.scan.parallel import WorkerPool
from hashwarden.signals import HashOptions, hash_stream
from hashwarden.signals.hasher import FileSignals
from hashwarden.signals.media import MediaType, extension_mismatch, sniff

if TYPE_CHECKING:  # NumPy (the filter) and PyAV (videos) are loaded when a scan needs them, not at start-up
    from hashwarden.index.known_filter import KnownFilter
log = logging.getLogger(__name__)

# What a scan task yields: ("item", row) for a report item, ("skipped", (key, path, reason)) for an entry not read.
Message = tuple[str, Any]


def scan_file(task: tuple[int, FolderItem, HashOptions, ScanSettings]) -> Iterator[Message]:
    """The rows of one file of a source and of everything inside it, expanded within the settings' limits. A
    container's own row comes after its members' rows, so a recorded container row means its whole subtree was
    recorded (what `--resume` relies on)."""
    source, item, options, settings = task
    if options.compute_pdq:
        _keep_pixel_memory()
    known_file = _known_file_check(options.known_filter)
    pending: dict[bytes, dict[str, Any]] = {}  # containers' rows, held until everything inside them is out
    top_hashed = False  # the file's own row exists: yielded, or in `pending`
    wants_seek = _wants_seek(options)
    try:
        for event in walk(item, settings.limits, wants_seek, carve=settings.carve, key_file=settings.key_file):
            if isinstance(event, Leave):
                row = pending[event.node.key]
                if event.error:
                    _add_error(row, event.error)
                yield "item", row
                del pending[event.node.key]
            elif event.kind == "skipped":
                yield "skipped", (event.key, event.path, event.note or "not read")
            else:
                row = hash_node(source, event, options, known_file)
                top_hashed = top_hashed or event.key == item.key
                if event.container:
                    pending[event.key] = row
                else:
                    yield "item", row
    except Exception as exc:  # noqa: BLE001 - the item boundary: a defect anywhere costs this file's rest, not the scan
        log.debug("scanning %s failed", item.path, exc_info=True)
        reason = f"not fully read: {describe(exc)}"
        for row in pending.values():
            _add_error(row, reason)
            yield "item", row
        if not top_hashed:
            yield "item", {"source": source, "key": item.key, "path": item.path, "size": max(item.size, 0),
                           "media": "other", "error": reason}


def hash_item(task: tuple[int, FolderItem, HashOptions]) -> dict[str, Any]:
    """The case-database row of one file on its own (not what it contains): `hashwarden hash` and tests."""
    source, item, options = task
    node = Node(item.path, item.key, item.size, seekable=True)
    try:
        node.stream = item.open()
    except EvidenceReadError as exc:
        node.error = str(exc.args[0])
    with node.stream or contextlib.nullcontext():
        return hash_node(source, node, options, _known_file_check(options.known_filter))


def hash_node(source: int, node: Node, options: HashOptions,
              known_file: Callable[[FileSignals], str | None] | None) -> dict[str, Any]:
    """The row of one node (without matches and status, which the writer adds). Never raises."""
    row: dict[str, Any] = {"source": source, "key": node.key, "path": node.path, "size": max(node.size, 0),
                           "media": "other"}
    if node.extra:
        row["extra"] = dict(node.extra)
    notes = [node.note] if node.note else []
    if node.error or node.stream is None:
        row["error"] = node.error
        row["note"] = "; ".join(notes) or None
        return row
    found: list[Metadata] = []  # the file's tags, read where the image or video is open anyway
    try:
        signals = hash_stream(node.stream, options, skip_decode=known_file,
                              inspect_image=lambda image: found.append(read_image(image)))
        cut_off = bool(getattr(node.stream, "cut_off", False))
        if signals.media == "video" and options.compute_pdq and signals.error is None and not cut_off:
            found.extend(_add_vpdq(row, node, signals, options, known_file))
    except Exception as exc:  # noqa: BLE001 - one item's failure, whatever raised it, is that item's error
        log.debug("hashing %s failed", node.path, exc_info=True)
        row["error"] = f"read failed: {describe(exc)}"
        row["note"] = "; ".join(notes) or None
        return row
    notes.extend(signals.notes)
    mismatch = extension_mismatch(node.path.rsplit("/", 1)[-1], MediaType(signals.media, signals.format))
    if mismatch:
        notes.append(mismatch)
    if signals.error is None and signals.size == 0:
        notes.append("empty file")
    problems = [node.problem] if node.problem else []
    if signals.error is None and node.size >= 0 and signals.size != node.size and not cut_off:
        if "container" in node.extra:  # the container's own directory disagrees with its data: damaged or forged
            problems.append(f"declared size {node.size:,} bytes, but {signals.size:,} bytes were read")
        else:
            notes.append(f"size changed during the scan: listed {node.size:,} bytes, read {signals.size:,}")
    row.update(
        size=signals.size, md5=signals.md5, sha1=signals.sha1, sha256=signals.sha256,
        media=signals.media, format=signals.format, pdq=signals.pdq, pdq_quality=signals.pdq_quality,
        pdq_dihedral=list(signals.pdq_dihedral) if signals.pdq_dihedral else None,
        error="; ".join(filter(None, [signals.error, *problems])) or None, note="; ".join(notes) or None,
    )
    if cut_off:  # a decompression bomb: what was read is not the member, so its digests identify nothing
        row.update(md5=None, sha1=None, sha256=None, pdq=None, pdq_quality=None, pdq_dihedral=None,
                   error=f"expansion stopped after {signals.size:,} bytes: possible decompression bomb")
    else:
        _add_metadata(row, found)
    return row


def _add_metadata(row: dict[str, Any], found: list[Metadata]) -> None:
    """`extra["metadata"]` (report.json's `metadata`) when the file states any; a reader's failure is a note, not an
    error: the item's hashes and verdict do not depend on its tags."""
    for metadata in found:
        fields = report_fields(metadata.fields)
        if fields:
            row["extra"] = {**(row.get("extra") or {}), "metadata": fields}
        if metadata.problem:
            row["note"] = "; ".join(filter(None, [row.get("note"), f"metadata: {metadata.problem}"]))


def _add_error(row: dict[str, Any], error: str) -> None:
    row["error"] = f"{row['error']}; {error}" if row.get("error") else error


def _wants_seek(options: HashOptions) -> Callable[[bytes], bool]:
    """Members the worker reads twice: videos (FFmpeg seeks), when vPDQ is computed."""
    if not options.compute_pdq:
        return lambda head: False
    return lambda head: sniff(head[:512]).media == "video"


def _add_vpdq(row: dict[str, Any], node: Node, signals: FileSignals, options: HashOptions,
              known_file: Callable[[FileSignals], str | None] | None) -> list[Metadata]:
    """A video's vPDQ: a second, decoding read of the same stream (FFmpeg seeks), after the one digest read. A video
    inside a compressed container was held in memory (bounded) for this, never copied to disk.
    `row["vpdq"]` holds the frames (for matching and `hashwarden hash`), `extra["vpdq"]` what the report shows;
    the container's tags are returned as the video's metadata."""
    reason = known_file(signals) if known_file else None
    if reason:
        signals.notes.append(reason.replace("for PDQ", "for vPDQ"))
        return []
    if not node.seekable:  # too large to hold in memory (the walker's note says so): digests only
        return []
    from hashwarden.signals.vpdq import hash_video

    try:
        node.stream.seek(0)
        video = hash_video(node.stream, seconds_per_hash=options.vpdq_seconds_per_hash, name=node.path,
                           max_pixels=options.max_image_pixels, threads=1)
    except EvidenceReadError as exc:
        signals.error = f"{signals.format or 'video'}: {exc.args[0]}"
        return []
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
    return [read_video(video.tags)]


_FILTERS: dict[str, KnownFilter] = {}  # per worker process: mapped once, shared pages with the other workers


def _known_file_check(directory: str | None) -> Callable[[FileSignals], str | None] | None:
    """The check that spares a known file (NSRL, known-good lists) its PDQ decoding."""
    if directory is None:
        return None
    known = _FILTERS.get(directory)
    if known is None:
        from hashwarden.index.known_filter import KnownFilter

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


def worker_pool(workers: int, sources: Sequence[str]) -> WorkerPool | None:
    """The scan's worker processes, started now with their image readers loaded (`_warm_up`), so that their
    start-up runs beside the writer's opening of the store: one per file up to `workers`, and None for one worker
    or one file (hashing then runs in the writer's process, as `parallel_stream` would). Leave it with `close`,
    or as a `with` block."""
    count = min(workers, _files_up_to(sources, workers))
    return WorkerPool(count, warm=_warm_up) if count > 1 else None


def _files_up_to(sources: Sequence[str], limit: int, look_at: int = 10_000) -> int:
    """How many files the scan would read in `sources`, counted up to `limit` by its own walk (read-only, access
    times kept), stopped there or after `look_at` entries (a tree of empty folders: then `limit`)."""
    found = seen = 0
    for source in sources:
        try:
            for entry in FolderSource(source).iter_entries():
                seen += 1
                found += isinstance(entry, FolderItem)
                if found >= limit or seen >= look_at:
                    return limit
        except EvidenceReadError:
            continue  # the scan records the unreadable source; it hashes nothing in it
    return found


@cache
def _keep_pixel_memory() -> None:
    """Once in a process that hashes a scan's files (a worker, or the command itself with one worker): keep freed
    memory for the next image, Pillow's (`image.keep_pixel_memory`) and the C library's (`_keep_heap_memory`)."""
    from hashwarden.signals.image import keep_pixel_memory

    keep_pixel_memory()
    _keep_heap_memory()


# glibc's mallopt parameters (malloc.h) and what a scan's hashing process sets them to.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_KEPT_BYTES = 256 << 20  # free memory at the top of the heap kept for reuse instead of given back
_HEAP_MMAP_BYTES = 32 << 20  # allocations up to this size from the heap (glibc's largest allowed threshold)


def _keep_heap_memory() -> None:
    """Let glibc keep freed memory for reuse: file contents, decoders' buffers (WebP decodes into its own) and
    NumPy's arrays are allocated and freed once per file, and by default a large one (above a threshold that starts
    at 128 KiB and adapts up to 32 MiB) is mapped anew and unmapped when freed, and free memory at the heap's top
    beyond twice that threshold is given back, so the pages fault and are zeroed by the kernel again for the next
    file. Other C libraries are left alone (no mallopt): nothing is wrong there, only slower."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own symbols: the C library it runs on
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, _HEAP_MMAP_BYTES)
    mallopt(_M_TRIM_THRESHOLD, _HEAP_KEPT_BYTES)


def _warm_up() -> None:
    """What a worker loads before its first photo (Pillow with its common formats' plugins, the PDQ engine's
    pixel access), while it still waits for work."""
    from PIL import Image

    from hashwarden.signals import image  # noqa: F401 - the import is the warm-up

    Image.preinit()
    _keep_pixel_memory()
