"""7z archives read by 7-Zip itself (Debian's `p7zip-full`, the `7z` command), when it is installed.

Why 7-Zip and not only libarchive: it is the reference for its own format. It decodes what libarchive cannot
(Deflate64, BCJ2, multi-volume `.7z.001` sets given as files), and on damage it recovers what can be recovered:
in a solid block whose end is corrupt, the members before the damage still come out (py7zr's
`data_corrupted.7z`: 2 of 3), where libarchive gives up at the first member. Without `7z`, or for what it cannot
take here (encrypted members, a nested archive too large to hand over), libarchive reads the archive instead.

One pass: `7z l -slt` lists the members (sizes, CRC-32s), then one `7z x -so` writes every member's content to a
pipe in stored order, which is split by the listed sizes while each member is hashed. Every member's CRC-32 is
checked as it streams, so a member that does not come out whole or intact is that member's error ("CRC mismatch",
"7-Zip could not decompress it"), never the wrong bytes under its name; after such a failure the rest are taken one
by one (`7z x -so -- name`, at most `SEVENZIP_MAX_RETRIES`), since the one stream can no longer be trusted to be
aligned.
The archive is handed to 7-Zip by its path, or as an in-memory file (memfd): nothing is written to disk. Both
commands run with a stall limit (`config.CHILD_STALL_SECONDS`) and are killed past it.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from hashwarden.config import (
    CHILD_STALL_SECONDS, SEVENZIP_MAX_HANDOVER_BYTES, SEVENZIP_MAX_LISTED, SEVENZIP_MAX_RETRIES,
)
from hashwarden.errors import EvidenceReadError
from hashwarden.evidence.streams import ReadStream

NO_PASSWORD = "-pnot-a-password"  # hashwarden holds no passwords; without -p 7-Zip would wait for one
_ENV = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


def seven_zip() -> str | None:
    """The `7z` command, or None where it is not installed."""
    return shutil.which("7z")


class NotForSevenZip(Exception):
    """This archive is better read by libarchive (encrypted members, too large to hand over, no `7z`)."""


@dataclass
class _Entry:
    name: str
    size: int
    crc: int | None
    kind: str  # "file" or "link"
    note: str | None = None


def members(container: BinaryIO, display_name: str, path: str | None) -> Iterator[Any]:
    """The members of a 7z archive, each readable while current (archive.Member objects).

    Raises:
        NotForSevenZip: before anything is yielded, when libarchive should read it instead.
        EvidenceReadError: 7-Zip cannot list the archive, or stalled.
    """
    from hashwarden.evidence.archive import Allowance, BombGuard, Member, member_limit

    command = seven_zip()
    if command is None:
        raise NotForSevenZip("7-Zip is not installed")
    with _handover(container, path) as (archive, fds):
        entries = _listing(command, archive, fds, display_name)
        # the ratio cap applies to all members together (their compressed sizes are per block, not per member)
        allowance = Allowance(member_limit(container.seek(0, io.SEEK_END) if path is None else os.path.getsize(path)))
        stream = _Extraction(command, archive, fds, display_name)
        retries = 0
        try:
            for entry in entries:
                raw = entry.name.encode("utf-8", "surrogateescape")
                member = Member(entry.name, raw, entry.size, note=entry.note)
                if stream.failed and entry.size > 0:
                    retries += 1
                    if retries > SEVENZIP_MAX_RETRIES:
                        member.error = f"not read: 7-Zip failed earlier in this archive ({stream.failed})"
                        yield member
                        continue
                    source: BinaryIO = _Extraction(command, archive, fds, display_name, entry.name)
                else:
                    source = stream
                content = _MemberStream(source, entry, stream)
                if entry.kind == "link":
                    target = content.read(4097)
                    member.kind, member.size, member.target = "link", 0, target.decode("utf-8", "backslashreplace")
                else:
                    member.stream = BombGuard(content, allowance)
                yield member
                content.drain()
                if source is not stream:
                    source.close()
        finally:
            stream.close()


@contextmanager
def _handover(container: BinaryIO, path: str | None) -> Iterator[tuple[str, tuple[int, ...]]]:
    """A name 7-Zip can open: the archive's own path, or an in-memory file (memfd) holding a nested one."""
    if path is not None:
        yield path, ()
        return
    size = container.seek(0, io.SEEK_END)
    if size > SEVENZIP_MAX_HANDOVER_BYTES or not hasattr(os, "memfd_create"):
        raise NotForSevenZip("too large to hand over to 7-Zip in memory")
    fd = os.memfd_create("hashwarden-7z", 0)
    try:
        container.seek(0)
        while chunk := container.read(1 << 20):
            os.write(fd, chunk)
        os.lseek(fd, 0, os.SEEK_SET)
        yield f"/proc/self/fd/{fd}", (fd,)
    finally:
        os.close(fd)
        container.seek(0)


