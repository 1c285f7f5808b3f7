"""Archives as evidence containers, read in place: zip (incl. zip64), tar (plain, gz, bz2, xz, zst), 7z (py7zr),
and single-file gzip/bzip2/xz/zstd streams, nested to a bounded depth. Nothing is ever extracted to disk: 7z members are
decompressed into memory (up to MAX_NESTED_BYTES each), since py7zr offers no member stream. Encrypted members
are listed with the error "encrypted" (hashwarden holds no passwords). RAR needs a non-free tool and is not opened.

A member becomes an `ArchiveMember` item whose path names the chain of containers
(`outer.zip!/dir/inner.tar!/a.jpg`). Member names are kept exactly as stored, hostile ones included (`../../x`,
absolute, drive letters): they are only labels here, never used to write anything. A member that expands past
`MAX_MEMBER_BYTES` (or past `MAX_EXPANSION_RATIO` times its stored size) is cut off there and reported as an error,
so a decompression bomb can fill neither memory nor disk.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from hashwarden.errors import EvidenceReadError

MAX_DEPTH = 16  # archives inside archives, at most
MAX_MEMBER_BYTES = 8 << 30  # bytes one member may expand to before it is cut off
MAX_EXPANSION_RATIO = 1000  # expanded / stored size beyond which a member is treated as a bomb
MAX_NESTED_BYTES = 512 << 20  # a nested archive is held in memory to be read in place: up to this size
SNIFF = 512


def archive_format(head: bytes) -> str | None:
    """The container format of content starting with `head` (>= 512 bytes when available), or None."""
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
    if head[:6] == b"7z\xbc\xaf\x27\x1c":
        return "7z"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    return None


try:
    from zstandard import ZstdError as _ZstdError
except ImportError:  # pragma: no cover - zstandard is a dependency
    class _ZstdError(Exception):  # type: ignore[no-redef]
        pass


def _zstd_reader(fileobj: BinaryIO) -> BinaryIO:
    import zstandard

    return zstandard.ZstdDecompressor().stream_reader(fileobj, read_across_frames=True)


_DECOMPRESSORS = {
    "gzip": lambda fileobj: gzip.GzipFile(fileobj=fileobj, mode="rb"),
    "bzip2": lambda fileobj: bz2.BZ2File(fileobj, mode="rb"),
    "xz": lambda fileobj: lzma.LZMAFile(fileobj, mode="rb"),
    "zstd": _zstd_reader,
}


@dataclass(frozen=True)
class MemberRef:
    """One step into a container: its format and the member's stored name; for tar also where the member's data
    starts and its size (and the stream's compression), so opening it needs no second walk through the headers."""

    format: str
    name: str
    stored_size: int = 0
    offset: int = 0
    size: int = 0
    compression: str | None = None


class LimitedReader(io.RawIOBase):
    """Reads a member stream up to a byte limit, then reports EOF and remembers whether it cut the stream off.

    For a window (a tar member: `limit` is its exact size) the limit is the natural end, never a cut-off, and the
    inner stream is the container itself: closing the window leaves it open (the container's owner closes it).
    """

    def __init__(self, inner: BinaryIO, limit: int, window: bool = False) -> None:
        self._inner = inner
        self._left = limit
        self._window = window
        self.cut_off = False

    def readable(self) -> bool:
        return True

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


def member_limit(stored_size: int) -> int:
    """How far a member may expand: the absolute cap, or the ratio cap for members that say how large they are."""
    if stored_size > 0:
        return min(MAX_MEMBER_BYTES, max(stored_size * MAX_EXPANSION_RATIO, 1 << 20))
    return MAX_MEMBER_BYTES


def open_member(container: BinaryIO, ref: MemberRef) -> BinaryIO:
    """Open one member of an open, seekable container for reading (a stream: no extraction).

    Raises:
        EvidenceReadError: the member is encrypted, missing, or the container is corrupt.
    """
    try:
        if ref.format == "zip":
            archive = zipfile.ZipFile(container)
            info = archive.getinfo(ref.name)
            if info.flag_bits & 0x1:
                raise EvidenceReadError("encrypted")
            stream = archive.open(info)
        elif ref.format == "tar":
            base = _DECOMPRESSORS[ref.compression](container) if ref.compression else container
            base.seek(ref.offset)
            reader = LimitedReader(base, min(ref.size, MAX_MEMBER_BYTES), window=True)
            reader.cut_off = ref.size > MAX_MEMBER_BYTES
            return reader
        elif ref.format == "7z":
            return _open_7z_member(container, ref.name)
        elif ref.format == "zip-local":
            if ref.compression == "0":
                container.seek(ref.offset)
                return LimitedReader(container, ref.stored_size, window=True)
            return LimitedReader(_InflateReader(container, ref.offset, ref.stored_size), member_limit(ref.stored_size))
        else:
            stream = _DECOMPRESSORS[ref.format](container)
    except EvidenceReadError:
        raise
    except (zipfile.BadZipFile, tarfile.TarError, KeyError, OSError, EOFError, lzma.LZMAError, ValueError,
            NotImplementedError, RuntimeError, _ZstdError) as exc:
        raise EvidenceReadError(f"cannot open {ref.format} member {ref.name!r}: {exc}") from exc
    return LimitedReader(stream, member_limit(ref.stored_size))


@dataclass(frozen=True)
class ListedMember:
    """A member found while listing a container: how to reach it, its size, and why it cannot be read, if so."""

    ref: MemberRef
    size: int
    error: str | None = None


class _InflateReader(io.RawIOBase):
    """Raw-deflate decompression of a byte window of a container (a zip member found by its local header)."""

    def __init__(self, container: BinaryIO, offset: int, compressed: int) -> None:
        import zlib

        container.seek(offset)
        self._source = LimitedReader(container, compressed, window=True)
        self._inflate = zlib.decompressobj(-15)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = 1 << 20 if size is None or size < 0 else size
        while len(self._pending) < want and not self._inflate.eof:
            data = self._source.read(1 << 16)
            if not data:
                self._pending += self._inflate.flush()
                break
            self._pending += self._inflate.decompress(data, max(want - len(self._pending), 1 << 16))
            while self._inflate.unconsumed_tail and len(self._pending) < want:
                self._pending += self._inflate.decompress(self._inflate.unconsumed_tail, 1 << 16)
        chunk, self._pending = self._pending[:want], self._pending[want:]
        return chunk


def _local_headers(container: BinaryIO) -> Iterator[tuple[ListedMember, bytes]]:
    """Members found by walking local file headers from the start: the recovery path for a zip whose central
    directory is damaged or missing (as a carved or truncated zip often is)."""
    import struct
    import zlib

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
        name = container.read(name_length).decode("utf-8" if flags & 0x800 else "cp437", "replace")
        start = position + 30 + name_length + extra_length
        if flags & 0x8 and compressed == 0:  # sizes in a data descriptor after the data: find the next header
            container.seek(start)
            rest = container.read(min(data_end - start, MAX_NESTED_BYTES))
            following = min((i for i in (rest.find(b"PK\x03\x04"), rest.find(b"PK\x01\x02")) if i >= 0),
                            default=len(rest))
            compressed = max(following - 16, 0)
        ref = MemberRef("zip-local", name, compressed, offset=start, size=size, compression=str(method))
        error = "encrypted" if flags & 0x1 else None
        if method not in (0, 8) and not error:
            error = f"compression method {method} cannot be read without the central directory"
        head = b""
        if not error and not name.endswith("/"):
            try:
                head = open_member(container, ref).read(SNIFF)
            except (EvidenceReadError, zlib.error):
                head = b""
        if not name.endswith("/"):
            yield ListedMember(ref, size, error), head
        position = start + compressed


def _seven_zip(container: BinaryIO):  # noqa: ANN202 - py7zr.SevenZipFile, imported lazily
    import py7zr

    try:
        return py7zr.SevenZipFile(container, mode="r")
    except py7zr.PasswordRequired as exc:
        raise EvidenceReadError("encrypted (7z headers): password required") from exc
    except (py7zr.Bad7zFile, py7zr.exceptions.ArchiveError, OSError, EOFError, ValueError, KeyError) as exc:
        raise EvidenceReadError(f"7z archive cannot be read: {exc}") from exc


def _open_7z_member(container: BinaryIO, name: str) -> BinaryIO:
    from py7zr.io import BytesIOFactory

    archive = _seven_zip(container)
    if archive.needs_password():
        raise EvidenceReadError("encrypted")
    factory = BytesIOFactory(MAX_NESTED_BYTES + 1)
    try:
        archive.extract(targets=[name], factory=factory)
        product = factory.get(name)
    except Exception as exc:  # noqa: BLE001 - py7zr raises many kinds on corrupt data
        raise EvidenceReadError(f"cannot read 7z member {name!r}: {exc}") from exc
    if product.size() > MAX_NESTED_BYTES:
        raise EvidenceReadError(f"7z member larger than {MAX_NESTED_BYTES:,} bytes: not read (decompressed in memory)")
    product.seek(0)
    return LimitedReader(product, MAX_NESTED_BYTES, window=True)


def _list_7z(container: BinaryIO) -> Iterator[tuple[ListedMember, bytes]]:
    """7z members with their first bytes, from one decompression pass (solid archives allow no other)."""
    from py7zr.io import BytesIOFactory

    archive = _seven_zip(container)
    files = [f for f in archive.list() if not f.is_directory]
    if archive.needs_password():
        for info in files:
            yield ListedMember(MemberRef("7z", info.filename), info.uncompressed or 0, "encrypted"), b""
        return
    heads = BytesIOFactory(SNIFF)
    try:
        archive.extract(factory=heads)
    except Exception as exc:  # noqa: BLE001
        raise EvidenceReadError(f"7z archive cannot be read: {exc}") from exc
    for info in files:
        head = b""
        if info.filename in heads.products:
            product = heads.get(info.filename)
            product.seek(0)
            head = product.read(SNIFF)
        yield ListedMember(MemberRef("7z", info.filename), info.uncompressed or 0), head


def list_members(container: BinaryIO, fmt: str, display_name: str) -> Iterator[tuple[ListedMember, bytes]]:
    """Every regular member of a seekable container, in stored order, with its first bytes (to spot archives).

    Tars (compressed or not) are read in one sequential pass; zip members are opened one by one.

    Raises:
        EvidenceReadError: the container's directory cannot be read.
    """
    try:
        if fmt == "7z":
            yield from _list_7z(container)
        elif fmt == "zip":
            try:
                archive = zipfile.ZipFile(container)
            except zipfile.BadZipFile:
                yield from _local_headers(container)
                return
            for info in archive.infolist():
                if info.is_dir():
                    continue
                if info.flag_bits & 0x1:
                    yield ListedMember(MemberRef("zip", info.filename, info.compress_size), info.file_size, "encrypted"), b""
                    continue
                try:
                    with archive.open(info) as member:
                        head = member.read(SNIFF)
                except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
                    yield ListedMember(MemberRef("zip", info.filename, info.compress_size), info.file_size,
                                       f"cannot read member: {exc}"), b""
                    continue
                yield ListedMember(MemberRef("zip", info.filename, info.compress_size), info.file_size), head
        elif fmt == "tar" or fmt.startswith("tar+"):
            compression = fmt.partition("+")[2] or None
            stream = _DECOMPRESSORS[compression](container) if compression else container
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for info in archive:
                    if not info.isfile():
                        continue
                    stream = archive.extractfile(info)
                    head = stream.read(SNIFF) if stream else b""
                    ref = MemberRef("tar", info.name, offset=info.offset_data, size=info.size, compression=compression)
                    yield ListedMember(ref, info.size), head
        else:
            name = display_name.rsplit("/", 1)[-1]
            for suffix in (".gz", ".tgz", ".bz2", ".xz", ".gzip", ".zst", ".zstd"):
                if name.lower().endswith(suffix):
                    name = name[: -len(suffix)] + (".tar" if suffix == ".tgz" else "")
                    break
            else:
                name = f"{name}.decompressed"
            head = _DECOMPRESSORS[fmt](container).read(SNIFF)
            container.seek(0)
            yield ListedMember(MemberRef(fmt, name or "data"), -1), head
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, lzma.LZMAError, ValueError, _ZstdError) as exc:
        raise EvidenceReadError(f"{fmt} archive cannot be listed: {exc}") from exc


