"""Forensic disk images as evidence containers: raw/dd, split raw (.000/.001 ...), E01/Ex01, with MBR or GPT
partition tables or a bare file system, read through The Sleuth Kit (pytsk3) without writing anything.

Files are read through the file system, so each byte of the image is read a bounded number of times. Deleted
files are items too (`"deleted": true`): those whose directory entry survives, those in deleted directories, and
the orphans TSK lists under `$OrphanFiles`. NTFS alternate data streams (`file.txt:stream`) and HFS+ resource forks
(`file:rsrc`) are items of their own; a symbolic link is an item with its target (`"link"`) and no content.
File-system metadata is skipped by its metadata address, never by a name's first character (`$RECYCLE.BIN` is read).

Partition tables are parsed by `partitions.py`, entry by entry, so one bogus entry cannot hide the others; every
partition that is not read, or is odd (beyond the end of the image, overlapping another, no readable file system),
is an error item of its own (`disk.img/p3`), and problems of the table itself are one item `disk.img/$partition-table`.

Item paths: `disk.E01/p2/Users/x/a.jpg` (partition numbers as Linux and fdisk give them: MBR slots 1-4, logical
partitions from 5, GPT entries from 1); an image with no partition table: `disk.img/Users/x/a.jpg`.

Note: the PyPI pytsk3 cannot open E01 by itself; the image is bridged through libewf (pyewf).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
import dataclasses
from dataclasses import dataclass
from typing import Any, BinaryIO

from hashwarden.config import MAX_FS_ENTRIES
from hashwarden.errors import EvidenceReadError
from hashwarden.evidence.partitions import PartitionTable, Volume, plausible_mbr, read_partitions

# Kinds read through evidence/layers.py before TSK sees a disk (APFS is walked by layers itself).
LAYER_KINDS = frozenset({"vmdk", "vmdk-descriptor", "vhd", "vhdx", "qcow", "luks", "bitlocker"})
EWF_MAGIC = (b"EVF\x09\x0d\x0a\xff\x00", b"EVF2\x0d\x0a\x81\x00")
ISO9660_AT = 32769  # 'CD001' of the first volume descriptor, after the 32 KiB system area
HEAD_BYTES = ISO9660_AT + 5  # enough to see an ISO 9660 signature; 4 KiB covers every other one
_READ = 1 << 20


def image_kind(head: bytes, name: str) -> str | None:
    """'ewf', 'raw' or None for content starting with `head` (`HEAD_BYTES` when the file has them).

    Raw images have no magic of their own: a partition table or a file system superblock at its usual place
    says so (FAT, exFAT, NTFS, ext2/3/4, HFS+/HFSX, ISO 9660). Split raw is recognised by its first segment
    (`.000`/`.001`) holding such a start.
    """
    if head.startswith(EWF_MAGIC):
        return "ewf"
    if len(head) < 1082:
        return None
    if head[510:512] == b"\x55\xaa":
        boot = head[:512]
        if boot[3:11] == b"NTFS    " or boot[3:11] == b"EXFAT   " or boot[54:59] == b"FAT12" or boot[54:59] == b"FAT16" \
                or boot[82:87] == b"FAT32" or _plausible_mbr(boot):
            return "raw"
    if head[512:520] == b"EFI PART":
        return "raw"
    if head[1080:1082] == b"\x53\xef":  # ext2/3/4 superblock magic
        return "raw"
    if _hfs_plus(head[1024:1536]):
        return "raw"
    if head[ISO9660_AT : ISO9660_AT + 5] == b"CD001":
        return "raw"
    return None


def ewf_segment(head: bytes) -> int | None:
    """The segment number of an EWF (E01) or EWF2 (Ex01) segment file, from its header; None for other content.

    Segments after the first are read through the first one (libewf finds them beside it), so they are hashed as
    files but never expanded on their own (else an E01+E02 set would be listed twice).
    """
    if head.startswith(EWF_MAGIC[0]) and len(head) >= 11:
        return int.from_bytes(head[9:11], "little")
    if head.startswith(EWF_MAGIC[1]) and len(head) >= 16:
        return int.from_bytes(head[12:16], "little")
    return None


def _hfs_plus(header: bytes) -> bool:
    """An HFS+ ('H+', version 4) or HFSX ('HX', version 5) volume header at 1024, or an HFS wrapper ('BD')
    embedding one (TSK reads both)."""
    if len(header) < 128:
        return False
    if header[0:4] in (b"H+\x00\x04", b"HX\x00\x05"):
        return True
    return header[0:2] == b"BD" and header[124:126] == b"H+"


# Names under which a bare raw image (no partition table, no file system: nothing to recognise) is carved.
ROOT_NAME = "."  # a file system's root directory in an error entry about it (`disk.img/p1/.`)
_PYTSK_PREFIX = re.compile(r"^\w+: \([\w.]+:\d+\) ")  # pytsk3 names its C++ function and source line first
RAW_IMAGE_SUFFIXES = (".dd", ".raw", ".img", ".bin", ".000", ".001")


def _plausible_mbr(boot: bytes) -> bool:
    """Four partition entries with boot flags 0x00/0x80 and at least one typed entry: an MBR, not noise."""
    return plausible_mbr(boot)


def _open_image(source: str | BinaryIO, kind: str, keys: Any = None) -> Any:
    """A TSK image over a path (split raw and E01 segments found beside it) or over a seekable file object (an image
    held in memory from an archive, or a file read in place inside another disk image). Virtual disks (VMDK, VHD,
    VHDX, QCOW) and encrypted volumes (BitLocker, LUKS, with `keys`) are read through `layers`."""
    import pytsk3

    if kind in LAYER_KINDS:
        from hashwarden.evidence.layers import open_layer

        reader = open_layer(kind, source, keys=keys)
        return TskImage(reader, reader.size)

    if kind == "ewf":
        import pyewf

        handle = pyewf.handle()
        if isinstance(source, str):
            handle.open(pyewf.glob(source))
        else:
            handle.open_file_objects([source])
        return TskImage(_EwfReader(handle), handle.get_media_size())
    if isinstance(source, str):
        return pytsk3.Img_Info(source)  # TSK finds the further segments of a split raw image by itself
    from hashwarden.evidence.layers import FileReader

    reader = FileReader(source)
    return TskImage(reader, reader.size)


class _EwfReader:
    """`read(offset, size)` over libewf's handle (decompressed media)."""

    def __init__(self, handle: Any) -> None:
        self._handle = handle

    def read(self, offset: int, size: int) -> bytes:
        self._handle.seek(offset)
        return self._handle.read(size)

    def close(self) -> None:
        self._handle.close()


