"""Virtual disks, encrypted volumes, APFS and shadow copies as a scan sees them: every one a source like any other,
nested in archives too, with the files found and their digests equal to what was planted or what dfVFS/plaso state."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

from hashwarden.config import ScanSettings
from hashwarden.scan import run_scan
from tests.evidence.test_layers import PASSPHRASE, disks, unxz  # noqa: F401 - `disks` is a fixture

# mformat writes a DOS partition entry covering its own FAT, so TSK (and hashwarden) number it p1
PNG = "p1/gradient.png"


def scan(folder: Path, out: Path, store, **settings) -> dict[str, dict]:
    run_scan([str(folder)], "LAYERS", out, store, ScanSettings(allow_empty=True, workers=1, verify_after=False, **settings))
    return {item["path"]: item for item in json.loads((out / "report.json").read_text())["items"]}


def test_virtual_disks_as_files_and_inside_an_archive(disks, tmp_path: Path, fresh_store) -> None:
    work, md5 = disks["work"], disks["planted"]["/gradient.png"]
    folder = tmp_path / "seized"
    folder.mkdir()
    for name in ("disk.vmdk", "disk.vhdx", "dynamic.vhd", "disk.qcow2", "fixed.vhd"):
        shutil.copy(work / name, folder / name)
    with zipfile.ZipFile(folder / "vm.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(work / "disk.vhdx", "vm/disk.vhdx")
    items = scan(folder, tmp_path / "out", fresh_store)
    for path in ("disk.vmdk", "disk.vhdx", "dynamic.vhd", "disk.qcow2", "fixed.vhd", "vm.zip!/vm/disk.vhdx"):
        assert items[f"{path}/{PNG}"]["md5"] == md5, path
        assert items[path].get("error") is None, (path, items[path].get("error"))
    assert items[f"vm.zip!/vm/disk.vhdx/{PNG}"]["container"] == ["vm.zip", "vm.zip!/vm/disk.vhdx"]


def test_luks_volume_opened_with_the_key_file_and_refused_without(disks, tmp_path: Path, fresh_store) -> None:
    folder = tmp_path / "seized"
    folder.mkdir()
    shutil.copy(disks["work"] / "luks.img", folder / "luks.img")
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# case 42\npassword:wrong guess\npassword:{PASSPHRASE}\n")
    items = scan(folder, tmp_path / "with", fresh_store, key_file=str(keys))
    assert items[f"luks.img/{PNG}"]["md5"] == disks["planted"]["/gradient.png"]
    locked = scan(folder, tmp_path / "without", fresh_store)
    assert not any(path.startswith("luks.img/") and item.get("md5") for path, item in locked.items())
    errors = [item["error"] for path, item in locked.items() if path.startswith("luks.img") and item.get("error")]
    assert errors == ["LUKS: no key given (--key-file)"]
    assert PASSPHRASE not in json.dumps(locked) and PASSPHRASE not in json.dumps(items)


def test_apfs_container_files_are_items(tmp_path: Path, fresh_store) -> None:
    folder = tmp_path / "seized"
    folder.mkdir()
    unxz("apfs.raw.xz", folder)
    items = scan(folder, tmp_path / "out", fresh_store)
    assert items["apfs.raw/apfs_test/passwords.txt"]["md5"] == "39cb097008d17660abd0539891a672af"
    assert items["apfs.raw/apfs_test/a_directory/another_file"]["md5"] == "d54ff73404ed6041a3bd66850b061bff"
    assert items["apfs.raw/apfs_test/a_link"]["link"] == "a_directory/another_file"
    assert items["apfs.raw/apfs_test/a_link"]["md5"] is None


def test_volume_shadow_copies_give_earlier_versions(tmp_path: Path, fresh_store) -> None:
    """plaso's vsstest.qcow2: /syslog was deleted from the NTFS volume but is in its oldest shadow copy."""
    folder = tmp_path / "seized"
    folder.mkdir()
    unxz("vsstest.qcow2.xz", folder)
    items = scan(folder, tmp_path / "out", fresh_store)
    assert "vsstest.qcow2/syslog" not in items
    assert items["vsstest.qcow2/$vss1/syslog"]["md5"] == "8b32710e60ce9f650b8b4dcc2b3ee927"
    assert items["vsstest.qcow2/$vss2/syslog.gz"]["md5"] == "69075a6252d60c09086e2f247aa07203"
    assert items["vsstest.qcow2/another_file"]["md5"] == "d54ff73404ed6041a3bd66850b061bff"
    assert hashlib.md5(b"").hexdigest() not in {items["vsstest.qcow2/$vss1/syslog"]["md5"]}
