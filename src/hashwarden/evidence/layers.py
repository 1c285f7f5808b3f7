"""Layers between an evidence file and its file systems: virtual disks (VMDK, VHD, VHDX, QCOW), encrypted volumes
(BitLocker, LUKS1) unlocked with keys the examiner gives, Volume Shadow Copies of NTFS volumes, and the files of
APFS containers. Every layer is read through libyal's bindings (the family of the libewf already used), never
mounted, never written.

The interface the scan builds on:

* **Reader**: any object with `size: int` and `read(offset, size) -> bytes` (short only at the end). Layers take
  and give Readers, so they nest: a LUKS volume in a partition of a VMDK is
  `open_layer("luks", Window(open_layer("vmdk", path), start, length), keys=keys)`. `reader_file(reader)` turns a
  Reader into the seekable file object libyal and `pytsk3.Img_Info` adapters want; `FileReader(fileobj)` does the
  reverse for plain files and archive members.
* **layer_kind(head, tail=None)**: the layer a file's content starts (or, for a fixed VHD, ends) with, or None.
* **open_layer(kind, source, keys=..., related=...)**: the virtual disk or decrypted volume as a `LayerReader`.
  `source` is a path, a seekable binary file object, or a Reader. Raises EvidenceReadError naming the layer.
* **shadow_copies(reader, volume_offset, volume_size)**: the NTFS volume as each Volume Shadow Copy store holds
  it (`vss1` is the oldest), each with its own Reader.
* **apfs_files(reader, offset, keys)**: the files of every volume of an APFS container. The Sleuth Kit cannot do
  this here: the PyPI pytsk3 has TSK_FS_TYPE_APFS but opens APFS only from a pool image, and exposes no pool API
  (`FS_Info(..., type=TSK_FS_TYPE_APFS)` fails "Not a pool image").

What needs a path: a file object alone is enough for every single-file image (monolithic sparse VMDK, stream
optimised VMDK, VHD fixed/dynamic, VHDX, QCOW without backing file, LUKS1, BitLocker, APFS). Other files of the
image are asked for by name from `related(name) -> file object | None`: VMDK extent files named by a descriptor,
the parent of a differencing VHD/VHDX, the backing file of a QCOW. From a path, `related` defaults to the image's
own folder, by base name only (a hostile descriptor naming `/etc/shadow` or `../x` reads `shadow` or `x` from the
image's folder, nothing else); from a file object it defaults to nothing, so the error names the missing file
("VMDK descriptor: extent file 'x-flat.vmdk' not available"). Parents of parents are resolved up to
`MAX_LAYER_CHAIN` deep.

Keys (`--key-file`): a UTF-8 text file, one key per line, `kind:value`:

    # comments and blank lines are ignored
    password:correct horse battery staple      BitLocker, LUKS, APFS or QCOW (AES) passphrase (rest of the line)
    recovery:123456-123456-...-123456          BitLocker or APFS recovery password
    keyfile:/cases/42/startup.BEK              BitLocker startup key (.BEK), or a LUKS key file (its bytes,
                                               which libluksde takes only when they are UTF-8 text)

A relative keyfile path is relative to the key file's folder. Every key is tried on every locked layer; each try
opens the layer afresh (libluksde, for one, stays locked after a wrong password). Secrets never reach a log, an
error message or a repr.

Not supported by the bindings: LUKS2 (libluksde reads LUKS1 only), binary LUKS key files, BitLocker clear keys
given as raw FVEK. Hostile images: libyal's own loops are bounded by the formats' sizes; the loops here are
bounded by MAX_LAYER_CHAIN, MAX_SHADOW_STORES, MAX_FS_ENTRIES, MAX_APFS_DEPTH and MAX_LAYER_READ (config.py); every
libyal OSError becomes an EvidenceReadError naming the layer.
"""

from __future__ import annotations

import datetime
import io
import ntpath
import os
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol, runtime_checkable

from hashwarden.config import (
    MAX_APFS_DEPTH, MAX_FS_ENTRIES, MAX_KEY_FILE_BYTES, MAX_KEYS, MAX_LAYER_CHAIN, MAX_LAYER_READ, MAX_SHADOW_STORES,
    MAX_VMDK_EXTENTS,
)
from hashwarden.errors import EvidenceReadError, FormatError
from hashwarden.evidence.folder import _open_file


KINDS = ("vmdk", "vmdk-descriptor", "vhd", "vhdx", "qcow", "luks", "bitlocker", "apfs")