def TskImage(reader: Any, size: int) -> Any:  # noqa: N802 - a class factory: pytsk3 is imported lazily
    """A pytsk3 image reading through `reader.read(offset, size)`: how TSK reads E01, virtual disks, decrypted
    volumes and images nested in other containers, none of which it can open by itself."""
    import pytsk3

    class _Image(pytsk3.Img_Info):
        def __init__(self) -> None:
            self._reader, self._size = reader, size
            super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

        def read(self, offset: int, length: int) -> bytes:
            return self._reader.read(offset, length)

        def get_size(self) -> int:
            return self._size

        def close(self) -> None:
            closer = getattr(self._reader, "close", None)
            if closer:
                closer()

    return _Image()


# Images open in this process while their files are read: a token (the image's path, or a label for an image read
# from a file object) -> the image and its file systems by offset. `expand_disk` registers and releases them.
_OPEN: dict[str, tuple[Any, dict[int, Any]]] = {}


def _register(token: str, image: Any) -> Any:
    """Make `image` the open image of `token` (its file systems opened later, once each); returns it."""
    _OPEN[token] = (image, {})
    return image


def _image(token: str, kind: str) -> Any:
    """The open image of `token` (registered by expand_disk), or opened from its path."""
    if token not in _OPEN:
        _register(token, _open_image(token, kind))
    return _OPEN[token][0]


def _file_system(token: str, kind: str, offset: int) -> Any:
    """One file system object per image and offset, reused for every item read from it."""
    import pytsk3

    image = _image(token, kind)
    systems = _OPEN[token][1]
    if offset not in systems:
        systems[offset] = pytsk3.FS_Info(image, offset=offset)
    return systems[offset]


def _release(token: str) -> None:
    _OPEN.pop(token, None)