def _run(command: list[str], fds: tuple[int, ...]) -> subprocess.Popen:
    # the child opens /proc/self/fd/N: the memfd must keep its number there
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            pass_fds=fds, env=_ENV)


def _pipe(process: subprocess.Popen, stall: float, what: str) -> Any:
    from hashwarden.evidence.isolated import PipeReader

    return PipeReader(process.stdout.fileno(), stall, f"7-Zip made no progress for {stall:.0f} s on {what}: stopped")


def _listing(command: str, archive: str, fds: tuple[int, ...], display_name: str) -> list[_Entry]:

    process = _run([command, "l", "-slt", "-bd", NO_PASSWORD, "--", archive], fds)
    reader = _pipe(process, CHILD_STALL_SECONDS, display_name)
    entries: list[_Entry] = []
    block: dict[str, str] = {}
    seen_separator = False
    try:
        for raw in reader.lines():
            line = raw.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
            if line.startswith("----------"):
                seen_separator = True
                continue
            if not seen_separator:
                continue
            if not line:
                if block:
                    _add(entries, block, display_name)
                    if len(entries) > SEVENZIP_MAX_LISTED:
                        raise NotForSevenZip(f"more than {SEVENZIP_MAX_LISTED:,} members")
                block = {}
                continue
            key, sep, value = line.partition(" = ")
            if sep:
                block[key] = value
        if block:
            _add(entries, block, display_name)
    finally:
        process.kill()
        error = process.stderr.read(4096).decode("utf-8", "replace")
        process.wait()
    if not seen_separator:
        reason = " ".join(error.replace(archive, display_name).split()) or "7-Zip cannot open it"
        if "encrypted" in reason.lower() or "password" in reason.lower():
            raise NotForSevenZip("encrypted headers")
        raise EvidenceReadError(f"7-Zip: {reason}")
    return entries


def _add(entries: list[_Entry], block: dict[str, str], display_name: str) -> None:
    if block.get("Folder") == "+" or block.get("Attributes", "").startswith("D"):
        return
    if block.get("Encrypted") == "+":
        raise NotForSevenZip("encrypted members")
    name, note = block.get("Path", ""), None
    if not name:
        from hashwarden.evidence.archive import unnamed_member_name

        name = unnamed_member_name(display_name)
        note = "stored without a name"
    attributes = block.get("Attributes", "")
    kind = "link" if " l" in attributes or attributes.endswith(" l") else "file"
    crc = block.get("CRC", "")
    entries.append(_Entry(name, int(block.get("Size") or 0), int(crc, 16) if crc else None, kind, note))


class _Extraction:
    """A `7z x -so` of the whole archive (or of one member): its output, read with the stall limit."""

    def __init__(self, command: str, archive: str, fds: tuple[int, ...], what: str, name: str | None = None) -> None:

        names = ["-spd", "--", archive, name] if name is not None else ["--", archive]
        self._process = _run([command, "x", "-so", "-bd", "-y", NO_PASSWORD, *names], fds)
        self._reader = _pipe(self._process, CHILD_STALL_SECONDS, what)
        self.failed: str | None = None

    def read(self, size: int) -> bytes:
        return self._reader.read(size)

    def reason(self) -> str:
        """7-Zip's own words for what went wrong (its last error lines)."""
        self._process.wait()
        text = self._process.stderr.read(1 << 16).decode("utf-8", "replace")
        errors = [line.strip() for line in text.splitlines() if "ERROR" in line or "Error" in line]
        return "; ".join(errors[-3:]) or f"7-Zip exit status {self._process.returncode}"

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._process.stdout.close()
        self._process.stderr.close()


class _MemberStream(ReadStream):
    """Exactly one member's bytes from an extraction, its CRC-32 checked: a short or damaged member raises at its
    end instead of handing over the wrong bytes, and marks the shared stream as no longer trustworthy."""

    def __init__(self, source: Any, entry: _Entry, shared: _Extraction) -> None:
        self._source, self._entry, self._shared = source, entry, shared
        self._left, self._crc, self._done = entry.size, 0, False

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            self._check()
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        chunk = self._source.read(want)
        if not chunk:
            self._fail(f"7-Zip could not decompress it ({self._why()})")
        self._left -= len(chunk)
        self._crc = zlib.crc32(chunk, self._crc)
        return chunk

    def _why(self) -> str:
        return self._source.reason() if isinstance(self._source, _Extraction) else "the stream ended"

    def _check(self) -> None:
        if self._done:
            return
        self._done = True
        if self._entry.crc is not None and self._crc != self._entry.crc:
            self._fail(f"CRC mismatch in member {self._entry.name}: the data is damaged")

    def _fail(self, message: str) -> None:
        self._done = True
        self._left = 0
        if self._shared.failed is None:
            self._shared.failed = message
        raise OSError(5, message)