def compressed_holds_tar(container: BinaryIO, fmt: str) -> bool:
    """Whether a gzip/bzip2/xz/zstd stream holds a tar (then it is listed as a tar, decompressed on the fly)."""
    try:
        head = _DECOMPRESSORS[fmt](container).read(SNIFF)
    except (OSError, EOFError, lzma.LZMAError, ValueError, _ZstdError):
        return False
    finally:
        container.seek(0)
    return archive_format(head) == "tar"


@dataclass(frozen=True)
class ArchiveMember:
    """A regular file inside an archive (possibly nested) inside a folder source. Picklable for workers.

    `outer` opens the outermost archive file; `chain` leads from it to this member, one `MemberRef` per level.
    """

    outer: object  # a FolderItem (kept generic to avoid an import cycle)
    chain: tuple[MemberRef, ...]
    size: int
    listing_error: str | None = None

    @property
    def container_paths(self) -> tuple[str, ...]:
        """The report paths of the containers holding this member, outermost first."""
        paths = [self.outer.path]
        for ref in self.chain[:-1]:
            paths.append(paths[-1] + "!/" + ref.name)
        return tuple(paths)

    @property
    def extra(self) -> dict[str, object]:
        """Report fields beyond the common ones."""
        return {"container": list(self.container_paths)}

    @property
    def key(self) -> bytes:
        return self.outer.key + b"".join(b"!/" + r.name.encode("utf-8", "surrogateescape") for r in self.chain)

    @property
    def path(self) -> str:
        return self.outer.path + "".join("!/" + r.name for r in self.chain)

    def open(self) -> BinaryIO:
        """Open the member by walking the chain; inner containers are held in memory, never written to disk.

        Raises:
            EvidenceReadError: any level is unreadable, encrypted, or a nested archive is too large to hold.
        """
        if self.listing_error:
            raise EvidenceReadError(self.listing_error, location=self.path)
        stream: BinaryIO = self.outer.open()
        try:
            for depth, ref in enumerate(self.chain):
                if depth:
                    stream = hold_in_memory(stream, self.path)
                stream = open_member(stream, ref)
            return stream
        except EvidenceReadError as exc:
            stream.close()
            if exc.location is None:
                exc.location = self.path
            raise


