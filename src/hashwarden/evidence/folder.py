"""A seized folder (or a single file) as an evidence source.

Seized trees are hostile: names that are not UTF-8, trees 10,000 directories deep (paths far beyond PATH_MAX),
directories of a million files, symlinks pointing anywhere, FIFOs that would block a reader. So the walk is
iterative and descriptor-relative (openat), never follows a symlink, lists special files instead of opening them,
and keeps a bounded number of directory descriptors open, re-opening an ancestor by its names (and checking its
inode) when it needs one back. Files are opened read-only with O_NOATIME where the OS allows, so access times stay.
"""

from __future__ import annotations

import os
import stat
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from hashwarden.config import MAX_OPEN_DIRS
from hashwarden.errors import EvidenceReadError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_NOATIME = getattr(os, "O_NOATIME", 0)
# A path longer than this is opened component by component instead of in one call.
_SHORT_PATH = 3000


def display_name(raw: bytes) -> str:
    """A name as the report shows it: UTF-8, each byte that is not UTF-8 written as a backslash, x and two hex
    digits, and each literal backslash doubled, so two different raw names never show as the same path (a name
    holding the byte E9 and one holding the four characters backslash-x-e-9 differ)."""
    return raw.replace(b"\\", b"\\\\").decode("utf-8", errors="backslashreplace")


@dataclass(frozen=True)
class FolderItem:
    """A regular file in a folder source. `parts` are the raw name bytes below `root` (picklable for workers)."""

    root: bytes
    parts: tuple[bytes, ...]
    size: int
    mtime_ns: int

    @property
    def key(self) -> bytes:
        """The exact relative path bytes: the item's identity in the case database."""
        return b"/".join(self.parts)

    @property
    def path(self) -> str:
        """The report's item path, relative to the source root."""
        return "/".join(display_name(p) for p in self.parts)

    def open(self) -> BinaryIO:
        """Open the file read-only for one sequential pass.

        Raises:
            EvidenceReadError: it vanished, is no longer a regular file, or cannot be read.
        """
        try:
            fd = open_relative(self.root, self.parts)
        except OSError as exc:
            reason = "file vanished during the scan" if exc.errno == 2 else f"cannot open: {exc.strerror or exc}"
            raise EvidenceReadError(reason, location=self.path) from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise EvidenceReadError("no longer a regular file", location=self.path)
            os.set_blocking(fd, True)
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            return os.fdopen(fd, "rb", buffering=0)
        except BaseException:
            os.close(fd)
            raise


@dataclass(frozen=True)
class Skipped:
    """An entry that is not read: a symlink, FIFO, socket, device, or an unreadable directory."""

    key: bytes
    path: str
    reason: str


def open_relative(root: bytes, parts: tuple[bytes, ...]) -> int:
    """Open root/parts... read-only without following a final symlink, however long the path is."""
    full = os.path.join(root, *parts)
    if len(full) < _SHORT_PATH:
        return _open_file(full, None)
    dir_fd = _open_dir(root, None)
    try:
        group: list[bytes] = []
        for part in parts[:-1]:
            group.append(part)
            if sum(len(p) + 1 for p in group) > _SHORT_PATH // 2:
                dir_fd = _step(dir_fd, b"/".join(group))
                group = []
        if group:
            dir_fd = _step(dir_fd, b"/".join(group))
        return _open_file(parts[-1], dir_fd)
    finally:
        os.close(dir_fd)


def _step(dir_fd: int, relative: bytes) -> int:
    try:
        return _open_dir(relative, dir_fd)
    finally:
        os.close(dir_fd)


def _open_file(path: bytes, dir_fd: int | None) -> int:
    return _open_noatime(path, _FILE_FLAGS, dir_fd)


def _open_dir(path: bytes, dir_fd: int | None) -> int:
    """Open a directory read-only, without following a symlink."""
    return _open_noatime(path, _DIR_FLAGS, dir_fd)


def _open_noatime(path: bytes, flags: int, dir_fd: int | None) -> int:
    """os.open with O_NOATIME, so reading leaves access times as they were; without it where refused.

    O_NOATIME is refused (EPERM) on files the process does not own, unless it has CAP_FOWNER.
    """
    try:
        return os.open(path, flags | _NOATIME, dir_fd=dir_fd)
    except PermissionError:
        if not _NOATIME:
            raise
        return os.open(path, flags, dir_fd=dir_fd)


@dataclass
class _Frame:
    parts: tuple[bytes, ...]
    dev_ino: tuple[int, int]
    fd: int | None
    entries: list[tuple[bytes, os.stat_result]] = field(default_factory=list)
    position: int = 0