def _volumes(image: Any) -> PartitionTable:
    """Every partition of the image, read or not, with the problems found; the whole image as volume 0 when
    there is no table, or when no entry of the table can be read (a file system may still start at offset 0).

    MBR and GPT are parsed by `partitions.read_partitions` (each entry on its own); other tables (Apple, BSD,
    Sun) by TSK, numbered in TSK's order.
    """
    import pytsk3

    size = image.get_size()
    table = read_partitions(image.read, size)
    if table.scheme is None:
        try:
            found = pytsk3.Volume_Info(image)
        except (OSError, RuntimeError):
            found = None
        if found is not None:
            block = found.info.block_size
            table.scheme = "TSK"
            parts = [part for part in found if part.flags == pytsk3.TSK_VS_PART_FLAG_ALLOC and part.len > 0]
            for number, part in enumerate(parts, start=1):
                offset, length = part.start * block, part.len * block
                desc = part.desc.decode("utf-8", "replace") if isinstance(part.desc, bytes) else str(part.desc)
                table.volumes.append(Volume(number, offset, length, "TSK", desc, max(0, min(length, size - offset)),
                                            offset < size))
    if not any(volume.readable for volume in table.volumes):
        table.volumes.append(Volume(0, 0, size, "", "whole image", size))
    return table


@dataclass(frozen=True)
class DiskFile:
    """A file (or an NTFS alternate data stream, an HFS+ resource fork) inside a file system inside a disk image;
    with `error` set and no `inner_path`, a partition (or the whole image) that could not be read as it should.

    A symbolic link has `link` (its target) and size 0: it is listed, its content is not read. Picklable."""

    outer: Any  # the FolderItem of the image file (its first segment for split raw)
    image_path: str  # the image file on this machine
    kind: str  # 'raw' or 'ewf'
    fs_offset: int
    partition: int  # 1-based among partitions with a file system; 0 = no partition table
    inode: int
    inner_path: str  # path inside the file system, '/'-separated, without a leading slash
    size: int
    deleted: bool = False
    stream: str | None = None  # NTFS alternate data stream name, or 'rsrc' for an HFS+ resource fork
    attr_id: int | None = None
    error: str | None = None
    link: str | None = None  # a symbolic link's target
    note: str | None = None
    view: str | None = None  # `$vss1` ...: the volume as a Volume Shadow Copy holds it, not as it is now

    @property
    def _prefix(self) -> str:
        return self.outer.path + (f"/p{self.partition}" if self.partition else "") + (f"/{self.view}" if self.view else "")

    @property
    def path(self) -> str:
        if self.partition and not self.inner_path:  # the partition itself: `disk.img/p3`
            return self._prefix
        return f"{self._prefix}/{self.inner_path}" + (f":{self.stream}" if self.stream else "")

    @property
    def key(self) -> bytes:
        return self.path.encode("utf-8", "surrogateescape") + (b"\0deleted%d" % self.inode if self.deleted else b"")

    @property
    def container_paths(self) -> tuple[str, ...]:
        return (self.outer.path,)

    @property
    def extra(self) -> dict[str, Any]:
        info: dict[str, Any] = {"container": [self.outer.path]}
        if self.inner_path:  # a partition or the whole image has no inode
            info["inode"] = self.inode
        if self.deleted:
            info["deleted"] = True
        if self.link is not None:
            info["link"] = self.link
        if self.note:
            info["note"] = self.note
        return info

    def open(self) -> BinaryIO:
        """A sequential reader of the file's content through the file system (never the whole image).

        Raises:
            EvidenceReadError: the image or file system cannot be opened, or the entry cannot be read.
        """
        if self.error:
            raise EvidenceReadError(self.error, location=self.path)
        try:
            import pytsk3

            fs = _file_system(self.image_path, self.kind, self.fs_offset)
            entry = fs.open_meta(inode=self.inode)
        except (OSError, RuntimeError) as exc:
            raise EvidenceReadError(f"cannot open in the file system: {exc}", location=self.path) from exc
        attr_type = pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA if self.attr_id is not None else None
        return _TskReader(entry, self.size, attr_type, self.attr_id, self.path)