_BDE_TO_GO_GUID = bytes.fromhex("3bd66749292ed84a8399f6a339e3d001")  # {4967d63b-2e29-4ad8-8399-f6a339e3d001}


@runtime_checkable
class Reader(Protocol):
    """Random access to a byte range: a disk, a volume, a layer. `read` returns fewer bytes only at the end."""

    size: int

    def read(self, offset: int, size: int) -> bytes: ...


Related = Callable[[str], BinaryIO | None]


@dataclass(frozen=True)
class Keys:
    """Keys to unlock encrypted layers, as read from a `--key-file`. The repr shows counts, never secrets."""

    passwords: tuple[str, ...] = field(default=(), repr=False)
    recovery_passwords: tuple[str, ...] = field(default=(), repr=False)
    key_files: tuple[str, ...] = field(default=(), repr=False)  # paths on this machine

    def __repr__(self) -> str:
        return (f"Keys({len(self.passwords)} passwords, {len(self.recovery_passwords)} recovery passwords, "
                f"{len(self.key_files)} key files)")

    def __bool__(self) -> bool:
        return bool(self.passwords or self.recovery_passwords or self.key_files)

    @classmethod
    def parse(cls, text: str, path: str = "<keys>") -> Keys:
        """Keys from the text of a key file (format in the module docstring); `path` names it in errors.

        Raises:
            FormatError: a line is not `password:`, `recovery:` or `keyfile:` with a value (the value is not quoted).
        """
        found: dict[str, list[str]] = {"password": [], "recovery": [], "keyfile": []}
        base = os.path.dirname(os.path.abspath(path))
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            kind, sep, value = line.partition(":")
            kind = kind.strip().lower()
            if not sep or kind not in found:
                raise FormatError("expected password:, recovery: or keyfile: followed by the key", path=path,
                                  line=number)
            value = value.strip() if kind != "password" else value.rstrip("\r\n")
            if not value:
                raise FormatError(f"empty {kind}", path=path, line=number, field=kind)
            if kind == "keyfile":
                value = os.path.join(base, os.path.expanduser(value))
            found[kind].append(value)
            if sum(map(len, found.values())) > MAX_KEYS:
                raise FormatError(f"more than {MAX_KEYS} keys", path=path, line=number)
        return cls(tuple(found["password"]), tuple(found["recovery"]), tuple(found["keyfile"]))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Keys:
        """Keys from a key file on disk.

        Raises:
            FormatError: the file cannot be read, is not UTF-8 text, or has a malformed line.
        """
        name = os.fspath(path)
        try:
            with open(name, "rb") as fp:
                data = fp.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as exc:
            raise FormatError(f"cannot read the key file: {exc.strerror or exc}", path=name) from exc
        if len(data) > MAX_KEY_FILE_BYTES:
            raise FormatError(f"key file larger than {MAX_KEY_FILE_BYTES} bytes", path=name)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FormatError("key file is not UTF-8 text", path=name, offset=exc.start) from exc
        return cls.parse(text, name)


def layer_kind(head: bytes, tail: bytes | None = None) -> str | None:
    """The layer whose signature `head` (the first 4096 bytes, or all there are) or `tail` (the last 512 bytes;
    only a fixed VHD needs it) holds: one of KINDS, or None.
    """
    if head[:4] in (b"KDMV", b"COWD"):  # hosted sparse extent; ESX sparse
        return "vmdk"
    if head.lstrip(b"\xef\xbb\xbf")[:21] == b"# Disk DescriptorFile":
        return "vmdk-descriptor"
    if head[:8] == b"vhdxfile":
        return "vhdx"
    if head[:8] == b"conectix":  # copy of the footer at the start: a dynamic or differencing VHD
        return "vhd"
    if head[:4] == b"QFI\xfb":
        return "qcow"
    if head[:6] == b"LUKS\xba\xbe":
        return "luks"
    if head[3:11] == b"-FVE-FS-" or (head[3:11] == b"MSWIN4.1" and _BDE_TO_GO_GUID in head[160:512]):
        return "bitlocker"
    if head[32:36] == b"NXSB":
        return "apfs"
    if tail is not None and len(tail) >= 511 and (tail[-512:-504] == b"conectix" or tail[-511:-503] == b"conectix"):
        return "vhd"  # fixed VHD: raw sectors, then the 512-byte footer (511 in Virtual PC 2004's images)
    return None


