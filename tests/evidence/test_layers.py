"""Layers under the file systems: virtual disks built here by qemu-img from a FAT holding a generated PNG (VMDK
sparse and descriptor + flat extent, VHD dynamic and fixed, VHDX, qcow2 plain, AES-encrypted and with a backing
file), a LUKS1 volume built by cryptsetup without device-mapper, and dfVFS/plaso test images for what Debian cannot
build (Volume Shadow Copies, APFS, a differencing VHD); see tests/data/dfvfs/NOTICE. Each is read back byte for
byte, and The Sleuth Kit finds the planted file through the layer."""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pytsk3
from PIL import Image

from hashwarden.errors import EvidenceReadError, FormatError
from hashwarden.evidence import disk_image, layers
from hashwarden.evidence.layers import FileReader, Keys, Window, apfs_files, layer_kind, open_layer, shadow_copies

DATA = Path(__file__).resolve().parents[1] / "data" / "dfvfs"
TOOLS = ["qemu-img", "cryptsetup", "mformat", "mcopy"]
ENV = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin", "MTOOLS_SKIP_CHECK": "1"}
PASSPHRASE = "benign-TEST"

# (file name, qemu-img options, layer_kind, open_layer name)
QEMU = [
    ("disk.vmdk", ["-O", "vmdk"], "vmdk"),
    ("flat.vmdk", ["-O", "vmdk", "-o", "subformat=monolithicFlat"], "vmdk-descriptor"),
    ("split.vmdk", ["-O", "vmdk", "-o", "subformat=twoGbMaxExtentSparse"], "vmdk-descriptor"),
    ("dynamic.vhd", ["-O", "vpc"], "vhd"),
    ("fixed.vhd", ["-O", "vpc", "-o", "subformat=fixed"], "vhd"),
    ("disk.vhdx", ["-O", "vhdx"], "vhdx"),
    ("disk.qcow2", ["-O", "qcow2"], "qcow"),
]


def run(*command: str, cwd: Path, stdin: str | None = None) -> None:
    subprocess.run(command, cwd=cwd, env=ENV, input=stdin, text=True, check=True, capture_output=True)


def TskImage(reader: layers.Reader):  # noqa: N802 - TSK reading through a layer, as the scan does
    return disk_image.TskImage(reader, reader.size)


def tsk_files(reader: layers.Reader, offset: int = 0) -> dict[str, str]:
    """{path: md5} of the allocated regular files of the file system at `offset`, skipping NTFS metadata files."""
    fs = pytsk3.FS_Info(TskImage(reader), offset=offset)
    found: dict[str, str] = {}
    stack = [("", fs.open_dir("/"))]
    while stack:
        path, directory = stack.pop()
        for entry in directory:
            name = entry.info.name.name.decode()
            meta = entry.info.meta
            if name in (".", "..") or name.startswith("$") or meta is None:
                continue
            if meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
                if name != "System Volume Information":
                    stack.append((f"{path}/{name}", entry.as_directory()))
            elif meta.type == pytsk3.TSK_FS_META_TYPE_REG and entry.info.name.flags & pytsk3.TSK_FS_NAME_FLAG_ALLOC:
                found[f"{path}/{name}"] = hashlib.md5(entry.read_random(0, meta.size) if meta.size else b"").hexdigest()
    return found


def unxz(name: str, folder: Path) -> Path:
    target = folder / name.removesuffix(".xz")
    target.write_bytes(lzma.decompress((DATA / name).read_bytes()))
    return target