@dataclass(frozen=True)
class CarvedFile:
    """Media carved by signature from space no file claims: `offset` and `length` in bytes within the image."""

    outer: Any
    image_path: str
    kind: str
    partition: int
    offset: int
    length: int
    format: str

    @property
    def path(self) -> str:
        where = f"/p{self.partition}" if self.partition else ""
        return f"{self.outer.path}{where}/$carved/{self.offset}.{self.format}"

    @property
    def key(self) -> bytes:
        return self.path.encode("utf-8", "surrogateescape")

    @property
    def size(self) -> int:
        return self.length

    @property
    def extra(self) -> dict[str, Any]:
        return {"container": [self.outer.path], "carved": True, "offset": self.offset, "length": self.length}

    def open(self) -> BinaryIO:
        """The carved bytes, read from the image (only these bytes: carving found them in one pass already).

        Raises:
            EvidenceReadError: the image cannot be opened.
        """
        try:
            image = _image(self.image_path, self.kind)
        except (OSError, RuntimeError) as exc:
            raise EvidenceReadError(f"cannot open the disk image: {exc}", location=self.path) from exc
        return _ImageReader(image, self.offset, self.length, self.path)


class _ImgReader:
    """A TSK image as a layers Reader (`size`, `read(offset, size)`): what an encrypted partition or a shadow copy
    is read through."""

    def __init__(self, image: Any) -> None:
        self._image, self.size = image, image.get_size()

    def read(self, offset: int, size: int) -> bytes:
        return self._image.read(offset, max(0, min(size, self.size - offset)))


class _ImageReader(io.RawIOBase):
    """Sequential reads of a byte range of a TSK image."""

    def __init__(self, image: Any, offset: int, length: int, location: str) -> None:
        self._image, self._offset, self._end, self._location = image, offset, offset + length, location

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        left = self._end - self._offset
        if left <= 0:
            return b""
        want = left if size is None or size < 0 else min(size, left)
        try:
            data = self._image.read(self._offset, want)
        except (OSError, RuntimeError) as exc:
            raise OSError(5, f"image read failed at offset {self._offset}: {exc}") from exc
        self._offset += len(data)
        return data


def _attribute_type(entry: Any, attr_id: int, default: Any) -> Any:
    """The type of the entry's attribute `attr_id` (TSK reads an attribute by type and id): an NTFS $DATA stream
    or an HFS+ resource fork alike; `default` when the entry does not say."""
    try:
        for attribute in entry:
            if attribute.info.id == attr_id:
                return attribute.info.type
    except (OSError, RuntimeError, AttributeError):
        pass
    return default


class _TskReader(io.RawIOBase):
    """Sequential reads of a TSK file object (or one of its attributes), reporting the failing offset."""

    def __init__(self, entry: Any, size: int, attr_type: Any, attr_id: int | None, location: str) -> None:
        self._entry, self._size, self._offset = entry, size, 0
        self._attr = (_attribute_type(entry, attr_id, attr_type), attr_id) if attr_id is not None else None
        self._location = location

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._offset, io.SEEK_END: self._size}[whence]
        self._offset = max(base + offset, 0)
        return self._offset

    def tell(self) -> int:
        return self._offset

    def read(self, size: int = -1) -> bytes:
        left = self._size - self._offset
        if left <= 0:
            return b""
        want = left if size is None or size < 0 else min(size, left)
        try:
            if self._attr:
                data = self._entry.read_random(self._offset, want, self._attr[0], self._attr[1])
            else:
                data = self._entry.read_random(self._offset, want)
        except (OSError, RuntimeError) as exc:
            raise OSError(5, f"read failed at offset {self._offset} of {self._location}: {exc}") from exc
        self._offset += len(data)
        if not data:
            raise OSError(5, f"content unrecoverable from offset {self._offset} (unallocated or overwritten)")
        return data


def expand_disk(
    outer: Any, kind: str, carve_media: bool = False, expect_file_system: bool = True,
    source: BinaryIO | None = None, keys: Any = None,
) -> Iterator[DiskFile | CarvedFile | LayerFile]:
    """Every regular file (allocated and deleted) and NTFS data stream in every file system of an image file;
    with `carve_media`, also the media carved from unallocated space (and from space with no file system).

    The image is read from its path (a file of a folder source: further segments found beside it) or, given
    `source`, from that seekable file object (an image inside an archive or inside another disk image). The
    items must be read while this generator is suspended at them: the image is closed when it finishes.

    A partition whose file system cannot be read, or that is not read at all (it starts beyond the end of the
    image), or that is odd (truncated, overlapping another) yields one error item naming it (`disk.img/p3`), and the
    rest goes on; problems of the partition table itself are one item `disk.img/$partition-table`. A whole image
    with no file system is an error item too, except when `expect_file_system` is false (a bare image taken only
    to be carved).
    """
    if source is None:
        image_path = os.fsdecode(os.path.join(outer.root, *outer.parts))
    else:
        image_path = f"<{outer.path} in memory #{id(source)}>"
    try:
        if kind == "apfs":
            yield from _apfs(outer, image_path, _source_reader(source, image_path), 0, 0, keys)
        else:
            yield from _expand_open(outer, image_path, kind, carve_media, expect_file_system, source, keys)
    finally:
        for token in [t for t in _OPEN if t == image_path or t.startswith(image_path + "#")]:
            _release(token)


