"""Archives as evidence containers, read in one pass in stored order, in place: nothing is ever extracted to disk.

Which reader reads what:
- zip (incl. zip64): Python's `zipfile` (one central directory parse per archive; members opened in order), and our
  own walk over local file headers when the central directory is damaged or missing (carved, truncated zips);
- tar, plain or compressed with gzip/bzip2/xz/zstd: `tarfile` in stream mode over the decompressing stream, so a
  solid .tar.gz is decompressed once, whatever its member count;
- single gzip/bzip2/xz/zstd streams: one member, the decompressed content;
- 7z, RAR 4/5, CAB, cpio, XAR, LHA, ar (.deb), ISO 9660 images, .Z (compress) and raw LZMA: libarchive (Debian's
  `libarchive13` through the `libarchive-c` binding), which streams each member in order (solid 7z blocks are
  decompressed once) and reports damage and encryption per member.

A member is yielded with a readable `stream` that is valid until the iterator moves on, so a consumer hashes each
member while the archive is read once: time is linear in the number of members. Member names are kept exactly as
stored, hostile ones included (`../../x`, absolute, drive letters): they are only labels, never used to write.
A member that expands past `MAX_MEMBER_BYTES` (or past `MAX_MEMBER_RATIO` times its stored size) is cut off and
reported, so a decompression bomb can fill neither memory nor disk; the whole tree under one top-level container is
bounded as well (see `evidence/tree.py`). Encrypted members are listed with the error "encrypted" (hashwarden holds
no passwords). Symbolic and hard links are members of kind "link" (their target, no content); devices and FIFOs
of kind "special" (listed as skipped, as in folders).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from hashwarden.config import MAX_MEMBER_BYTES, MAX_MEMBER_RATIO
from hashwarden.errors import EvidenceReadError, describe
from hashwarden.evidence.streams import ReadStream

# ISO 9660 says so at 32769; every other container within the first 512 bytes.
HEAD_BYTES = 32 * 1024 + 8
_BLOCK = 1 << 16

# Formats libarchive reads for us, by their magic bytes (offset, magic).
_LIBARCHIVE_MAGIC = (
    (0, b"7z\xbc\xaf\x27\x1c", "7z"),
    (0, b"Rar!\x1a\x07\x00", "rar"),
    (0, b"Rar!\x1a\x07\x01\x00", "rar5"),
    (0, b"MSCF\x00\x00\x00\x00", "cab"),
    (0, b"070701", "cpio"), (0, b"070702", "cpio"), (0, b"070707", "cpio"),
    (0, b"\xc7\x71", "cpio"), (0, b"\x71\xc7", "cpio"),
    (0, b"xar!", "xar"),
    (0, b"!<arch>\n", "ar"),
    (0, b"\x1f\x9d", "compress"),
    (32769, b"CD001", "iso9660"),
)
LIBARCHIVE_FORMATS = frozenset(fmt for _, _, fmt in _LIBARCHIVE_MAGIC) | {"lha", "lzma"}


def archive_format(head: bytes) -> str | None:
    """The container format of content starting with `head` (HEAD_BYTES when available), or None."""
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head[:3] == b"BZh" and head[3:4].isdigit():
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    for offset, magic, fmt in _LIBARCHIVE_MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return fmt
    if len(head) >= 21 and head[2:5] == b"-lh" and head[6:7] == b"-" and head[5:6] in b"01234567d":
        return "lha"
    if len(head) >= 13 and head[:3] == b"\x5d\x00\x00" and (
            head[5:13] == b"\xff" * 8 or int.from_bytes(head[5:13], "little") < 1 << 40):
        return "lzma"  # the .lzma "alone" header: properties 0x5d, a power-of-two dictionary, a size or -1
    return None


try:
    from zstandard import ZstdError as _ZstdError
except ImportError:  # pragma: no cover - zstandard is a dependency
    class _ZstdError(Exception):  # type: ignore[no-redef]
        pass


def _zstd_reader(fileobj: BinaryIO) -> BinaryIO:
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(fileobj, read_across_frames=True)


_DECOMPRESSORS: dict[str, Callable[[BinaryIO], BinaryIO]] = {
    "gzip": lambda fileobj: gzip.GzipFile(fileobj=fileobj, mode="rb"),
    "bzip2": lambda fileobj: bz2.BZ2File(fileobj, mode="rb"),
    "xz": lambda fileobj: lzma.LZMAFile(fileobj, mode="rb"),
    "zstd": _zstd_reader,
}
STREAM_FORMATS = frozenset(_DECOMPRESSORS)
# What a broken compressed stream or archive raises (besides OSError): turned into a message, never a crash.
_DATA_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error, ValueError,
                NotImplementedError, RuntimeError, _ZstdError, KeyError, struct.error)


@dataclass
class Member:
    """One entry of an archive, as stored. `stream` reads its content and is valid until the iterator moves on.

    `kind` is "file", "link" (symbolic or hard link: `target`, no content) or "special" (device, FIFO, socket:
    listed, never read). `size` is the declared size (-1 when the format does not say); `error` says why the
    member cannot be read (encrypted, unsupported method), in which case `stream` is None.
    """

    name: str
    raw_name: bytes
    size: int
    kind: str = "file"
    target: str | None = None
    error: str | None = None
    stream: BinaryIO | None = None
    note: str | None = None


class LimitedReader(ReadStream):
    """Reads a member stream up to a byte limit, then reports EOF and remembers whether it cut the stream off.

    For a window (a member stored uncompressed: `limit` is its exact size) the limit is the natural end, never a
    cut-off, and the inner stream is the container itself: closing the window leaves it open.
    """

    def __init__(self, inner: BinaryIO, limit: int, window: bool = False) -> None:
        self._inner = inner
        self._left = limit
        self._window = window
        self.cut_off = False

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            if not self._window and self._inner.read(1):
                self.cut_off = True
            return b""
        want = self._left if size is None or size < 0 else min(size, self._left)
        chunk = self._inner.read(want)
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        if not self._window:
            self._inner.close()
        super().close()


class Allowance:
    """How many decompressed bytes the members of one compressed container may still produce, together."""

    def __init__(self, limit: int) -> None:
        self.limit = self.left = limit


class BombGuard(ReadStream):
    """A decompressed stream drawing on an `Allowance` (the ratio cap of the compressed data that feeds it, shared
    by every member read from it): past that, reading raises instead of pretending the data ended."""

    def __init__(self, inner: BinaryIO, allowance: Allowance) -> None:
        self._inner, self._allowance = inner, allowance

    def read(self, size: int = -1) -> bytes:
        want = 1 << 20 if size is None or size < 0 else size
        chunk = self._inner.read(min(want, self._allowance.left + 1))
        self._allowance.left -= len(chunk)
        if self._allowance.left < 0:
            raise EvidenceReadError(f"expansion stopped after {self._allowance.limit:,} bytes: possible "
                                    f"decompression bomb (over {MAX_MEMBER_RATIO} times the compressed size)")
        return chunk


def _compressed_size(container: BinaryIO) -> int:
    size = container.seek(0, io.SEEK_END)
    container.seek(0)
    return size


def member_limit(stored_size: int) -> int:
    """How far a member may expand: the absolute cap, or the ratio cap for members that say how large they are."""
    if stored_size > 0:
        return min(MAX_MEMBER_BYTES, max(stored_size * MAX_MEMBER_RATIO, 1 << 20))
    return MAX_MEMBER_BYTES


def iter_members(container: BinaryIO, fmt: str, display_name: str, path: str | None = None) -> Iterator[Member]:
    """Every entry of an archive in stored order, each readable while it is current (one pass over `container`).

    `container` must be seekable for zip and the libarchive formats (the caller holds a nested one in memory);
    tar and single compressed streams are read sequentially. Directories are not yielded. `path`, the archive's
    own file when it is one, lets 7-Zip find the further parts of a multi-volume 7z.

    Raises:
        EvidenceReadError: the archive cannot be read from some point on (what was yielded before stands).
    """
    try:
        if fmt == "zip":
            yield from _zip_members(container)
        elif fmt in STREAM_FORMATS:
            limit = member_limit(_compressed_size(container))
            if _holds_tar(container, fmt):
                yield from _tar_members(BombGuard(_DECOMPRESSORS[fmt](container), Allowance(limit)))
            else:
                yield _stream_member(container, fmt, display_name, limit)
        elif fmt == "tar":
            yield from _tar_members(container)
        elif fmt == "7z":
            yield from _seven_zip_members(container, display_name, path)
        elif fmt in LIBARCHIVE_FORMATS:
            yield from _libarchive_members(container, fmt, display_name)
        else:
            raise EvidenceReadError(f"not an archive format hashwarden reads: {fmt}")
    except EvidenceReadError:
        raise
    except (OSError, *_DATA_ERRORS) as exc:
        raise EvidenceReadError(f"{_FORMAT_NAMES.get(fmt, fmt)} archive cannot be read further: "
                                f"{describe(exc)}") from exc


_FORMAT_NAMES = {"gzip": "gzip", "bzip2": "bzip2", "xz": "xz", "zstd": "zstd", "rar5": "RAR", "rar": "RAR",
                 "iso9660": "ISO 9660", "compress": ".Z (compress)"}


# --- zip ------------------------------------------------------------------------------------------------------


def _zip_raw_name(info: zipfile.ZipInfo) -> bytes:
    """The member name's bytes as stored (UTF-8 when flagged, else code page 437, as zipfile decoded them)."""
    try:
        return info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
    except UnicodeEncodeError:
        return info.orig_filename.encode("utf-8", "surrogateescape")