@pytest.fixture(scope="module")
def disks(tmp_path_factory) -> dict:
    """A FAT holding a generated gradient PNG, as raw and in every format qemu-img and cryptsetup write here."""
    missing = [t for t in TOOLS if not shutil.which(t, path=ENV["PATH"])]
    if missing:
        pytest.fail(f"tools missing (make test installs them): {missing}")
    work = tmp_path_factory.mktemp("layers")
    ramp = np.linspace(0, 255, 96, dtype=np.uint8)
    Image.fromarray(np.dstack([np.tile(ramp, (64, 1)), np.tile(ramp[:64, None], (1, 96)),
                               np.full((64, 96), 128, np.uint8)])).save(work / "gradient.png")
    png_md5 = hashlib.md5((work / "gradient.png").read_bytes()).hexdigest()
    run("truncate", "-s", "8M", "fat.img", cwd=work)
    run("mformat", "-i", "fat.img", "::", cwd=work)
    run("mcopy", "-i", "fat.img", "gradient.png", "::/", cwd=work)
    for name, options, _ in QEMU:
        run("qemu-img", "convert", "-f", "raw", *options, "fat.img", name, cwd=work)
    run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "disk.qcow2", "-F", "qcow2", "child.qcow2", cwd=work)
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "--object", f"secret,id=s0,data={PASSPHRASE}",
        "-o", "encrypt.format=aes,encrypt.key-secret=s0", "fat.img", "aes.qcow2", cwd=work)
    # LUKS without device-mapper: LUKS2 offline encryption of the file in place, then converted to LUKS1
    # (libluksde reads LUKS1 only). The FAT is the start of the 10 MiB decrypted volume.
    shutil.copy(work / "fat.img", work / "luks.img")
    run("truncate", "-s", "12M", "luks.img", cwd=work)
    run("cryptsetup", "reencrypt", "--encrypt", "--type", "luks2", "--reduce-device-size", "4M", "--batch-mode",
        "--key-file", "-", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-size", "256",
        "luks.img", cwd=work, stdin=PASSPHRASE)
    shutil.copy(work / "luks.img", work / "luks2.img")
    run("cryptsetup", "convert", "--type", "luks1", "--batch-mode", "luks.img", cwd=work)
    return {"work": work, "raw": (work / "fat.img").read_bytes(), "planted": {"/gradient.png": png_md5}}


def whole(reader: layers.Reader) -> bytes:
    return b"".join(reader.read(offset, 1 << 20) for offset in range(0, reader.size, 1 << 20))


def assert_raw(data: bytes, raw: bytes) -> None:
    """The layer's bytes are the raw image (VHD rounds the size up to its CHS geometry with zeros)."""
    assert len(data) >= len(raw)
    assert hashlib.sha256(data[: len(raw)]).hexdigest() == hashlib.sha256(raw).hexdigest()
    assert not data[len(raw):].strip(b"\0")


@pytest.mark.parametrize(("name", "kind"), [(n, k) for n, _, k in QEMU] + [("child.qcow2", "qcow"),
                                                                          ("luks.img", "luks"), ("fat.img", None)])
def test_layer_kind_recognises_each_format(disks, name, kind):
    data = (disks["work"] / name).read_bytes()
    assert layer_kind(data[:4096], data[-512:]) == kind


def test_fixed_vhd_needs_the_tail(disks):
    data = (disks["work"] / "fixed.vhd").read_bytes()
    assert layer_kind(data[:4096]) is None  # raw FAT sectors at the start
    assert layer_kind(data[:4096], data[-512:]) == "vhd"


def test_layer_kind_of_headers_built_here():
    bitlocker = b"\xebR\x90-FVE-FS-" + bytes(4085)
    to_go_guid = bytes.fromhex("3bd66749292ed84a8399f6a339e3d001")
    to_go = b"\xebX\x90MSWIN4.1" + bytes(413) + to_go_guid + bytes(3656)
    fat32 = b"\xebX\x90MSWIN4.1" + bytes(4085)
    apfs = bytes(32) + b"NXSB" + bytes(4060)
    assert [layer_kind(h) for h in (bitlocker, to_go, fat32, apfs)] == ["bitlocker", "bitlocker", None, "apfs"]
    assert layer_kind(b"\xef\xbb\xbf# Disk DescriptorFile\nversion=1\n") == "vmdk-descriptor"
    assert layer_kind(b"") is None