def _expand_open(outer: Any, image_path: str, kind: str, carve_media: bool, expect_file_system: bool,
                 source: BinaryIO | None, keys: Any) -> Iterator[DiskFile | CarvedFile | LayerFile]:
    try:
        if source is not None or kind in LAYER_KINDS:
            _register(image_path, _open_image(image_path if source is None else source, kind, keys))
        image = _image(image_path, kind)
        volumes = _volumes(image)
    except EvidenceReadError as exc:
        yield DiskFile(outer, image_path, kind, 0, 0, 0, "", 0, error=str(exc))
        return
    except (OSError, RuntimeError) as exc:
        yield DiskFile(outer, image_path, kind, 0, 0, 0, "", 0, error=f"disk image cannot be opened: {exc}")
        return
    incomplete = _ewf_missing_parts(image_path) if kind == "ewf" and source is None else []
    if incomplete:  # reported, and what can still be read is read
        yield DiskFile(outer, image_path, kind, 0, 0, 0, "$ewf-segments", 0,
                       error="E01 image incomplete, media behind the cut unreadable: " + "; ".join(incomplete))
    if volumes.problems:
        yield DiskFile(outer, image_path, kind, 0, 0, 0, "$partition-table", 0,
                       error=f"partition table ({volumes.scheme}): " + "; ".join(volumes.problems))
    for volume in volumes.volumes:
        problems = list(volume.problems)
        offset, length = volume.offset, volume.available
        fs = None
        layer = _volume_layer(image, offset) if volume.readable else None
        if layer == "apfs":
            yield from _apfs(outer, image_path, _ImgReader(image), offset, volume.number, keys)
            continue
        fs_token = image_path
        if layer in ("bitlocker", "luks"):
            try:
                fs_token, offset = _decrypted(image_path, image, offset, length, layer, volume.number, keys), 0
            except EvidenceReadError as exc:
                problems.append(str(exc))
        if volume.readable and not (layer in ("bitlocker", "luks") and fs_token == image_path):
            try:
                fs = _file_system(fs_token, kind, offset)
            except (OSError, RuntimeError) as exc:
                if volume.number or expect_file_system:
                    problems.append(f"no readable file system: {_tsk_reason(exc)}")
        if problems and volume.number:
            yield DiskFile(outer, image_path, kind, volume.offset, volume.number, 0, "", 0,
                           error=f"{volume.describe()}: " + "; ".join(problems))
        elif problems:
            yield DiskFile(outer, image_path, kind, volume.offset, 0, 0, "", 0, error="; ".join(problems))
        if fs is None:
            if carve_media and length:  # no file system: every byte of the volume is unclaimed
                yield from _carved(outer, image_path, kind, image, 0, [(offset, offset + length)])
            continue
        covered: list[tuple[int, int]] | None = [] if carve_media and fs_token == image_path else None
        yield from _walk(outer, fs_token, kind, fs, offset, volume.number, covered)
        if covered is not None:
            size = fs.info.block_count * fs.info.block_size
            free = _complement(sorted(covered), offset, offset + min(size, length))
            yield from _carved(outer, image_path, kind, image, volume.number, free)
        if fs_token == image_path and _is_ntfs(fs):
            yield from _shadow_copies(outer, image_path, kind, image, offset, length, volume.number)


def _ewf_missing_parts(image_path: str) -> list[str]:
    """What the segment files of an EWF1 image on disk lack (`ewf_chunks.missing_parts`); EWF2 is left to libewf."""
    import pyewf

    from hashwarden.evidence.ewf_chunks import is_ewf1, missing_parts

    if not is_ewf1(image_path):
        return []
    return missing_parts(pyewf.glob(image_path))


