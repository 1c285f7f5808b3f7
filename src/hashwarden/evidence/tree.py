"""Everything one file of a source holds, in one pass: the file itself, then, if it is a container, its members,
and theirs, in any combination (archives inside disk images, disk images inside archives, archives inside archives
inside disk images), depth first and in stored order.

Why one pass: reopening an archive for each member and decompressing from its start makes time quadratic in the
member count (a 100k-member zip took hours); here every container is read once, and each member is handed to the
consumer (the scan's worker, which hashes it) while it is current. A member that is itself a container is read a
second time only where it can be read in place (a file of a folder or of a disk image: both seekable); a member of a
compressed archive that must be seekable (a nested zip, 7z or disk image, or a video for FFmpeg) is held in memory,
up to `Limits.max_nested_bytes`, never on disk.

Everything under one top-level file shares one budget (`Limits`): expanded bytes and members. A 23 KB zip nested
16 wide and 4 deep would otherwise expand to 16 TiB; the cut is reported as an error of every container it
interrupts, and the scan goes on with the next file.

The walk yields `Node`s and `Leave`s. A node with `container` set is followed, after its members, by a `Leave` for it,
carrying the reason its expansion stopped early, if it did; the consumer records a container's own row then.
Any exception while opening or expanding a container is caught at that container's boundary and becomes its
`Leave.error` (type and message): a defect in one reader costs that container's remaining members, never the scan.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from hashwarden.config import Limits
from hashwarden.errors import EvidenceReadError, describe
from hashwarden.evidence.streams import ReadStream
from hashwarden.evidence.folder import FolderItem, display_name

if TYPE_CHECKING:
    from hashwarden.evidence.layers import Keys

# The readers of containers (archive.py, disk_image.py, layers.py) are imported where a file is examined, not here:
# `hashwarden hash` reads plain files through `Node` and would otherwise load them all at start-up.

log = logging.getLogger(__name__)

class BudgetExhausted(EvidenceReadError):
    """The expansion budget of a top-level file is spent: nothing more under it is read."""


class _Budget:
    def __init__(self, top: str, max_bytes: int, max_members: int) -> None:
        self.top, self.max_bytes, self.max_members = top, max_bytes, max_members
        self.bytes = 0
        self.members = 0

    def message(self) -> str:
        return (f"expansion stopped: the contents of {self.top} reached the limit for one top-level file "
                f"({self.bytes:,} of {self.max_bytes:,} bytes, {self.members:,} of {self.max_members:,} members; "
                "--max-expanded-bytes, --max-members); the rest is not read")

    def add_bytes(self, count: int) -> None:
        self.bytes += count
        if self.bytes > self.max_bytes:
            raise BudgetExhausted(self.message())

    def add_member(self) -> None:
        self.members += 1
        if self.members > self.max_members or self.bytes > self.max_bytes:
            raise BudgetExhausted(self.message())


@dataclass
class Node:
    """One thing to record: a file or member, with a stream to read it (valid until the walk moves on).

    `kind` "file" is hashed; "skipped" (a device or FIFO inside an archive) is listed with `reason`. `error` set:
    it cannot be read (encrypted, unreadable entry), `stream` is None. `note` is for the report.
    `container` says a `Leave` for this node follows its members.
    """

    path: str
    key: bytes
    size: int
    extra: dict[str, Any] = field(default_factory=dict)
    stream: BinaryIO | None = None
    error: str | None = None
    note: str | None = None
    kind: str = "file"
    container: bool = False
    seekable: bool = False
    problem: str | None = None  # read, but not examined completely (a container that was not opened): an error


@dataclass
class Leave:
    """A container's expansion ended; `error` says why early, if it did."""

    node: Node
    error: str | None = None


Event = Node | Leave


class _Counted(ReadStream):
    """A member stream whose bytes count against the top-level budget; bytes already read to see what the member
    is can be put back in front (`unread`). Seekable when the member is (a file in a disk image)."""

    def __init__(self, inner: BinaryIO, budget: _Budget) -> None:
        self._inner, self._budget, self._head = inner, budget, b""

    @property
    def cut_off(self) -> bool:
        return bool(getattr(self._inner, "cut_off", False))

    def unread(self, data: bytes) -> None:
        self._head = data + self._head

    def seekable(self) -> bool:
        return bool(getattr(self._inner, "seekable", lambda: False)())

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._head = b""
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell() - len(self._head)

    def read(self, size: int = -1) -> bytes:
        if self._head:
            want = len(self._head) if size is None or size < 0 else size
            chunk, self._head = self._head[:want], self._head[want:]
            return chunk
        chunk = self._inner.read(size)
        self._budget.add_bytes(len(chunk))
        return chunk


class _Held(io.BytesIO):
    """A member held in memory so it can be read twice (as a file, then as a container or a video)."""

    cut_off = False