@pytest.mark.parametrize("name", [n for n, _, _ in QEMU] + ["child.qcow2"])
def test_open_layer_gives_the_raw_image_and_tsk_finds_the_png(disks, name):
    data = (disks["work"] / name).read_bytes()
    with open_layer(layer_kind(data[:4096], data[-512:]), disks["work"] / name) as reader:
        assert_raw(whole(reader), disks["raw"])
        assert tsk_files(reader) == disks["planted"]


@pytest.mark.parametrize("name", ["disk.vmdk", "dynamic.vhd", "fixed.vhd", "disk.vhdx", "disk.qcow2"])
def test_single_file_images_open_from_a_file_object(disks, name):
    data = (disks["work"] / name).read_bytes()
    reader = open_layer(layer_kind(data[:4096], data[-512:]), io.BytesIO(data))
    assert_raw(whole(reader), disks["raw"])
    assert tsk_files(reader) == disks["planted"]


def test_vmdk_descriptor_as_file_object_names_the_missing_extent(disks):
    descriptor = (disks["work"] / "flat.vmdk").read_bytes()
    with pytest.raises(EvidenceReadError, match="VMDK descriptor: extent file 'flat-flat.vmdk' not available"):
        open_layer("vmdk-descriptor", io.BytesIO(descriptor))
    extents = {"flat-flat.vmdk": (disks["work"] / "flat-flat.vmdk").read_bytes()}
    reader = open_layer("vmdk-descriptor", io.BytesIO(descriptor),
                        related=lambda name: io.BytesIO(extents[name]) if name in extents else None)
    assert_raw(whole(reader), disks["raw"])


def test_extent_names_resolve_only_inside_the_image_folder(disks, tmp_path):
    """A descriptor naming an absolute path or ../ reads the file of that base name beside it, nothing else."""
    inside = tmp_path / "case"
    inside.mkdir()
    shutil.copy(disks["work"] / "flat-flat.vmdk", tmp_path / "outside-flat.vmdk")  # beside the folder, not in it
    shutil.copy(disks["work"] / "flat-flat.vmdk", inside / "inside-flat.vmdk")
    text = (disks["work"] / "flat.vmdk").read_text(errors="replace").split("\0")[0]
    (inside / "a.vmdk").write_text(text.replace('"flat-flat.vmdk"', f'"{disks["work"]}/../x/inside-flat.vmdk"'))
    assert_raw(whole(open_layer("vmdk-descriptor", inside / "a.vmdk")), disks["raw"])
    (inside / "b.vmdk").write_text(text.replace('"flat-flat.vmdk"', '"../outside-flat.vmdk"'))
    with pytest.raises(EvidenceReadError, match="extent file 'outside-flat.vmdk' not available"):
        open_layer("vmdk-descriptor", inside / "b.vmdk")


def test_qcow2_backing_file_from_the_folder_or_required(disks):
    child = disks["work"] / "child.qcow2"
    assert_raw(whole(open_layer("qcow", child)), disks["raw"])
    with pytest.raises(EvidenceReadError, match="qcow2: backing file required: 'disk.qcow2' not available"):
        open_layer("qcow", io.BytesIO(child.read_bytes()))


@pytest.mark.parametrize(("keys", "message"), [
    (None, "qcow2: AES-encrypted, no key given"),
    (Keys(passwords=("wrong",)), "qcow2: AES-encrypted, and no key given decrypts it"),
])
def test_aes_qcow2_without_the_right_key(disks, keys, message):
    with pytest.raises(EvidenceReadError, match=message):
        open_layer("qcow", disks["work"] / "aes.qcow2", keys=keys)


def test_aes_qcow2_with_the_password(disks):
    """libqcow accepts any AES password (no key check): the right one is the one giving a disk."""
    reader = open_layer("qcow", disks["work"] / "aes.qcow2", keys=Keys(passwords=("wrong", PASSPHRASE)))
    assert_raw(whole(reader), disks["raw"])
    assert tsk_files(reader) == disks["planted"]