def _zip_members(container: BinaryIO) -> Iterator[Member]:
    try:
        archive = zipfile.ZipFile(container)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, struct.error):
        archive = None
    size = _compressed_size(container)
    if archive is None or any(not 0 <= info.header_offset < size for info in archive.infolist()):
        # no central directory, or one whose offsets point outside the file: walk the local headers instead
        yield from _local_header_members(container)
        return
    for info in archive.infolist():
        if info.is_dir():
            continue
        member = Member(info.orig_filename, _zip_raw_name(info), info.file_size)
        mode = info.external_attr >> 16
        if info.create_system == 3 and stat.S_ISLNK(mode):  # a symbolic link made on Unix: content = target
            member.kind = "link"
            member.target = _read_small(archive, info)
            yield member
            continue
        if info.flag_bits & 0x1:
            member.error = "encrypted"
            yield member
            continue
        try:
            stream = archive.open(info)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError,
                zlib.error, struct.error) as exc:
            member.error = f"cannot read member: {describe(exc)}"
            yield member
            continue
        with stream:
            member.stream = LimitedReader(stream, member_limit(info.compress_size))
            yield member


def _read_small(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """A link's target (a few KB at most: a longer "target" is not one, and is not read)."""
    if info.file_size > 4096 or info.flag_bits & 0x1:
        return None
    try:
        return archive.read(info).decode("utf-8", "backslashreplace")
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError, zlib.error):
        return None