class FileReader:
    """A Reader over a seekable binary file object (a plain file, an archive member held in memory)."""

    def __init__(self, fileobj: BinaryIO, size: int | None = None) -> None:
        self._fp = fileobj
        self.size = fileobj.seek(0, io.SEEK_END) if size is None else size

    def read(self, offset: int, size: int) -> bytes:
        size = _bounded(offset, size, self.size, "file")
        self._fp.seek(offset)
        return self._fp.read(size)


class Window:
    """The part [offset, offset + length) of another Reader: a partition or volume inside a disk."""

    def __init__(self, reader: Reader, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > reader.size:
            raise EvidenceReadError(f"volume {offset}+{length} lies outside the disk of {reader.size} bytes")
        self._reader, self._offset, self.size = reader, offset, length

    def read(self, offset: int, size: int) -> bytes:
        size = _bounded(offset, size, self.size, "volume")
        return self._reader.read(self._offset + offset, size)


class _ReaderFile(io.RawIOBase):
    """A seekable, read-only file object over a Reader, for libyal's open_file_object and for TSK adapters."""

    def __init__(self, reader: Reader) -> None:
        super().__init__()
        self._reader = reader
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def get_size(self) -> int:  # libyal asks for this before seeking to the end
        return self._reader.size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._reader.size}[whence]
        if base + offset < 0:
            raise OSError(22, "negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        data = self._reader.read(self._pos, min(len(buffer), max(0, self._reader.size - self._pos)))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def reader_file(reader: Reader) -> BinaryIO:
    """A seekable binary file object reading `reader` (for libyal bindings, Pillow, or a TSK Img_Info adapter).

    Unbuffered: libyal reads small blocks at scattered offsets, where read-ahead would only multiply the reads of
    the layers below. Wrap it in io.BufferedReader for sequential reading.
    """
    return _ReaderFile(reader)  # type: ignore[return-value]


class LayerReader:
    """A Reader over an open libyal handle (virtual disk or unlocked volume). `name` is the layer for messages.

    It keeps the file objects the handle reads from (the image, its extents, its parents) alive and closes them
    with the handle; `alive` is only kept alive (a shadow copy store's volume, shared by its sibling stores).
    """

    def __init__(self, name: str, handle: Any, size: int, keep: list[Any], alive: tuple[Any, ...] = ()) -> None:
        self.name, self._handle, self.size, self._keep, self._alive = name, handle, size, keep, alive

    def read(self, offset: int, size: int) -> bytes:
        """Bytes [offset, offset + size), fewer only at the end.

        Raises:
            EvidenceReadError: libyal cannot read there (a corrupt table, a missing parent), with the offset.
        """
        size = _bounded(offset, size, self.size, self.name)
        if size == 0:
            return b""
        try:
            return self._handle.read_buffer_at_offset(size, offset)
        except (OSError, ValueError) as exc:
            raise EvidenceReadError(f"{self.name}: read failed: {_reason(exc)}", offset=offset) from exc

    def close(self) -> None:
        for thing in [self._handle, *self._keep]:
            try:
                thing.close()
            except (OSError, AttributeError):
                pass

    def __enter__(self) -> LayerReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sibling_files(folder: str | os.PathLike[str]) -> Related:
    """`related` for an image on disk: the file of that base name in `folder`, opened read-only without following
    a symlink (never a path a hostile descriptor spells out)."""
    root = os.fspath(folder)

    def related(name: str) -> BinaryIO | None:
        base = _base_name(name)
        if base is None:
            return None
        try:
            fd = _open_file(os.fsencode(os.path.join(root, base)), None)
        except OSError:
            return None
        return os.fdopen(fd, "rb")

    return related


def open_layer(kind: str, source: str | os.PathLike[str] | BinaryIO | Reader, *, keys: Keys | None = None,
               related: Related | None = None) -> LayerReader:
    """The virtual disk or decrypted volume of `kind` (from layer_kind) in `source` (a path, a seekable binary file
    object, or a Reader), as a Reader. `related` gives the image's other files by name (see the module docstring).

    Raises:
        EvidenceReadError: unknown kind, corrupt or truncated image, missing extent/parent/backing file, no key or
            no key that unlocks, unsupported variant (LUKS2); the message names the layer.
    """
    if kind == "apfs":
        raise EvidenceReadError("APFS container: not a disk layer; its files are read with apfs_files()")
    opener = _OPENERS.get(kind)
    if opener is None:
        raise EvidenceReadError(f"not a layer kind: {kind!r} (expected one of {', '.join(KINDS)})")
    fileobj, default_related, owned = _source_file(source)
    try:
        layer = opener(fileobj, keys or Keys(), related or default_related, 0)
    except BaseException:
        if owned:
            fileobj.close()
        raise
    if owned:
        layer._keep.append(fileobj)
    return layer


def _source_file(source: Any) -> tuple[Any, Related, bool]:
    """The file object to open, the default `related`, and whether the file object is ours to close."""
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            fd = _open_file(os.fsencode(name), None)
        except OSError as exc:
            raise EvidenceReadError(f"cannot open: {exc.strerror or exc}", location=name) from exc
        return os.fdopen(fd, "rb"), sibling_files(os.path.dirname(os.path.abspath(name))), True
    if hasattr(source, "seek"):
        return source, _nothing, False
    if isinstance(source, Reader):
        return reader_file(source), _nothing, False
    raise TypeError(f"expected a path, a binary file object or a Reader, not {type(source).__name__}")


def _nothing(name: str) -> None:
    return None


# ---- virtual disks ------------------------------------------------------------------------------------------------

def _open_vmdk(fileobj: Any, keys: Keys, related: Related, depth: int) -> LayerReader:
    import pyvmdk

    head = _peek(fileobj, 64)
    name = "VMDK" if head[:4] in (b"KDMV", b"COWD") else "VMDK descriptor"
    handle = pyvmdk.handle()
    keep: list[Any] = []
    with _opening(name, keep):
        handle.open_file_object(fileobj)
        extents = list(handle.extent_descriptors)
        if len(extents) > MAX_VMDK_EXTENTS:
            raise EvidenceReadError(f"{name}: {len(extents)} extents (more than {MAX_VMDK_EXTENTS})")
        files = []
        for extent in extents:
            filename = extent.filename or ""
            if name == "VMDK" and len(extents) == 1:
                files.append(fileobj)  # monolithic sparse: the descriptor is embedded in its only extent
                continue
            extent_file = related(filename)
            if extent_file is None:
                raise EvidenceReadError(f"{name}: extent file {_base_name(filename) or filename!r} not available")
            keep.append(extent_file)
            files.append(extent_file)
        handle.open_extent_data_files_as_file_objects(files)
        _attach_parent(handle, name, handle.parent_filename if _has_parent_vmdk(handle) else None, "vmdk",
                       keys, related, depth, keep)
        return LayerReader(name, handle, handle.get_media_size(), keep)


def _has_parent_vmdk(handle: Any) -> bool:
    try:
        return handle.get_parent_content_identifier() not in (None, 0xFFFFFFFF)
    except (OSError, ValueError):
        return False


def _open_vhd(fileobj: Any, keys: Keys, related: Related, depth: int) -> LayerReader:
    import pyvhdi

    name = "VHDX" if _peek(fileobj, 8) == b"vhdxfile" else "VHD"
    handle = pyvhdi.file()
    keep: list[Any] = []
    try:
        handle.open_file_object(fileobj)
        parent = handle.parent_filename if handle.disk_type == 4 else None  # 4: differential
        _attach_parent(handle, name, parent, "vhd", keys, related, depth, keep)
        return LayerReader(name, handle, handle.get_media_size(), keep)
    except EvidenceReadError:
        _close_all(keep)
        raise
    except (OSError, ValueError) as exc:
        _close_all(keep)
        if name == "VHD" and _peek(fileobj, 8) == b"conectix":
            raise EvidenceReadError(f"VHD: corrupt dynamic disk header: {_reason(exc)}") from exc
        raise EvidenceReadError(f"{name}: cannot open: {_reason(exc)}") from exc


def _open_qcow(fileobj: Any, keys: Keys, related: Related, depth: int) -> LayerReader:
    """A QCOW image; AES-encrypted ones with a password from `keys`.

    libqcow cannot tell a wrong AES password (the format has no key check, and is_locked() stays False), so a
    password is taken when the first 4 KiB it decrypts look like a disk (a boot sector, a GPT, a known layer).
    """
    import pyqcow

    head = _peek(fileobj, 64)
    version = int.from_bytes(head[4:8], "big")
    name = {1: "qcow", 2: "qcow2", 3: "qcow2"}.get(version, "QCOW")  # version 3 is qcow2 with compat=1.1
    crypt = int.from_bytes(head[36:40] if version == 1 else head[32:36], "big")
    if crypt not in (0, 1):
        raise EvidenceReadError(f"{name}: encryption method {crypt} (LUKS in qcow2) not supported by libqcow")
    keep: list[Any] = []
    with _opening(name, keep):
        handle = pyqcow.file()
        handle.open_file_object(fileobj)
        parent = _open_parent(name, handle.backing_filename, "qcow", keys, related, depth, keep)
        if parent is not None:
            _set_parent(handle, name, parent, "backing file")
        if crypt == 1:
            handle = _qcow_aes(name, fileobj, keys, parent)
        return LayerReader(name, handle, handle.get_media_size(), keep)


def _qcow_aes(name: str, fileobj: Any, keys: Keys, parent: LayerReader | None) -> Any:
    import pyqcow

    if not keys.passwords:
        raise EvidenceReadError(f"{name}: AES-encrypted, no key given (--key-file)")
    for password in keys.passwords[:MAX_KEYS]:
        handle = pyqcow.file()
        handle.set_password(password)
        handle.open_file_object(fileobj)
        if parent is not None:
            _set_parent(handle, name, parent, "backing file")
        if _looks_like_disk(handle.read_buffer_at_offset(min(4096, handle.get_media_size()), 0)):
            return handle
        handle.close()
    raise EvidenceReadError(f"{name}: AES-encrypted, and no key given decrypts it to a recognisable disk")


def _looks_like_disk(head: bytes) -> bool:
    """A boot sector/MBR, a GPT, an ext superblock or a layer signature: what a correct decryption shows."""
    return (head[510:512] == b"\x55\xaa" or head[512:520] == b"EFI PART" or head[1080:1082] == b"\x53\xef"
            or head[:4] == b"XFSB" or layer_kind(head) is not None)


def _attach_parent(handle: Any, name: str, parent_name: str | None, kind: str, keys: Keys, related: Related,
                   depth: int, keep: list[Any]) -> None:
    """Give a differencing VHD or VMDK its parent image, found through `related`."""
    parent = _open_parent(name, parent_name, kind, keys, related, depth, keep)
    if parent is not None:
        _set_parent(handle, name, parent, "parent image")


def _open_parent(name: str, parent_name: str | None, kind: str, keys: Keys, related: Related, depth: int,
                 keep: list[Any]) -> LayerReader | None:
    """The parent image (VHD, VMDK) or backing file (QCOW) named by a child, opened through `related`; None when
    the child names none. What is opened is appended to `keep`, the child's to close."""
    if not parent_name:
        return None
    what = {"vhd": "parent image", "qcow": "backing file", "vmdk": "parent image"}[kind]
    if depth + 1 >= MAX_LAYER_CHAIN:
        raise EvidenceReadError(f"{name}: more than {MAX_LAYER_CHAIN} {what}s in a chain")
    parent_file = related(parent_name)
    if parent_file is None:
        raise EvidenceReadError(f"{name}: {what} required: {_base_name(parent_name) or parent_name!r} not available")
    keep.append(parent_file)
    parent_kind = layer_kind(_peek(parent_file, 4096))
    if parent_kind is None and kind == "vhd":
        parent_kind = "vhd"  # a fixed VHD parent: its signature is in the footer
    if parent_kind not in {"vhd": ("vhd", "vhdx"), "qcow": ("qcow",), "vmdk": ("vmdk", "vmdk-descriptor")}[kind]:
        raise EvidenceReadError(f"{name}: {what} {_base_name(parent_name)!r} is not a {kind.upper()} image")
    parent = _OPENERS[parent_kind](parent_file, keys, related, depth + 1)
    keep.append(parent)
    return parent


def _set_parent(handle: Any, name: str, parent: LayerReader, what: str) -> None:
    try:
        handle.set_parent(parent._handle)
    except (OSError, ValueError) as exc:
        raise EvidenceReadError(f"{name}: {what} does not fit: {_reason(exc)}") from exc


# ---- encrypted volumes ----------------------------------------------------------------------------------------------

def _open_luks(fileobj: Any, keys: Keys, related: Related, depth: int) -> LayerReader:
    import pyluksde

    version = int.from_bytes(_peek(fileobj, 8)[6:8], "big")
    if version != 1:
        raise EvidenceReadError(f"LUKS{version}: not supported (libluksde reads LUKS1 volumes only)")
    try:
        handle = _unlock("LUKS", pyluksde.volume, fileobj, keys, passwords=True, key_file_text=True)
        return LayerReader("LUKS", handle, handle.get_size(), [])
    except (OSError, ValueError) as exc:
        raise EvidenceReadError(f"LUKS: cannot open: {_reason(exc)}") from exc


def _open_bitlocker(fileobj: Any, keys: Keys, related: Related, depth: int) -> LayerReader:
    import pybde

    try:
        handle = _unlock("BitLocker volume", pybde.volume, fileobj, keys, passwords=True, recovery=True,
                         startup_keys=True)
        return LayerReader("BitLocker volume", handle, handle.get_size(), [])
    except (OSError, ValueError) as exc:
        raise EvidenceReadError(f"BitLocker volume: cannot open: {_reason(exc)}") from exc


def _unlock(name: str, make: Callable[[], Any], fileobj: Any, keys: Keys, *, passwords: bool = False,
            recovery: bool = False, startup_keys: bool = False, key_file_text: bool = False) -> Any:
    """Open `fileobj` with a fresh handle per key until one unlocks it; a handle that needs no key is returned as is.

    Raises:
        EvidenceReadError: locked and no usable key given, or none of the keys unlocks it (no key is named).
        OSError: libyal cannot open the volume at all (the caller names the layer).
    """
    handle = make()
    handle.open_file_object(fileobj)
    if not handle.is_locked():
        return handle
    handle.close()
    tries: list[tuple[str, str]] = []
    if passwords:
        tries += [("set_password", p) for p in keys.passwords]
    if recovery:
        tries += [("set_recovery_password", p) for p in keys.recovery_passwords]
    for path in keys.key_files:
        if startup_keys:
            tries.append(("read_startup_key", path))
        if key_file_text:
            text = _key_file_text(path)
            if text is not None:
                tries.append(("set_password", text))
    if not tries:
        raise EvidenceReadError(f"{name}: no key given (--key-file)")
    for method, secret in tries[:MAX_KEYS]:
        handle = make()
        try:
            getattr(handle, method)(secret)
        except (OSError, ValueError):
            continue  # an unreadable or malformed startup key / recovery password: try the next key
        handle.open_file_object(fileobj)
        if not handle.is_locked():
            return handle
        handle.close()
    what, target = ("passphrase", "any key slot") if name == "LUKS" else ("key given", "it")
    raise EvidenceReadError(f"{name}: the {what} does not unlock {target}" if len(tries) == 1
                            else f"{name}: none of the {len(tries)} keys given unlocks {target}")


def _key_file_text(path: str) -> str | None:
    """A LUKS key file's bytes as the passphrase libluksde accepts (text only; binary key files are unsupported)."""
    try:
        with open(path, "rb") as fp:
            data = fp.read(MAX_KEY_FILE_BYTES + 1)
        if len(data) > MAX_KEY_FILE_BYTES or b"\0" in data:
            return None
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


_OPENERS: dict[str, Callable[[Any, Keys, Related, int], LayerReader]] = {
    "vmdk": _open_vmdk, "vmdk-descriptor": _open_vmdk, "vhd": _open_vhd, "vhdx": _open_vhd, "qcow": _open_qcow,
    "luks": _open_luks, "bitlocker": _open_bitlocker,
}


# ---- Volume Shadow Copies -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShadowCopy:
    """One Volume Shadow Copy store: the volume as it was at `created`. `name` (`vss1`, oldest first) is its
    report path component; `reader` reads the whole volume as it was."""

    index: int
    identifier: str
    copy_set_identifier: str
    created: datetime.datetime | None
    reader: Reader = field(compare=False, repr=False)

    @property
    def name(self) -> str:
        return f"vss{self.index}"


def shadow_copies(reader: Reader, volume_offset: int, volume_size: int) -> list[ShadowCopy]:
    """The shadow copy stores of the NTFS volume at [volume_offset, +volume_size) of `reader`; [] when it has none.

    Raises:
        EvidenceReadError: the volume has a VSS header but its catalog or stores cannot be read.
    """
    import pyvshadow

    fileobj = reader_file(Window(reader, volume_offset, volume_size))
    try:
        if not pyvshadow.check_volume_signature_file_object(fileobj):
            return []
        volume = pyvshadow.volume()
        volume.open_file_object(fileobj)
        count = volume.get_number_of_stores()
        if count > MAX_SHADOW_STORES:
            raise EvidenceReadError(f"VSS: {count} shadow copy stores (more than {MAX_SHADOW_STORES}): corrupt catalog",
                                    offset=volume_offset)
        copies = []
        for index in range(count):
            store = volume.get_store(index)
            copies.append(ShadowCopy(
                index=index + 1, identifier=str(store.identifier), copy_set_identifier=str(store.copy_set_identifier),
                created=_utc(store.get_creation_time()),
                reader=LayerReader(f"VSS store {index + 1}", store, store.get_volume_size(), [], (volume, fileobj))))
        return copies
    except (OSError, ValueError) as exc:
        raise EvidenceReadError(f"VSS: cannot read the shadow copies: {_reason(exc)}", offset=volume_offset) from exc


def _utc(value: datetime.datetime | None) -> datetime.datetime | None:
    return value.replace(tzinfo=datetime.timezone.utc) if value is not None and value.tzinfo is None else value


# ---- APFS -----------------------------------------------------------------------------------------------------------

_S_IFMT, _S_IFDIR, _S_IFREG, _S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000


@dataclass(frozen=True)
class ApfsFile:
    """A regular file (or symbolic link) of an APFS volume; `path` is `<volume name>/<path in the volume>`.

    A volume that stays locked gives one ApfsFile with `error` set and path `<volume name>`: `open()` raises it.
    `flags`: 'symlink' (content = the target), 'hardlink' (more than one link).
    """

    path: str
    volume: str
    identifier: int
    size: int
    mode: int
    flags: frozenset[str] = frozenset()
    error: str | None = None
    _volume: Any = field(default=None, compare=False, repr=False)

    def open(self) -> BinaryIO:
        """A read-only stream of the file's content (the target for a symbolic link).

        Raises:
            EvidenceReadError: the volume is locked, or libfsapfs cannot find or read the file.
        """
        if self.error or self._volume is None:
            raise EvidenceReadError(self.error or "APFS: volume not open", location=self.path)
        try:
            entry = self._volume.get_file_entry_by_identifier(self.identifier)
            if "symlink" in self.flags:
                return io.BytesIO(os.fsencode(entry.symbolic_link_target or ""))
        except (OSError, ValueError) as exc:
            raise EvidenceReadError(f"APFS: cannot open: {_reason(exc)}", location=self.path) from exc
        return reader_file(LayerReader("APFS file", entry, self.size, []))


def apfs_files(reader: Reader, offset: int = 0, keys: Keys | None = None) -> Iterator[ApfsFile]:
    """Every regular file and symbolic link of every volume of the APFS container at `offset` of `reader`, depth
    first; encrypted volumes unlocked with `keys` (password or recovery password).

    Raises:
        EvidenceReadError: the container cannot be opened, or a directory cannot be listed.
    """
    import pyfsapfs

    fileobj = reader_file(Window(reader, offset, reader.size - offset))
    container = pyfsapfs.container()
    try:
        container.open_file_object(fileobj)
        count = container.get_number_of_volumes()
    except (OSError, ValueError) as exc:
        raise EvidenceReadError(f"APFS container: cannot open: {_reason(exc)}", offset=offset) from exc
    seen = 0
    for index in range(count):
        try:
            volume = container.get_volume(index)
            name = volume.get_name() or f"volume{index + 1}"
        except (OSError, ValueError) as exc:
            yield ApfsFile(f"apfs{index + 1}", f"apfs{index + 1}", 0, 0, 0,
                           error=f"APFS volume {index + 1}: cannot open: {_reason(exc)}")
            continue
        name = name.replace("/", "_")
        volume = _unlock_apfs(container, index, volume, keys or Keys())
        if isinstance(volume, str):
            yield ApfsFile(name, name, 0, 0, 0, error=volume)
            continue
        for item in _walk_apfs(volume, name):
            seen += 1
            if seen > MAX_FS_ENTRIES:
                raise EvidenceReadError(f"APFS container: more than {MAX_FS_ENTRIES} entries", offset=offset)
            yield item


def _unlock_apfs(container: Any, index: int, volume: Any, keys: Keys) -> Any:
    """The volume, unlocked if it was locked, or the message of the one error for that volume."""
    label = f"APFS volume {volume.get_name() or index + 1!r}"
    if not volume.is_locked():
        return volume
    tries = [("set_password", p) for p in keys.passwords] + \
            [("set_recovery_password", p) for p in keys.recovery_passwords]
    if not tries:
        return f"{label}: encrypted, no key given (--key-file)"
    for method, secret in tries[:MAX_KEYS]:
        try:
            fresh = container.get_volume(index)  # a new handle per try: a failed unlock may stick to a handle
            getattr(fresh, method)(secret)
            if fresh.unlock():
                return fresh
        except (OSError, ValueError):
            continue
    return f"{label}: none of the {len(tries)} keys given unlocks it"


def _walk_apfs(volume: Any, name: str) -> Iterator[ApfsFile]:
    try:
        root = volume.get_root_directory()
    except (OSError, ValueError) as exc:
        raise EvidenceReadError(f"APFS volume {name!r}: no root directory: {_reason(exc)}") from exc
    stack: list[tuple[Any, str, int]] = [(root, "", 0)]
    visited = {root.identifier}
    while stack:
        directory, path, depth = stack.pop()
        try:
            count = directory.get_number_of_sub_file_entries()
            children = [directory.get_sub_file_entry(i) for i in range(count)]
        except (OSError, ValueError) as exc:
            raise EvidenceReadError(f"APFS volume {name!r}: cannot list {path or '/'}: {_reason(exc)}") from exc
        for child in children:
            try:
                child_name, mode, identifier = child.name or "", child.file_mode or 0, child.identifier
                child_name = child_name.replace("/", "_")
                child_path = f"{path}/{child_name}" if path else child_name
                if mode & _S_IFMT == _S_IFDIR:
                    if identifier not in visited and depth + 1 < MAX_APFS_DEPTH:
                        visited.add(identifier)
                        stack.append((child, child_path, depth + 1))
                    continue
                if mode & _S_IFMT not in (_S_IFREG, _S_IFLNK):
                    continue  # devices, sockets, FIFOs: no content
                flags = set()
                if mode & _S_IFMT == _S_IFLNK:
                    flags.add("symlink")
                if (child.number_of_links or 1) > 1:
                    flags.add("hardlink")
                size = len(os.fsencode(child.symbolic_link_target or "")) if "symlink" in flags else child.size
                yield ApfsFile(f"{name}/{child_path}", name, identifier, size, mode, frozenset(flags),
                               _volume=volume)
            except (OSError, ValueError) as exc:
                yield ApfsFile(f"{name}/{path}/?" if path else f"{name}/?", name, 0, 0, 0,
                               error=f"APFS volume {name!r}: unreadable entry in {path or '/'}: {_reason(exc)}")


# ---- helpers --------------------------------------------------------------------------------------------------------

def _bounded(offset: int, size: int, total: int, name: str) -> int:
    """`size` cut at the end of the layer; a negative offset or a read above MAX_LAYER_READ is refused."""
    if offset < 0 or size < 0:
        raise EvidenceReadError(f"{name}: negative read position", offset=offset)
    if size > MAX_LAYER_READ:
        raise EvidenceReadError(f"{name}: read of {size} bytes (more than {MAX_LAYER_READ} at once)", offset=offset)
    return max(0, min(size, total - offset))


def _peek(fileobj: Any, size: int) -> bytes:
    try:
        fileobj.seek(0)
        return fileobj.read(size)
    except (OSError, ValueError):
        return b""


def _base_name(name: str) -> str | None:
    """The last component of a name written on Windows or POSIX; None for '', '.' or '..'."""
    base = posixpath.basename(ntpath.basename(name.replace("\0", "")))
    return None if base in ("", ".", "..") else base


def _reason(exc: BaseException) -> str:
    """libyal's message without its chain of function names: the last, most specific clause that says why."""
    text = str(exc.args[0]) if exc.args else str(exc)
    clauses = [c.strip() for c in text.split(". ") if c.strip()]
    described = [c.split(": ", 1)[1] if ": " in c else c for c in clauses]
    return "; ".join(dict.fromkeys(described))[:300] or type(exc).__name__


@contextmanager
def _opening(name: str, keep: list[Any]) -> Iterator[None]:
    """Opening a layer: on failure, whatever it had opened (extents, parents) is closed, and a libyal error is an
    EvidenceReadError naming the layer."""
    try:
        yield
    except EvidenceReadError:
        _close_all(keep)
        raise
    except (OSError, ValueError) as exc:
        _close_all(keep)
        raise EvidenceReadError(f"{name}: cannot open: {_reason(exc)}") from exc


def _close_all(things: list[Any]) -> None:
    for thing in things:
        try:
            thing.close()
        except (OSError, AttributeError):
            pass


__all__ = ["KINDS", "ApfsFile", "FileReader", "Keys", "LayerReader", "Reader", "Related", "ShadowCopy", "Window",
           "apfs_files", "layer_kind", "open_layer", "reader_file", "shadow_copies", "sibling_files"]