def test_differencing_vhd_from_dfvfs_reads_through_its_parent(tmp_path):
    parent = unxz("image.vhd.xz", tmp_path)
    child = unxz("image-differential.vhd.xz", tmp_path)
    assert layer_kind(child.read_bytes()[:4096]) == "vhd"
    with open_layer("vhd", child) as reader, open_layer("vhd", parent) as base:
        assert reader.size == base.size == 104448
        assert whole(reader) == whole(base)
    with pytest.raises(EvidenceReadError, match="VHD: parent image required: 'image.vhd' not available"):
        open_layer("vhd", io.BytesIO(child.read_bytes()))


def test_luks1_unlocks_with_the_passphrase_from_a_path_a_file_object_or_a_key_file(disks, tmp_path):
    luks = disks["work"] / "luks.img"
    keys = Keys(passwords=("wrong", PASSPHRASE))  # a wrong key first: each try opens afresh
    reader = open_layer("luks", luks, keys=keys)
    assert reader.size == 10 << 20
    assert reader.read(0, len(disks["raw"])) == disks["raw"]
    assert tsk_files(reader) == disks["planted"]
    assert tsk_files(open_layer("luks", io.BytesIO(luks.read_bytes()), keys=keys)) == disks["planted"]
    (tmp_path / "secret.key").write_text(PASSPHRASE)
    (tmp_path / "keys.txt").write_text("keyfile:secret.key\n")
    assert tsk_files(open_layer("luks", luks, keys=Keys.read(tmp_path / "keys.txt"))) == disks["planted"]


def test_luks_inside_a_virtual_disk(disks):
    """Layers nest through the Reader protocol: a LUKS volume read from a qcow2 image."""
    work = disks["work"]
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", "luks.img", "luks.qcow2", cwd=work)
    outer = open_layer("qcow", work / "luks.qcow2")
    assert layer_kind(outer.read(0, 4096)) == "luks"
    inner = open_layer("luks", outer, keys=Keys(passwords=(PASSPHRASE,)))
    assert tsk_files(inner) == disks["planted"]


@pytest.mark.parametrize(("keys", "message"), [
    (None, "LUKS: no key given \\(--key-file\\)"),
    (Keys(passwords=("wrong",)), "LUKS: the passphrase does not unlock any key slot"),
    (Keys(passwords=("a", "b"), recovery_passwords=("1-2",)), "LUKS: none of the 2 keys given unlocks any key slot"),
])
def test_luks_without_the_right_key(disks, keys, message):
    with pytest.raises(EvidenceReadError, match=message) as caught:
        open_layer("luks", disks["work"] / "luks.img", keys=keys)
    assert "wrong" not in str(caught.value)


def test_luks2_is_refused_clearly(disks):
    assert layer_kind((disks["work"] / "luks2.img").read_bytes()[:4096]) == "luks"
    with pytest.raises(EvidenceReadError, match="LUKS2: not supported"):
        open_layer("luks", disks["work"] / "luks2.img", keys=Keys(passwords=(PASSPHRASE,)))


def test_bitlocker_header_that_libbde_cannot_open_is_an_evidence_error():
    """No BitLocker volume can be built on Debian and dfVFS's bdetogo.raw was not in its snapshot: this checks only
    that a BitLocker signature over garbage gives a named error, not a crash."""
    fake = b"\xebR\x90-FVE-FS-" + bytes(4085) + os.urandom(60_000)
    with pytest.raises(EvidenceReadError, match="^BitLocker volume: "):
        open_layer("bitlocker", io.BytesIO(fake), keys=Keys(passwords=("x",)))