class _InflateReader(ReadStream):
    """Raw-deflate decompression of a byte window of a container (a zip member found by its local header)."""

    def __init__(self, container: BinaryIO, offset: int, compressed: int) -> None:
        container.seek(offset)
        self._source = LimitedReader(container, compressed, window=True)
        self._inflate = zlib.decompressobj(-15)
        self._pending = b""

    def read(self, size: int = -1) -> bytes:
        want = 1 << 20 if size is None or size < 0 else size
        while len(self._pending) < want and not self._inflate.eof:
            data = self._source.read(_BLOCK)
            if not data:
                self._pending += self._inflate.flush()
                break
            self._pending += self._inflate.decompress(data, max(want - len(self._pending), _BLOCK))
            while self._inflate.unconsumed_tail and len(self._pending) < want:
                self._pending += self._inflate.decompress(self._inflate.unconsumed_tail, _BLOCK)
        chunk, self._pending = self._pending[:want], self._pending[want:]
        return chunk


def _local_header_members(container: BinaryIO) -> Iterator[Member]:
    """Members found by walking local file headers from the start: the recovery path for a zip whose central
    directory is damaged or missing (as a carved or truncated zip often is)."""
    data_end = container.seek(0, io.SEEK_END)
    position = 0
    while position + 30 <= data_end:
        container.seek(position)
        header = container.read(30)
        if header[:4] != b"PK\x03\x04":
            break
        flags, method = struct.unpack("<HH", header[6:10])
        compressed, size = struct.unpack("<II", header[18:26])
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        raw = container.read(name_length)
        name = raw.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        start = position + 30 + name_length + extra_length
        if start > data_end:  # a cut or forged header: its name and flags are noise, not a member to report
            raise zipfile.BadZipFile(f"local header at byte {position:,} runs past the end of the file: "
                                     f"{name_length:,}-byte name and {extra_length:,}-byte extra field, "
                                     f"{data_end - position - 30:,} bytes left")
        if flags & 0x8 and compressed == 0:  # sizes in a data descriptor after the data: find the next header
            compressed = _next_header(container, start, data_end) - start
        position = start + max(compressed, 0)
        if name.endswith("/"):
            continue
        member = Member(name, raw, size)
        if flags & 0x1:
            member.error = "encrypted"
        elif method not in (0, 8):
            member.error = f"compression method {method} cannot be read without the central directory"
        elif method == 0:
            container.seek(start)
            member.stream = LimitedReader(container, compressed, window=True)
        else:
            member.stream = LimitedReader(_InflateReader(container, start, compressed), member_limit(compressed))
        yield member