def container_kind(head: bytes, name: str, carve: bool) -> tuple[str, str] | None:
    """("archive", format) or ("disk", kind) for content starting with `head`, or None: a plain file."""
    from hashwarden.evidence.archive import archive_format
    from hashwarden.evidence.disk_image import RAW_IMAGE_SUFFIXES, image_kind
    from hashwarden.evidence.layers import layer_kind

    fmt = archive_format(head)
    if fmt:
        return "archive", fmt
    layer = layer_kind(head)  # virtual disks and encrypted volumes: signatures of their own, checked first
    if layer:
        return "disk", layer
    kind = image_kind(head, name)
    if kind:
        return "disk", kind
    if carve and name.lower().endswith(RAW_IMAGE_SUFFIXES):
        return "disk", "raw-carve"  # named as a raw image but with nothing to recognise: carved as a whole
    return None


def _container_of(node: Node, head: bytes, carve: bool) -> tuple[str, str] | None:
    """What `container_kind` says, except for an EWF segment after the first: that one is read only through its
    first segment (libewf finds the others beside it), never on its own, else an E01+E02 set is listed twice."""
    from hashwarden.evidence.disk_image import ewf_segment

    segment = ewf_segment(head)
    if segment is not None and segment > 1:
        node.note = f"segment {segment} of an EWF image: read only through its first segment (.E01)"
        return None
    return container_kind(head, node.path, carve)


def _as_link(node: Node, target: str | None) -> Node:
    """A symbolic or hard link, in an archive or a file system: its target, no content of its own."""
    node.extra["link"] = target
    node.note = node.note or (f"link to {target}: no content of its own, not read" if target is not None
                              else "link: no content of its own, not read")
    return node


def walk(item: FolderItem, limits: Limits = Limits(), wants_seek: Callable[[bytes], bool] = lambda head: False,
         *, carve: bool = False, key_file: str | None = None) -> Iterator[Event]:
    """The events of one file of a folder source: its node first, then (if a container) its members and a Leave.

    `wants_seek(head)` says which members the consumer will want to read twice (videos, for FFmpeg): those are
    held in memory (bounded) when their container cannot be read in place. `carve`: media are also carved from
    the unallocated space of disk images; `key_file`: passwords and recovery keys for encrypted volumes
    (evidence/layers.py, Keys).
    """
    from hashwarden.evidence.archive import HEAD_BYTES

    top = Node(item.path, item.key, item.size, seekable=True)
    try:
        fp = item.open()
    except EvidenceReadError as exc:
        top.error = str(exc.args[0])
        yield top
        return
    with fp:
        try:
            head = read_up_to(fp, HEAD_BYTES)
            fp.seek(0)
        except OSError as exc:
            top.error = f"read failed: {exc.strerror or exc}"
            yield top
            return
        container = _container_of(top, head, carve)
        top.stream = fp
        top.container = container is not None
        yield top
        if container is None:
            return
        budget = _Budget(item.path, limits.bytes_for(item.size), limits.max_members)
        walker = _Walker(limits, budget, wants_seek, _keys(key_file), carve)
        try:
            fp.seek(0)
            yield from walker.expand(top, fp, container, by_path=True, depth=1, chain=(item.path,), outer=item)
        except BudgetExhausted as exc:
            yield Leave(top, str(exc))


_KEYS: dict[str, Keys] = {}  # per process: the key file is read once


def _keys(path: str | None) -> Keys | None:
    if path is None:
        return None
    if path not in _KEYS:
        from hashwarden.evidence.layers import Keys

        _KEYS[path] = Keys.read(path)
    return _KEYS[path]


