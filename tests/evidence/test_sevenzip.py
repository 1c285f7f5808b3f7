"""7z through 7-Zip (evidence/sevenzip.py): damaged archives give up only what is damaged, in words; codecs and
multi-volume sets libarchive cannot read are read; without 7-Zip, libarchive reads what it can."""

from __future__ import annotations

import hashlib
import json
import lzma
import shutil
from pathlib import Path

from hashwarden.config import ScanSettings
from hashwarden.evidence import sevenzip
from hashwarden.scan import run_scan

PY7ZR = Path(__file__).resolve().parents[1] / "data" / "third_party" / "py7zr"


def scan(names: list[str], tmp_path: Path, store) -> dict[str, dict]:
    folder = tmp_path / "seized"
    folder.mkdir(exist_ok=True)
    for name in names:
        if (PY7ZR / name).exists():
            shutil.copy(PY7ZR / name, folder / name)
        else:
            (folder / name).write_bytes(lzma.decompress((PY7ZR / f"{name}.xz").read_bytes()))
    out = tmp_path / f"out{len(list(tmp_path.glob('out*')))}"
    run_scan([str(folder)], "7Z", out, store, ScanSettings(allow_empty=True, workers=1, verify_after=False))
    return {item["path"]: item for item in json.loads((out / "report.json").read_text())["items"]}


def test_damaged_solid_block_gives_up_only_the_damaged_member(tmp_path: Path, fresh_store) -> None:
    """py7zr's data_corrupted.7z: 7-Zip recovers 2 of 3 members; the third is an error in words."""
    items = scan(["data_corrupted.7z"], tmp_path, fresh_store)
    assert items["data_corrupted.7z!/scripts/py7zr"]["md5"] == "f1ca193054119ab581e1e8b23ee50676"
    assert items["data_corrupted.7z!/setup.cfg"]["md5"] == "d6f99d83fec1144665dc5883c43c9e96"
    damaged = items["data_corrupted.7z!/setup.py"]
    assert damaged["status"] == "error" and damaged["md5"] is None
    assert damaged["error"].startswith("read failed: 7-Zip could not decompress it (") and "setup.py" in damaged["error"]
    assert "(" not in damaged["error"][:5] and "Errno" not in damaged["error"]


def test_crc_mismatch_is_named_per_member(tmp_path: Path, fresh_store) -> None:
    items = scan(["crc_corrupted.7z"], tmp_path, fresh_store)
    members = {p: i for p, i in items.items() if p.startswith("crc_corrupted.7z!/")}
    assert len(members) == 3
    for path, item in members.items():
        assert item["status"] == "error" and item["md5"] is None
        assert item["error"].startswith("read failed") and "CRC mismatch in member" in item["error"], item["error"]


def test_codecs_and_multi_volume_sets_libarchive_cannot_read(tmp_path: Path, fresh_store) -> None:
    items = scan(["deflate64.7z", "archive.7z.001", "archive.7z.002"], tmp_path, fresh_store)
    deflate64 = [i for p, i in items.items() if p.startswith("deflate64.7z!/")]
    assert len(deflate64) == 20 and all(i["md5"] and not i.get("error") for i in deflate64)
    volumes = [p for p in items if p.startswith("archive.7z.001!/")]
    assert len(volumes) >= 12 and items["archive.7z.001!/mingw64/include/szlib.h"]["md5"] == \
        "668e4e47d00941b0865b421e33314f62"


def test_without_seven_zip_libarchive_reads_it(tmp_path: Path, fresh_store, monkeypatch) -> None:
    monkeypatch.setattr(sevenzip, "seven_zip", lambda: None)
    items = scan(["copy.7z", "data_corrupted.7z"], tmp_path, fresh_store)
    assert any(p.startswith("copy.7z!/") and i["md5"] for p, i in items.items())
    assert items["data_corrupted.7z!/scripts/py7zr"]["status"] == "error"  # libarchive recovers less


def test_a_part_without_its_other_volumes_says_so(tmp_path: Path, fresh_store) -> None:
    items = scan(["archive.7z.001"], tmp_path, fresh_store)
    error = items["archive.7z.001"]["error"]
    assert error.startswith("7-Zip: ") and error.endswith(  # 7-Zip's own words, then ours
        "; its directory lies beyond the end of this file: a part of a multi-volume archive (.7z.001) whose other "
        "parts are missing, or a truncated archive"), error
    assert hashlib.md5(b"").hexdigest() not in {i.get("md5") for p, i in items.items() if "!/" in p}


def test_a_listing_too_long_to_hold_goes_to_libarchive(tmp_path: Path, fresh_store, monkeypatch) -> None:
    from hashwarden.evidence import archive

    monkeypatch.setattr(sevenzip, "SEVENZIP_MAX_LISTED", 1)
    used = []
    real = archive._libarchive_members
    monkeypatch.setattr(archive, "_libarchive_members", lambda *a: used.append(a[1]) or real(*a))
    items = scan(["test_1.7z"], tmp_path, fresh_store)
    assert used == ["7z"]
    members = [i for p, i in items.items() if p.startswith("test_1.7z!/")]
    assert len(members) == 3 and all(i["md5"] for i in members)  # read all the same, streamed by libarchive