def _next_header(container: BinaryIO, start: int, end: int) -> int:
    """Where the next local or central header begins after `start` (a member whose size is in a data descriptor),
    searched in bounded windows; the descriptor (16 bytes) precedes it."""
    position = start
    while position < end:
        container.seek(position)
        window = container.read(min(1 << 20, end - position) + 3)
        found = [i for i in (window.find(b"PK\x03\x04"), window.find(b"PK\x01\x02")) if i >= 0]
        if found:
            return max(position + min(found) - 16, start)
        if len(window) <= 3:
            break
        position += len(window) - 3
    return end


# --- tar and single compressed streams ------------------------------------------------------------------------


def _holds_tar(container: BinaryIO, fmt: str) -> bool:
    """Whether a compressed stream holds a tar (then its members are listed, decompressed on the fly)."""
    try:
        head = _DECOMPRESSORS[fmt](container).read(512)
    except (OSError, *_DATA_ERRORS):
        head = b""
    container.seek(0)
    return archive_format(head) == "tar"


def _tar_members(stream: BinaryIO) -> Iterator[Member]:
    with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape") as archive:
        for info in archive:
            if info.isdir():
                continue
            raw = info.name.encode("utf-8", "surrogateescape")
            member = Member(raw.decode("utf-8", "surrogateescape"), raw, info.size)
            if info.issym() or info.islnk():
                member.kind, member.target, member.size = "link", info.linkname, 0
            elif not info.isreg():
                member.kind = "special"
                member.target = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device",
                                 tarfile.FIFOTYPE: "FIFO"}.get(info.type, f"tar entry type {info.type!r}")
                member.size = 0
            else:
                member.stream = archive.extractfile(info)
            yield member