def _volume_layer(image: Any, offset: int) -> str | None:
    """An encrypted volume or an APFS container at the start of a partition (TSK reads neither)."""
    from hashwarden.evidence.layers import layer_kind

    try:
        kind = layer_kind(image.read(offset, 4096))
    except (OSError, RuntimeError):
        return None
    return kind if kind in ("bitlocker", "luks", "apfs") else None


def _decrypted(image_path: str, image: Any, offset: int, length: int, kind: str, number: int, keys: Any) -> str:
    """Register the decrypted view of an encrypted partition; its token (the file system is at its offset 0).

    Raises:
        EvidenceReadError: no key given, or none unlocks it.
    """
    from hashwarden.evidence.layers import Window, open_layer

    reader = open_layer(kind, Window(_ImgReader(image), offset, length), keys=keys)
    token = f"{image_path}#p{number}-{kind}"
    _register(token, TskImage(reader, reader.size))
    return token


def _is_ntfs(fs: Any) -> bool:
    import pytsk3

    return int(fs.info.ftype) & int(pytsk3.TSK_FS_TYPE_NTFS_DETECT) != 0


def _shadow_copies(outer: Any, image_path: str, kind: str, image: Any, offset: int, length: int,
                   number: int) -> Iterator[DiskFile]:
    """The files of each Volume Shadow Copy of an NTFS volume (earlier versions, often of deleted files), under
    `$vss1`, `$vss2` ... (oldest first) beside the volume's own files."""
    from hashwarden.evidence.layers import shadow_copies

    try:
        stores = shadow_copies(_ImgReader(image), offset, length)
    except EvidenceReadError as exc:
        yield DiskFile(outer, image_path, kind, offset, number, 0, "$vss", 0, error=str(exc))
        return
    for store in stores:
        token = f"{image_path}#p{number}-{store.name}"
        _register(token, TskImage(store.reader, store.reader.size))
        try:
            fs = _file_system(token, kind, 0)
        except (OSError, RuntimeError) as exc:
            yield DiskFile(outer, token, kind, 0, number, 0, f"${store.name}", 0,
                           error=f"shadow copy {store.name}: no readable file system: {_tsk_reason(exc)}")
            continue
        for found in _walk(outer, token, kind, fs, 0, number, None):
            yield dataclasses.replace(found, view=f"${store.name}")


@dataclass(frozen=True)
class LayerFile:
    """A file read by `layers` rather than TSK (a file of an APFS volume)."""

    path: str
    size: int
    extra: dict[str, Any]
    opener: Any = None
    error: str | None = None
    link: str | None = None

    @property
    def key(self) -> bytes:
        return self.path.encode("utf-8", "surrogateescape")

    def open(self) -> BinaryIO:
        return self.opener()


def _apfs(outer: Any, image_path: str, reader: Any, offset: int, number: int, keys: Any) -> Iterator[LayerFile]:
    """The files of the APFS container at `offset` (a Mac's or an iPhone backup's disk): `p2/<volume>/...`."""
    from hashwarden.evidence.layers import apfs_files

    prefix = outer.path + (f"/p{number}" if number else "")
    try:
        for found in apfs_files(reader, offset, keys):
            extra = {"container": [outer.path], "inode": found.identifier}
            if "symlink" in found.flags:
                with found.open() as fp:
                    target = fp.read(4096).decode("utf-8", "surrogateescape")
                yield LayerFile(f"{prefix}/{found.path}", 0, extra, link=target)
            else:
                yield LayerFile(f"{prefix}/{found.path}", found.size, extra, found.open, found.error)
    except EvidenceReadError as exc:
        yield LayerFile(prefix + "/$apfs", 0, {"container": [outer.path]}, error=str(exc))


def _source_reader(source: BinaryIO | None, image_path: str) -> Any:
    from hashwarden.evidence.layers import FileReader

    from hashwarden.evidence.folder import _open_file

    if source is None:  # read-only, access time kept; closed when the process ends
        return FileReader(os.fdopen(_open_file(os.fsencode(image_path), None), "rb"))
    return FileReader(source)


def _tsk_reason(exc: BaseException) -> str:
    """TSK's own reason from a pytsk3 error, without pytsk3's source-file prefix ('FS_Info_Con: (tsk3.cpp:214)
    ...') and wrapper text ('Cannot determine file system type'); the offset is said by the caller."""
    text = _PYTSK_PREFIX.sub("", " ".join(str(exc).split()))
    return text.split(" with error: ", 1)[-1] or text