def test_volume_shadow_copies_hold_what_was_deleted(tmp_path):
    """plaso's vsstest.qcow2: an NTFS volume with two stores; /syslog exists only in the first (oldest)."""
    disk = open_layer("qcow", unxz("vsstest.qcow2.xz", tmp_path))
    current = tsk_files(disk)
    copies = shadow_copies(disk, 0, disk.size)
    assert [(c.name, c.identifier, c.created.isoformat(timespec="seconds")) for c in copies] == [
        ("vss1", "600f0b69-5bdf-11e3-9d6c-005056c00008", "2013-12-03T06:35:09+00:00"),
        ("vss2", "600f0b6d-5bdf-11e3-9d6c-005056c00008", "2013-12-03T06:37:48+00:00"),
    ]
    first, second = (tsk_files(c.reader) for c in copies)
    assert "/syslog" not in current
    assert first["/syslog"] == "8b32710e60ce9f650b8b4dcc2b3ee927"
    # another_file and syslog.gz are plaso test_data files: the same md5 as plaso ships them
    assert second["/another_file"] == current["/another_file"] == "d54ff73404ed6041a3bd66850b061bff"
    assert second["/syslog.gz"] == "69075a6252d60c09086e2f247aa07203"
    assert "/password.txt" in current and "/password.txt" not in second


def test_a_volume_without_shadow_copies_has_none(disks):
    assert shadow_copies(FileReader(io.BytesIO(disks["raw"])), 0, len(disks["raw"])) == []


def test_tsk_here_cannot_open_apfs(tmp_path):
    """Why apfs_files exists: the PyPI pytsk3 opens APFS only from a pool image, and has no pool API."""
    with pytest.raises(OSError, match="Not a pool image"):
        pytsk3.FS_Info(pytsk3.Img_Info(str(unxz("apfs.raw.xz", tmp_path))), type=pytsk3.TSK_FS_TYPE_APFS)


def test_apfs_files_of_dfvfs_image(tmp_path):
    """dfVFS's apfs.raw (identifiers and sizes as dfVFS's tests state them; another_file as plaso ships it)."""
    raw = unxz("apfs.raw.xz", tmp_path)
    assert layer_kind(raw.read_bytes()[:4096]) == "apfs"
    with open(raw, "rb") as fp:
        found = {f.path: f for f in apfs_files(FileReader(fp))}
        content = {path: hashlib.md5(f.open().read()).hexdigest() for path, f in found.items()}
    assert {p: (f.identifier, f.size, sorted(f.flags)) for p, f in found.items() if "fseventsd" not in p} == {
        "apfs_test/passwords.txt": (18, 116, []),
        "apfs_test/a_link": (20, 24, ["symlink"]),
        "apfs_test/a_directory/a_file": (17, 53, []),
        "apfs_test/a_directory/another_file": (19, 22, []),
        "apfs_test/a_directory/a_resourcefork": (23, 0, []),
    }
    assert content["apfs_test/a_directory/another_file"] == "d54ff73404ed6041a3bd66850b061bff"
    assert content["apfs_test/a_directory/a_file"] == "85bebf486af24792085f769afa46717d"
    assert content["apfs_test/passwords.txt"] == "39cb097008d17660abd0539891a672af"
    assert found["apfs_test/a_link"].open().read() == b"a_directory/another_file"


def test_apfs_container_at_an_offset_inside_a_disk(tmp_path):
    raw = unxz("apfs.raw.xz", tmp_path).read_bytes()
    disk = FileReader(io.BytesIO(bytes(1 << 20) + raw))
    assert len([f for f in apfs_files(disk, 1 << 20) if not f.error]) == 8


def test_apfs_garbage_is_an_evidence_error():
    with pytest.raises(EvidenceReadError, match="^APFS container: cannot open"):
        list(apfs_files(FileReader(io.BytesIO(bytes(32) + b"NXSB" + os.urandom(100_000)))))