def decompressed_name(display_name: str) -> str:
    """The name of a single compressed file's content: the file's name without its compression suffix
    (`x.jpg.gz` -> `x.jpg`, `x.tgz` -> `x.tar`), else with `.decompressed` added."""
    name = display_name.rsplit("/", 1)[-1]
    for suffix in (".gz", ".tgz", ".bz2", ".xz", ".gzip", ".zst", ".zstd", ".z", ".lzma"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] + (".tar" if suffix == ".tgz" else "") or "data"
    return f"{name}.decompressed"


def unnamed_member_name(display_name: str) -> str:
    """What 7-Zip calls a member stored without a name (`7z a -si`): its archive's name without the extension."""
    return display_name.rsplit("/", 1)[-1].rsplit("!/", 1)[-1].rsplit(".", 1)[0] or "data"


def _stream_member(container: BinaryIO, fmt: str, display_name: str, limit: int) -> Member:
    name = decompressed_name(display_name)
    return Member(name, name.encode("utf-8", "surrogateescape"), -1,
                  stream=LimitedReader(_DECOMPRESSORS[fmt](container), limit))


# --- libarchive -------------------------------------------------------------------------------------------------


def _seven_zip_members(container: BinaryIO, display_name: str, path: str | None) -> Iterator[Member]:
    """7z through 7-Zip where it is installed and can take the archive (evidence/sevenzip.py), else libarchive."""
    from hashwarden.evidence import sevenzip

    produced = sevenzip.members(container, display_name, path)
    try:
        first = next(produced)
    except StopIteration:
        return
    except EvidenceReadError as exc:
        early = _multivolume_reason(container, "7z")
        raise EvidenceReadError(f"{exc}; {early}" if early else str(exc)) from exc
    except sevenzip.NotForSevenZip:
        container.seek(0)
        yield from _libarchive_members(container, "7z", display_name)
        return
    yield first
    yield from produced


def _libarchive_members(container: BinaryIO, fmt: str, display_name: str) -> Iterator[Member]:
    """Members read by libarchive, which runs in a forked child (`evidence/isolated.py`): a crafted archive can make
    it spin without reading (Debian's 3.6.2 does on some XAR files) or crash, and neither may stop the scan."""
    from hashwarden.evidence.isolated import stream_in_child

    early = _multivolume_reason(container, fmt)
    # the members' sizes are declared, their compressed sizes not: the ratio cap applies to all of them together
    allowance = Allowance(member_limit(_compressed_size(container)))
    try:
        for member, stream in stream_in_child(lambda: _libarchive_entries(container, fmt, display_name),
                                              f"{display_name} ({_FORMAT_NAMES.get(fmt, fmt)})"):
            if stream is not None:
                member.stream = BombGuard(stream, allowance)
            yield member
    except EvidenceReadError as exc:
        reason = str(exc)
        if early and (reason in ("", "None") or "ends early" in reason or "Truncated" in reason):
            reason = early
        elif early:
            reason = f"{reason}; {early}"
        raise EvidenceReadError(f"{_FORMAT_NAMES.get(fmt, fmt)} archive cannot be read further: {reason}") from exc


def _multivolume_reason(container: BinaryIO, fmt: str) -> str | None:
    """Why an archive will end early, in words, when its header says it is one part of several (RAR volumes, a
    .7z.001 whose directory lies in a later part): libarchive's own message is then unhelpful or missing."""
    container.seek(0)
    head = container.read(64)
    size = container.seek(0, io.SEEK_END)
    container.seek(0)
    if fmt == "7z" and len(head) >= 32:
        next_offset, next_size = struct.unpack("<QQ", head[12:28])
        if 32 + next_offset + next_size > size:
            return ("its directory lies beyond the end of this file: a part of a multi-volume archive (.7z.001) "
                    "whose other parts are missing, or a truncated archive")
    if fmt == "rar" and len(head) >= 12 and head[9] == 0x73 and int.from_bytes(head[10:12], "little") & 0x1:
        return "a part of a multi-volume RAR archive; the other parts are missing"
    if fmt == "rar5" and len(head) >= 16:
        # after the 8-byte signature: CRC32, then vint header size, vint type (1 = main), vint flags (1 = volume)
        position, values = 12, []
        for _ in range(3):
            value, shift = 0, 0
            while position < len(head):
                byte = head[position]
                position += 1
                value |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    break
            values.append(value)
        if values[1] == 1 and values[2] & 0x1:
            return "a part of a multi-volume RAR archive; the other parts are missing"
    return None