class _Walker:
    def __init__(self, limits: Limits, budget: _Budget, wants_seek: Callable[[bytes], bool],
                 keys: Keys | None, carve: bool) -> None:
        self.limits, self.budget, self.wants_seek, self.keys, self.carve = limits, budget, wants_seek, keys, carve

    def expand(self, node: Node, fp: BinaryIO, container: tuple[str, str], *, by_path: bool, depth: int,
               chain: tuple[str, ...], outer: Any) -> Iterator[Event]:
        """The members of `node` (a container whose content `fp` reads, seekable), then its Leave."""
        error = None
        try:
            if container[0] == "archive":
                path = os.fsdecode(os.path.join(outer.root, *outer.parts)) if by_path else None
                yield from self._archive(node, fp, container[1], depth, chain, path)
            else:
                yield from self._disk(node, fp, container[1], by_path, depth, chain, outer)
        except BudgetExhausted as exc:
            yield Leave(node, str(exc))
            raise
        except Exception as exc:  # noqa: BLE001 - the container boundary: any reader defect stops only this container
            log.debug("expanding %s failed", node.path, exc_info=True)
            error = describe(exc)
        yield Leave(node, error)

    def _archive(self, node: Node, fp: BinaryIO, fmt: str, depth: int, chain: tuple[str, ...],
                 path: str | None) -> Iterator[Event]:
        from hashwarden.evidence.archive import iter_members

        seen: dict[bytes, int] = {}
        for member in iter_members(fp, fmt, node.path, path):
            self.budget.add_member()
            child = Node(node.path + "!/" + display_name(member.raw_name), node.key + b"!/" + member.raw_name,
                         member.size, {"container": list(chain)}, note=member.note)
            repeat = seen[member.raw_name] = seen.get(member.raw_name, 0) + 1
            if repeat > 1:  # a name stored twice (tar appends, crafted zips): both are evidence, neither hides
                child.key += b"\0#%d" % repeat
                child.note = "; ".join(filter(None, [child.note, f"member {repeat} of the archive with this name"]))
            if member.kind == "special":
                child.kind, child.note = "skipped", f"{member.target}: not read"
                yield child
            elif member.kind == "link":
                yield _as_link(child, member.target)
            elif member.error or member.stream is None:
                child.error = member.error or "cannot be read"
                yield child
            else:
                yield from self._visit(child, member.stream, False, depth, chain)

    def _disk(self, node: Node, fp: BinaryIO, kind: str, by_path: bool, depth: int, chain: tuple[str, ...],
              outer: Any) -> Iterator[Event]:
        from hashwarden.evidence.disk_image import expand_disk

        carve_only = kind == "raw-carve"
        kind = "raw" if carve_only else kind
        files = expand_disk(outer if by_path else node, kind, carve_media=self.carve or carve_only,
                            expect_file_system=not carve_only, source=None if by_path else fp, keys=self.keys)
        prefix = len(outer.path if by_path else node.path)
        for found in files:
            self.budget.add_member()
            inner = found.path[prefix:]
            child = Node(node.path + display_name(inner.encode("utf-8", "surrogateescape")),
                         node.key + inner.encode("utf-8", "surrogateescape") + found.key[len(found.path.encode(
                             "utf-8", "surrogateescape")):],
                         max(found.size, 0), {**found.extra, "container": list(chain)})
            child.note = child.extra.pop("note", None)
            link = getattr(found, "link", None)
            if link is not None:
                yield _as_link(child, link)
                continue
            if getattr(found, "error", None):
                child.error = found.error
                yield child
                continue
            try:
                stream = found.open()
            except EvidenceReadError as exc:
                child.error = str(exc.args[0])
                yield child
                continue
            yield from self._visit(child, stream, True, depth, chain)

    def _visit(self, node: Node, stream: BinaryIO, seekable: bool, depth: int, chain: tuple[str, ...]
               ) -> Iterator[Event]:
        """One member: see what it is, hand it to the consumer, and open it if it is a container."""
        from hashwarden.evidence.archive import HEAD_BYTES

        counted = _Counted(stream, self.budget)
        try:
            seekable = seekable and bool(getattr(stream, "seekable", lambda: False)())
            head = read_up_to(counted, HEAD_BYTES)
            container = self._what_is(node, head, depth)
            if seekable:
                counted.seek(0)
                node.stream, node.seekable = counted, True
            elif container or self.wants_seek(head):
                held = self._hold(head, counted, node)
                if held is None:
                    container = None
                    node.stream = counted
                else:
                    node.stream, node.seekable = held, True
            else:
                counted.unread(head)
                node.stream = counted
        except BudgetExhausted:
            raise
        except Exception as exc:  # noqa: BLE001 - a member that cannot even be started is that member's error
            node.error, node.stream = f"read failed: {describe(exc)}", None
            yield node
            return
        node.container = container is not None
        yield node
        if container is None:
            return
        node.stream.seek(0)
        yield from self.expand(node, node.stream, container, by_path=False, depth=depth + 1,
                               chain=chain + (node.path,), outer=node)

    def _what_is(self, node: Node, head: bytes, depth: int) -> tuple[str, str] | None:
        """The container a member is, if it is one that may be opened here (with a note when it may not)."""
        container = _container_of(node, head, False)
        if container and depth >= self.limits.max_depth:
            node.problem = f"containers nested deeper than {self.limits.max_depth}: not opened"
            container = None
        return container

    def _hold(self, head: bytes, counted: _Counted, node: Node) -> _Held | None:
        """The member in memory, or None (with a note, and what was read put back) when it is larger than may be
        held: then it is hashed as a stream and neither opened nor decoded."""
        container = container_kind(head, node.path, False) is not None
        limit = self.limits.max_nested_bytes if container else self.limits.max_video_bytes
        data = head + read_up_to(counted, limit + 1 - len(head))
        if len(data) > limit:
            message = f"larger than {limit:,} bytes inside a compressed container: hashed, not opened"
            if container:
                node.problem = message
            else:
                node.note = message.replace("not opened", "not decoded")
            counted.unread(data)
            return None
        held = _Held(data)
        held.cut_off = counted.cut_off
        return held


def read_up_to(stream: BinaryIO, size: int) -> bytes:
    """`size` bytes, or fewer only at the end of the stream (a raw stream may return less per call)."""
    parts, left = [], size
    while left > 0:
        chunk = stream.read(min(left, 1 << 24))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


__all__ = ["Leave", "Node", "BudgetExhausted", "container_kind", "walk"]