@pytest.mark.parametrize(("name", "cut", "message"), [
    ("disk.vmdk", 600, "^VMDK: "),
    ("dynamic.vhd", 1600, "^VHD: corrupt dynamic disk header"),
    ("disk.vhdx", 70_000, "^VHDX: "),
    ("disk.qcow2", 100, "^qcow2: "),
    ("luks.img", 300, "^LUKS: "),
])
def test_truncated_images_give_named_errors(disks, name, cut, message):
    data = (disks["work"] / name).read_bytes()[:cut]
    with pytest.raises(EvidenceReadError, match=message):
        reader = open_layer(layer_kind(data[:4096]), io.BytesIO(data), keys=Keys(passwords=(PASSPHRASE,)))
        whole(reader)


def test_reads_are_bounded(disks):
    reader = open_layer("qcow", disks["work"] / "disk.qcow2")
    assert reader.read(reader.size - 10, 100) == bytes(10)
    assert reader.read(reader.size + 5, 100) == b""
    with pytest.raises(EvidenceReadError, match="negative"):
        reader.read(-1, 10)
    with pytest.raises(EvidenceReadError, match="more than"):
        reader.read(0, layers.MAX_LAYER_READ + 1)
    with pytest.raises(EvidenceReadError, match="outside the disk"):
        Window(reader, reader.size - 10, 11)


def test_keys_file_format(tmp_path):
    (tmp_path / "keys.txt").write_text(
        "# case 42\n\npassword: two words \nrecovery: 111111-222222\nkeyfile:startup.BEK\nPASSWORD:x\n")
    keys = Keys.read(tmp_path / "keys.txt")
    assert keys.passwords == (" two words ", "x")
    assert keys.recovery_passwords == ("111111-222222",)
    assert keys.key_files == (str(tmp_path / "startup.BEK"),)
    assert "two words" not in repr(keys) and "111111" not in repr(keys)
    assert not Keys() and keys


@pytest.mark.parametrize(("text", "line"), [("password:ok\nhunter2\n", 2), ("pin:1234\n", 1), ("recovery:\n", 1)])
def test_keys_file_errors_name_the_line_not_the_secret(tmp_path, text, line):
    (tmp_path / "keys.txt").write_text(text)
    with pytest.raises(FormatError) as caught:
        Keys.read(tmp_path / "keys.txt")
    assert caught.value.line == line
    assert "hunter2" not in str(caught.value) and "1234" not in str(caught.value)


def test_unknown_kind_and_apfs_refused_by_open_layer(disks):
    with pytest.raises(EvidenceReadError, match="not a layer kind"):
        open_layer("zip", io.BytesIO(b""))
    with pytest.raises(EvidenceReadError, match="apfs_files"):
        open_layer("apfs", io.BytesIO(b""))


@pytest.mark.parametrize("name", ["disk.vmdk", "dynamic.vhd", "disk.vhdx", "disk.qcow2", "aes.qcow2", "luks.img",
                                  "apfs.raw", "vsstest.qcow2"])
def test_damaged_headers_give_evidence_errors_or_data_never_anything_else(disks, tmp_path, name):
    """Hostile evidence: bytes of the first 64 KiB overwritten (seeded); every outcome is data or EvidenceReadError."""
    path = unxz(f"{name}.xz", tmp_path) if name in ("apfs.raw", "vsstest.qcow2") else disks["work"] / name
    base = path.read_bytes()
    rng = np.random.default_rng(14)
    for _ in range(25):
        data = bytearray(base)
        for position in rng.integers(0, min(len(data), 1 << 16), size=int(rng.integers(1, 20))):
            data[position] = int(rng.integers(0, 256))
        try:
            if name == "apfs.raw":
                for item in apfs_files(FileReader(io.BytesIO(data))):
                    if not item.error:
                        item.open().read(1 << 20)
            else:
                reader = open_layer(layer_kind(bytes(data[:4096])) or "qcow", io.BytesIO(data),
                                    keys=Keys(passwords=(PASSPHRASE,)))
                whole(Window(reader, 0, min(reader.size, 8 << 20)))
                if name == "vsstest.qcow2":
                    for copy in shadow_copies(reader, 0, reader.size):
                        copy.reader.read(0, 1 << 16)
        except EvidenceReadError as exc:
            assert str(exc)