def _libarchive_entries(container: BinaryIO, fmt: str, display_name: str
                        ) -> Iterator[tuple[Member, Iterator[bytes] | None]]:
    """In the child: each entry's description and its content blocks (None for links and special files)."""
    import libarchive
    from libarchive.exception import ArchiveError

    raw_stream = fmt in ("compress", "lzma")  # filters: the content is a tar or a single file
    container.seek(0)
    try:
        with libarchive.stream_reader(container, format_name="all", filter_name="all") as archive:
            for entry in archive:
                if entry.isdir:
                    continue
                name = entry.pathname
                raw = name if isinstance(name, bytes) else (name or "").encode("utf-8", "surrogateescape")
                size = entry.size if entry.size is not None else -1
                note = None
                if not raw:
                    raw = unnamed_member_name(display_name).encode("utf-8", "surrogateescape")
                    note = "stored without a name"
                member = Member(raw.decode("utf-8", "backslashreplace"), raw, size, note=note)
                if entry.issym or entry.islnk:
                    target = entry.linkpath
                    member.kind, member.size = "link", 0
                    member.target = target.decode("utf-8", "backslashreplace") if isinstance(target, bytes) else target
                    yield member, None
                elif not entry.isreg and size <= 0:
                    member.kind, member.size = "special", 0
                    member.target = "FIFO" if entry.isfifo else "device" if entry.isdev else "special file"
                    yield member, None
                elif _encrypted(entry):
                    member.error = "encrypted"
                    yield member, None
                else:
                    yield member, _blocks(entry.get_blocks(_BLOCK))
        return
    except ArchiveError as exc:
        if not raw_stream or "Unrecognized archive format" not in str(exc):
            raise RuntimeError(_libarchive_reason(exc)) from exc
    container.seek(0)  # a compressed single file, not a tar: its content is the one member
    with libarchive.stream_reader(container, format_name="raw", filter_name="all") as archive:
        for entry in archive:
            base = decompressed_name(display_name)
            yield Member(base, base.encode("utf-8", "surrogateescape"), -1), _blocks(entry.get_blocks(_BLOCK))
            break


def _encrypted(entry: Any) -> bool:
    """libarchive's own flag for an entry whose data is encrypted (read from its header, before any data)."""
    import ctypes

    from libarchive import ffi

    check = getattr(ffi.libarchive, "archive_entry_is_data_encrypted", None)
    if check is None:
        return False
    check.argtypes, check.restype = [ctypes.c_void_p], ctypes.c_int
    return bool(check(entry._entry_p))  # noqa: SLF001 - the binding exposes no accessor for this flag


def _blocks(blocks: Iterator[Any]) -> Iterator[bytes]:
    """Content blocks, with libarchive's error turned into its reason in words."""
    try:
        for block in blocks:
            yield bytes(block)
    except Exception as exc:  # noqa: BLE001 - libarchive's ArchiveError: the member is damaged
        raise RuntimeError(_libarchive_reason(exc)) from exc


def _libarchive_reason(exc: BaseException) -> str:
    message = getattr(exc, "msg", None)
    text = str(message).strip() if message not in (None, "None") else ""
    lowered = text.lower()
    if "encrypted" in lowered or "passphrase" in lowered:
        return "encrypted"
    if "multivolume" in lowered or "multi-volume" in lowered or "next volume" in lowered:
        return f"part of a multi-volume archive; the other parts are missing ({text})"
    if "crc" in lowered or "checksum" in lowered:
        return f"CRC mismatch ({text})"
    return text or "the archive ends early or is damaged (libarchive gave no reason)"
