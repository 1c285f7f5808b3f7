"""Containers nested in any combination, each read once: archives in archives in disk images, disk images in
archives, split E01 sets expanded once (and verified once), and one expansion budget per top-level file."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import shutil
from pathlib import Path

from hashwarden.config import Limits, ScanSettings
from hashwarden.demo.synthetic import scene
from hashwarden.scan import run_scan
from tests.corpus.hostile import _fat, _run
from tests.evidence.test_archive import tar_bytes, zip_bytes

PHOTO_SEED = 77


def photo() -> bytes:
    buffer = io.BytesIO()
    scene(PHOTO_SEED, (200, 150)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def scan(folder: Path, out: Path, store, **settings) -> tuple[dict[str, dict], dict]:
    run_scan([str(folder)], "NEST", out, store, ScanSettings(allow_empty=True, workers=1, **settings))
    report = json.loads((out / "report.json").read_text())
    return {item["path"]: item for item in report["items"]}, json.loads((out / "custody.json").read_text())


def test_archive_in_archive_in_disk_image_and_that_image_in_an_archive(tmp_path: Path, fresh_store) -> None:
    work = tmp_path / "work"
    work.mkdir()
    data = photo()
    outer = zip_bytes({"inner.tar.gz": tar_bytes({"pics/photo.jpg": data}, "w:gz")})
    fat = _fat(work, "fat.img", {"home/outer.zip": outer})
    seized = tmp_path / "seized"
    seized.mkdir()
    shutil.copy(fat, seized / "fat.img")
    (seized / "image.zip").write_bytes(zip_bytes({"backup/fat.img": fat.read_bytes()}))
    items, _ = scan(seized, tmp_path / "out", fresh_store)
    md5 = hashlib.md5(data).hexdigest()
    direct = items["fat.img/home/outer.zip!/inner.tar.gz!/pics/photo.jpg"]
    assert direct["md5"] == md5 and direct["media"] == "image" and direct["pdq"]
    assert direct["container"] == ["fat.img", "fat.img/home/outer.zip", "fat.img/home/outer.zip!/inner.tar.gz"]
    wrapped = items["image.zip!/backup/fat.img/home/outer.zip!/inner.tar.gz!/pics/photo.jpg"]
    assert wrapped["md5"] == md5 and wrapped["pdq"] == direct["pdq"]
    assert wrapped["container"][:2] == ["image.zip", "image.zip!/backup/fat.img"]


def test_split_e01_is_expanded_and_verified_once(tmp_path: Path, fresh_store) -> None:
    work = tmp_path / "work"
    work.mkdir()
    noise = random.Random(3).randbytes(3 << 20)  # incompressible: the E01 needs several 1 MiB segments
    fat = _fat(work, "fat.img", {"a/noise.bin": noise, "b/photo.jpg": photo()}, size_mb=8, bits=16)
    _run("ewfacquire", "-q", "-u", "-t", work / "split", "-C", "CASE", "-D", "split", "-E", "1", "-e", "t",
         "-N", "none", "-f", "encase6", "-c", "none", "-S", "1MiB", fat, cwd=work)
    seized = tmp_path / "seized"
    seized.mkdir()
    segments = sorted(work.glob("split.E*"))
    assert len(segments) >= 3, segments
    for segment in segments:
        shutil.copy(segment, seized / segment.name)
    items, custody = scan(seized, tmp_path / "out", fresh_store, verify_ewf=True)
    inside = [p for p in items if p.startswith("split.E") and "/" in p]
    assert all(p.startswith("split.E01/") for p in inside), inside  # only through the first segment
    assert items["split.E01/b/photo.jpg"]["md5"] == hashlib.md5(photo()).hexdigest()
    assert items["split.E01/a/noise.bin"]["md5"] == hashlib.md5(noise).hexdigest()
    assert "segment 2 of an EWF image" in items["split.E02"]["note"]
    verified = [v for source in custody["sources"] for v in source.get("ewf_verification", [])]
    assert [v["item"] for v in verified] == ["split.E01"] and verified[0]["verified"] is True
    assert not any(i.get("error") for i in items.values())  # a complete set: nothing reported missing
    # the last segment lost: the image is reported incomplete by name, and what the others hold is still read
    (seized / segments[-1].name).unlink()
    items, _ = scan(seized, tmp_path / "out2", fresh_store)
    assert items["split.E01/$ewf-segments"]["error"] == (
        f"E01 image incomplete, media behind the cut unreadable: {segments[-2].name}: ends without its 'done' "
        "section (segment files after it missing or it was cut short)")
    assert items["split.E01/b/photo.jpg"]["md5"] == hashlib.md5(photo()).hexdigest()


def test_one_budget_for_everything_under_a_top_level_file(tmp_path: Path, fresh_store) -> None:
    """Limits are not per member: 20 members of 1 MiB each, nested two levels, against a 5 MiB budget."""
    blob = bytes(1 << 20)
    inner = zip_bytes({f"z{i}.bin": blob for i in range(10)})
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "outer.zip").write_bytes(zip_bytes({"a.zip": inner, "b.zip": inner}))
    (seized / "other.txt").write_bytes(b"the scan goes on")
    items, _ = scan(seized, tmp_path / "out", fresh_store, limits=Limits(max_expanded_bytes=5 << 20))
    assert "expansion stopped" in items["outer.zip"]["error"] and items["outer.zip"]["sha256"]
    assert "--max-expanded-bytes" in items["outer.zip"]["error"]
    read = [p for p, i in items.items() if p.startswith("outer.zip!/") and p.endswith(".bin") and i["md5"]]
    assert 0 < len(read) < 20
    assert items["other.txt"]["status"] == "unknown"
    members, _ = scan(seized, tmp_path / "out2", fresh_store, limits=Limits(max_members=5))
    assert re.fullmatch(r"expansion stopped: the contents of outer\.zip reached the limit for one top-level file "
                        r"\([\d,]+ of [\d,]+ bytes, 6 of 5 members; --max-expanded-bytes, --max-members\); the rest "
                        r"is not read", members["outer.zip"]["error"]), members["outer.zip"]["error"]
    # the 5 members read before the 6th hit the limit, in stored order
    assert [p for p in members if p.startswith("outer.zip!/")] == [
        "outer.zip!/a.zip", *(f"outer.zip!/a.zip!/z{i}.bin" for i in range(4))]