def _carved(outer: Any, image_path: str, kind: str, image: Any, partition: int,
            ranges: list[tuple[int, int]]) -> Iterator[CarvedFile]:
    from hashwarden.evidence.carve import carve

    def read(offset: int, size: int) -> bytes:
        try:
            return image.read(offset, size)
        except (OSError, RuntimeError):
            return b""

    for found in carve(read, ranges):
        yield CarvedFile(outer, image_path, kind, partition, found.offset, found.length, found.format)


def _complement(covered: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """The parts of [start, end) outside the sorted byte ranges `covered`."""
    free, position = [], start
    for low, high in covered:
        if low > position:
            free.append((position, min(low, end)))
        position = max(position, high)
        if position >= end:
            break
    if position < end:
        free.append((position, end))
    return [(a, b) for a, b in free if b > a]


def _walk(outer: Any, image_path: str, kind: str, fs: Any, offset: int, partition: int,
          covered: list[tuple[int, int]] | None) -> Iterator[DiskFile]:
    """Files of one file system, depth first; when `covered` is a list, the byte ranges of their content
    (allocated and recovered deleted files alike) are added to it, so carving skips them.

    Deleted directories whose own metadata entry is free are walked too (what is under them is deleted), as is
    TSK's virtual `$OrphanFiles` (deleted files no directory names any more). A deleted name whose directory
    entry now belongs to another, live directory is not followed: that directory is walked where it lives.

    Nothing is left out silently: a directory that cannot be opened or listed to its end (its entries read before
    the failure are kept), and the listing's end at MAX_FS_ENTRIES (a corrupt file system can list without end),
    each yield an error entry naming the directory, so the examination is reported as incomplete there.
    """
    import pytsk3

    def unlisted(path: str, inode: int, reason: str) -> DiskFile:
        return DiskFile(outer, image_path, kind, offset, partition, inode, path or ROOT_NAME, 0, error=reason)

    block = fs.info.block_size
    fs_type = int(fs.info.ftype)
    directory_types = (pytsk3.TSK_FS_META_TYPE_DIR, pytsk3.TSK_FS_META_TYPE_VIRT_DIR)
    seen_dirs: set[int] = {fs.info.root_inum}
    stack: list[tuple[Any, str, int, bool]] = [(fs.open_dir(path="/"), "", fs.info.root_inum, False)]
    count = 0
    while stack:
        directory, prefix, inode, under_deleted = stack.pop()
        entries = []
        try:
            for entry in directory:
                entries.append(entry)
        except (OSError, RuntimeError) as exc:
            yield unlisted(prefix[:-1], inode, f"directory listing failed after {len(entries)} entries: "
                                               f"{_tsk_reason(exc)}; the rest of this directory is not read")
        for entry in entries:
            count += 1
            if count > MAX_FS_ENTRIES:
                yield unlisted(prefix[:-1], inode, f"listing stopped: more than {MAX_FS_ENTRIES:,} entries in this "
                                                   "file system (corrupt?); the rest of it is not read")
                return
            name = entry.info.name.name.decode("utf-8", "surrogateescape")
            if name in (".", ".."):
                continue
            meta = entry.info.meta
            if meta is None:  # orphans are listed by metadata address only
                entry = _open_by_address(fs, entry)
                if entry is None:
                    continue
                meta = entry.info.meta
            if _is_metadata(fs_type, meta, name if prefix == "" else None):
                continue
            meta_free = bool(meta.flags & pytsk3.TSK_FS_META_FLAG_UNALLOC)
            deleted = under_deleted or meta_free or bool(entry.info.name.flags & pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
            path = f"{prefix}{name}"
            if meta.type in directory_types:
                if deleted and not meta_free:  # the entry was reused by a live directory, walked where it lives
                    continue
                if meta.addr in seen_dirs:
                    if not deleted:  # a looping (damaged or doctored) directory structure is walked once
                        yield DiskFile(outer, image_path, kind, offset, partition, meta.addr, path, 0,
                                       error=f"directory loop: this entry points to directory inode {meta.addr}, "
                                             "which is already walked; not walked again")
                    continue
                seen_dirs.add(meta.addr)
                orphans = meta.type == pytsk3.TSK_FS_META_TYPE_VIRT_DIR
                try:
                    stack.append((entry.as_directory(), path + "/", meta.addr, deleted or orphans))
                except (OSError, RuntimeError) as exc:
                    if not deleted:  # a deleted directory's blocks are often reused: nothing was there to list
                        yield unlisted(path, meta.addr, f"directory cannot be listed: {_tsk_reason(exc)}")
                continue
            if covered is not None:
                covered.extend(_runs(entry, offset, block))
            if meta.type == pytsk3.TSK_FS_META_TYPE_LNK:
                target = meta.link
                target = target.decode("utf-8", "surrogateescape") if isinstance(target, bytes) else str(target or "")
                yield DiskFile(outer, image_path, kind, offset, partition, meta.addr, path, 0, deleted, link=target,
                               note=f"symbolic link to {target}: no content of its own, not read")
                continue
            if meta.type != pytsk3.TSK_FS_META_TYPE_REG or name.endswith("(Volume Label Entry)"):
                continue
            streams = list(_data_streams(entry))
            yield DiskFile(outer, image_path, kind, offset, partition, meta.addr, path, meta.size, deleted)
            for stream_name, attr_id, size in streams:
                yield DiskFile(outer, image_path, kind, offset, partition, meta.addr, path, size, deleted,
                               stream=stream_name, attr_id=attr_id)


def _open_by_address(fs: Any, entry: Any) -> Any:
    """The file a name points to, opened by its metadata address (TSK gives orphans a name and an address but
    no loaded metadata); None when there is none to open."""
    address = entry.info.name.meta_addr
    if not address:
        return None
    try:
        opened = fs.open_meta(inode=address)
    except (OSError, RuntimeError):
        return None
    return opened if opened.info.meta is not None else None


_EXFAT_SYSTEM = frozenset({"$ALLOC_BITMAP", "$UPCASE_TABLE", "$VOLUME_GUID", "$TEXFAT", "$ACT"})


def _is_metadata(fs_type: int, meta: Any, root_name: str | None) -> bool:
    """True for an entry that is file-system metadata, by its metadata address: NTFS's system files (MFT entries
    0-15 at the root: `$MFT` ... `$Extend`, whose children are then not walked; 16-23, reserved records TSK lists
    as orphans) and HFS+'s special files (catalog node ids 1-15: `$ExtentsFile`, `$CatalogFile` ...). TSK's virtual
    `$MBR`/`$FAT1`/`$FAT2` of FAT are skipped by their type. Never by a name's first character: `$RECYCLE.BIN`
    and a user's `$x.jpg` are files like any other. exFAT's bitmap and up-case table are root directory entries
    of their own types, which pytsk3 does not expose: TSK gives them these exact names and no timestamps (a user's
    file always has some), so both are required. `root_name` is the name for an entry at the root, else None."""
    import pytsk3

    if fs_type & int(pytsk3.TSK_FS_TYPE_NTFS_DETECT):
        return meta.addr < 24
    if fs_type & int(pytsk3.TSK_FS_TYPE_HFS_DETECT):
        return meta.addr < 16
    if fs_type & int(pytsk3.TSK_FS_TYPE_EXFAT):
        return root_name in _EXFAT_SYSTEM and not (meta.crtime or meta.mtime or meta.atime)
    return False


def _runs(entry: Any, fs_offset: int, block: int) -> Iterator[tuple[int, int]]:
    """Byte ranges (within the image) of an entry's non-resident attributes."""
    try:
        for attribute in entry:
            for run in attribute:
                if run.len > 0 and run.addr > 0:
                    start = fs_offset + run.addr * block
                    yield start, start + run.len * block
    except (OSError, RuntimeError, AttributeError):
        return


def _data_streams(entry: Any) -> Iterator[tuple[str, int, int]]:
    """Content beside a file's main one, as (name, attribute id, size): the named $DATA attributes of an NTFS
    file (alternate data streams) and the resource fork of an HFS+ file (named 'rsrc', as macOS's
    `file/..namedfork/rsrc`)."""
    import pytsk3

    try:
        for attribute in entry:
            info = attribute.info
            if info.type == pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA and info.name:
                name = info.name.decode("utf-8", "surrogateescape") if isinstance(info.name, bytes) else info.name
                if name:
                    yield name, info.id, info.size
            elif info.type == pytsk3.TSK_FS_ATTR_TYPE_HFS_RSRC and info.size > 0:
                yield "rsrc", info.id, info.size
    except (OSError, RuntimeError, AttributeError):
        return