def hold_in_memory(stream: BinaryIO, location: str) -> BinaryIO:
    """A seekable copy of a nested container, refused above MAX_NESTED_BYTES (no temporary file, ever)."""
    data = stream.read(MAX_NESTED_BYTES + 1)
    cut = getattr(stream, "cut_off", False)
    stream.close()
    if len(data) > MAX_NESTED_BYTES or cut:
        raise EvidenceReadError(f"nested archive larger than {MAX_NESTED_BYTES:,} bytes: not opened", location)
    return io.BytesIO(data)


def expand_archive(outer: object, fmt: str, depth_limit: int = MAX_DEPTH) -> Iterator[ArchiveMember]:
    """Every member of the archive `outer` (a FolderItem in format `fmt`), nested archives included, depth first.

    A container that cannot be listed yields one member-less error item for it (`listing_error`), so the report
    says why it was not opened; the archive file itself is hashed like any file.
    """
    yield from _expand_level(outer, (), lambda: outer.open(), fmt, depth_limit, outer.path)


def _expand_level(outer, chain, opener, fmt, depth_left, display) -> Iterator[ArchiveMember]:  # noqa: ANN001
    if depth_left <= 0:
        ref = MemberRef(fmt, "")
        yield ArchiveMember(outer, chain + (ref,), 0, f"archives nested deeper than {MAX_DEPTH}: not opened")
        return
    try:
        container = opener() if not chain else hold_in_memory(opener(), display)
        with container:
            if fmt in _DECOMPRESSORS and compressed_holds_tar(container, fmt):
                fmt = f"tar+{fmt}"
            members = list(list_members(container, fmt, display))
    except EvidenceReadError as exc:
        yield ArchiveMember(outer, chain + (MemberRef(fmt, ""),), 0, str(exc))
        return
    for member, head in members:
        child_chain = chain + (member.ref,)
        item = ArchiveMember(outer, child_chain, member.size, member.error)
        yield item
        inner_format = None if member.error else archive_format(head)
        if inner_format:
            yield from _expand_level(outer, child_chain, item.open, inner_format, depth_left - 1, item.path)