class FolderSource:
    """Every regular file below `root`, in a stable (byte-sorted, depth-first) order."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fsencode(os.path.abspath(root))
        self.display_root = os.fsdecode(self.root)

    def iter_entries(self) -> Iterator[FolderItem | Skipped]:
        """Yield files as FolderItems and everything else as Skipped.

        Raises:
            EvidenceReadError: the root itself cannot be read.
        """
        try:
            info = os.stat(self.root, follow_symlinks=False)
        except OSError as exc:
            raise EvidenceReadError(f"cannot read source: {exc.strerror}", location=self.display_root) from exc
        if stat.S_ISREG(info.st_mode):
            parent, name = os.path.split(self.root)
            yield FolderItem(parent, (name,), info.st_size, info.st_mtime_ns)
            return
        if not stat.S_ISDIR(info.st_mode):
            raise EvidenceReadError("source is neither a folder nor a regular file", location=self.display_root)
        try:
            root_fd = _open_dir(self.root, None)
        except OSError as exc:
            raise EvidenceReadError(f"cannot open source: {exc.strerror}", location=self.display_root) from exc
        stack = [_Frame((), (info.st_dev, info.st_ino), root_fd, _list(root_fd))]
        self._open: deque[_Frame] = deque([stack[0]])
        try:
            yield from self._walk(stack)
        finally:
            for frame in stack:
                self._release(frame)

    def _walk(self, stack: list[_Frame]) -> Iterator[FolderItem | Skipped]:
        while stack:
            frame = stack[-1]
            if frame.position >= len(frame.entries):
                stack.pop()
                self._release(frame)
                continue
            name, info = frame.entries[frame.position]
            frame.position += 1
            parts = frame.parts + (name,)
            mode = info.st_mode
            if stat.S_ISREG(mode):
                yield FolderItem(self.root, parts, info.st_size, info.st_mtime_ns)
            elif stat.S_ISDIR(mode):
                child = self._enter(stack, name, parts, info)
                if isinstance(child, Skipped):
                    yield child
            else:
                yield Skipped(b"/".join(parts), "/".join(map(display_name, parts)), _kind(mode))

    def _enter(self, stack: list[_Frame], name: bytes, parts: tuple[bytes, ...], info: os.stat_result) -> Skipped | None:
        """Push the directory `name` of the top frame, or say why it cannot be read."""
        try:
            parent_fd = self._descriptor(stack, len(stack) - 1)
            fd = _open_dir(name, parent_fd)
            _check_same(fd, (info.st_dev, info.st_ino))
            entries = _list(fd)
        except OSError as exc:
            return Skipped(b"/".join(parts), "/".join(map(display_name, parts)), f"unreadable directory: {exc.strerror}")
        self._hold(_Frame(parts, (info.st_dev, info.st_ino), fd, entries))
        stack.append(self._open[-1])
        return None

    def _hold(self, frame: _Frame) -> None:
        """Keep `frame`'s descriptor open, closing the oldest held one beyond MAX_OPEN_DIRS."""
        self._open.append(frame)
        if len(self._open) > MAX_OPEN_DIRS:
            oldest = self._open.popleft()
            if oldest.fd is not None:
                os.close(oldest.fd)
                oldest.fd = None

    def _release(self, frame: _Frame) -> None:
        if frame.fd is not None:
            os.close(frame.fd)
            frame.fd = None
            self._open.remove(frame)

    def _descriptor(self, stack: list[_Frame], index: int) -> int:
        """The open descriptor of stack[index], re-opened from the nearest open ancestor if it was closed.

        Only the target keeps its new descriptor; the intermediate ones are closed again at once, so a walk back
        up a 10,000-deep tree never holds more than MAX_OPEN_DIRS + 1 directories open.
        """
        target = stack[index]
        if target.fd is not None:
            return target.fd
        start = index
        while start >= 0 and stack[start].fd is None:
            start -= 1
        if start >= 0:
            fd, owned, first = stack[start].fd, False, start + 1
        else:  # even the root's descriptor was let go: open it again by its path
            fd, owned, first = _open_dir(self.root, None), True, 1
            _check_same(fd, stack[0].dev_ino)
        for position in range(first, index + 1):
            frame = stack[position]
            try:
                child = _open_dir(frame.parts[-1], fd)
            finally:
                if owned:
                    os.close(fd)
            owned = True
            _check_same(child, frame.dev_ino)
            fd = child
        target.fd = fd
        self._hold(target)
        return fd


def _check_same(fd: int, dev_ino: tuple[int, int]) -> None:
    """Refuse a directory that is not the one listed (replaced between listing and re-opening)."""
    info = os.fstat(fd)
    if (info.st_dev, info.st_ino) != dev_ino:
        os.close(fd)
        raise OSError(0, "directory replaced during the scan")


def _list(fd: int) -> list[tuple[bytes, os.stat_result]]:
    """A directory's entries as (raw name, lstat), sorted by name bytes so every walk has the same order."""
    entries = []
    with os.scandir(fd) as listing:
        for entry in listing:
            entries.append((os.fsencode(entry.name), entry.stat(follow_symlinks=False)))
    entries.sort(key=lambda pair: pair[0])
    return entries


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symbolic link (not followed)"
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device file"
    return "special file"
