"""Disk images built at test time (no root, nothing mounted): FAT16, ext4, NTFS with an alternate data stream,
an MBR disk with two partitions, as raw, split raw and E01; deleted files found and flagged; evidence untouched."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import scene
from hashwarden.scan import run_scan
from hashwarden.scan.hash_files import hash_paths
from hashwarden.store import create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord

TOOLS = ["mformat", "mcopy", "mdel", "mmd", "mkfs.fat", "mkfs.ext4", "debugfs", "mkntfs", "ntfscp", "sfdisk",
         "ewfacquire"]
ENV = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin", "MTOOLS_SKIP_CHECK": "1"}


def run(*command: str, cwd: Path, stdin: str | None = None) -> None:
    subprocess.run(command, cwd=cwd, env=ENV, input=stdin, text=True, check=True, capture_output=True)


@pytest.fixture(scope="module")
def images(tmp_path_factory, conformance: Path) -> dict:
    """Benign images planted in file systems and disk containers; returns paths and the planted digests."""
    missing = [t for t in TOOLS if not shutil.which(t, path=ENV["PATH"])]
    if missing:
        pytest.fail(f"tools missing (make test installs them): {missing}")
    work = tmp_path_factory.mktemp("disks")
    for seed, name in ((1, "red.jpg"), (2, "blue.jpg"), (3, "green.jpg")):
        scene(seed, (200, 150)).save(work / name, quality=90)
    shutil.copy(conformance / "threatexchange/pdq/data/bridge-mods/aaa-orig.jpg", work / "bridge.jpg")
    md5 = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in work.glob("*.jpg")}
    run("truncate", "-s", "16M", "fat16.img", cwd=work)
    run("mkfs.fat", "-F", "16", "-n", "TESTFAT", "fat16.img", cwd=work)
    run("mmd", "-i", "fat16.img", "::/sub", cwd=work)
    run("mcopy", "-i", "fat16.img", "red.jpg", "blue.jpg", "::/", cwd=work)
    run("mcopy", "-i", "fat16.img", "bridge.jpg", "::/sub/", cwd=work)
    run("mdel", "-i", "fat16.img", "::/blue.jpg", cwd=work)
    (work / "src").mkdir()
    shutil.copy(work / "red.jpg", work / "src" / "red.jpg")
    shutil.copy(work / "green.jpg", work / "src" / "green.jpg")
    run("mkfs.ext4", "-q", "-F", "-L", "TESTEXT", "-d", "src", "ext4.img", "16M", cwd=work)
    run("debugfs", "-w", "-R", "rm /green.jpg", "ext4.img", cwd=work)
    run("truncate", "-s", "16M", "ntfs.img", cwd=work)
    run("mkntfs", "-q", "-F", "-Q", "-L", "T", "ntfs.img", cwd=work)
    run("ntfscp", "-q", "ntfs.img", "red.jpg", "/red.jpg", cwd=work)
    run("ntfscp", "-q", "-a", "0x80", "-N", "hidden", "ntfs.img", "blue.jpg", "/red.jpg", cwd=work)
    run("truncate", "-s", "40M", "disk.img", cwd=work)
    run("sfdisk", "-q", "disk.img", cwd=work,
        stdin="label: dos\nstart=2048, size=32768, type=6\nstart=34816, size=32768, type=83\n")
    run("dd", "if=fat16.img", "of=disk.img", "bs=512", "seek=2048", "conv=notrunc", "status=none", cwd=work)
    run("dd", "if=ext4.img", "of=disk.img", "bs=512", "seek=34816", "conv=notrunc", "status=none", cwd=work)
    run("ewfacquire", "-q", "-u", "-t", "disk", "-C", "CASE", "-D", "benign test disk", "-E", "EV1", "-e", "tester",
        "-N", "none", "-f", "encase6", "-c", "deflate:fast", "disk.img", cwd=work)
    evidence = work / "evidence"
    evidence.mkdir()
    for name in ("fat16.img", "ext4.img", "ntfs.img", "disk.E01"):
        shutil.move(work / name, evidence / name)
    run("split", "-b", "4M", "-d", "-a", "3", "disk.img", str(evidence / "disk.raw."), cwd=work)
    return {"evidence": evidence, "md5": md5, "work": work}


@pytest.fixture(scope="module")
def report(images, tmp_path_factory) -> dict:
    from hashwarden.store import open_store

    tmp = tmp_path_factory.mktemp("scan")
    store = open_store(f"sqlite:///{tmp / 'hw.db'}")
    with store.begin() as conn:
        create_set(conn, "alert", "alert")
    known = [EntryRecord(md5=r["md5"], pdq=r["pdq"], pdq_quality=r["pdq_quality"])
             for r in hash_paths([str(images["work"] / "bridge.jpg"), str(images["work"] / "blue.jpg")])]
    import_entries(store, "alert", known, {"file": "t"})
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in images["evidence"].iterdir()}
    run_scan([str(images["evidence"])], "DISK", tmp / "out", store, ScanSettings(allow_empty=True, workers=2))
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in images["evidence"].iterdir()}
    document = json.loads((tmp / "out" / "report.json").read_text())
    custody = json.loads((tmp / "out" / "custody.json").read_text())
    return {"items": {i["path"]: i for i in document["items"]}, "before": before, "after": after,
            "custody": custody}


@pytest.mark.parametrize("prefix", ["fat16.img", "disk.E01/p1", "disk.raw.000/p1"])
def test_fat_files_and_deleted_file(report, images, prefix: str) -> None:
    items, md5 = report["items"], images["md5"]
    assert items[f"{prefix}/red.jpg"]["md5"] == md5["red.jpg"]
    assert items[f"{prefix}/sub/bridge.jpg"]["md5"] == md5["bridge.jpg"]
    assert items[f"{prefix}/sub/bridge.jpg"]["status"] == "known"
    deleted = items[f"{prefix}/_lue.jpg"]  # FAT keeps the name without its first byte
    assert deleted["deleted"] is True and deleted["md5"] == md5["blue.jpg"] and deleted["status"] == "known"
    assert "deleted" not in items[f"{prefix}/red.jpg"]
    assert items[f"{prefix}/red.jpg"]["container"] == [prefix.split("/")[0]]
    assert not any("Volume Label" in path for path in items)


@pytest.mark.parametrize("prefix", ["ext4.img", "disk.E01/p2", "disk.raw.000/p2"])
def test_ext4_files_and_deleted_file(report, images, prefix: str) -> None:
    items, md5 = report["items"], images["md5"]
    assert items[f"{prefix}/red.jpg"]["md5"] == md5["red.jpg"] and items[f"{prefix}/red.jpg"]["media"] == "image"
    deleted = items[f"{prefix}/green.jpg"]
    assert deleted["deleted"] is True and deleted["md5"] == md5["green.jpg"]


def test_ntfs_file_and_alternate_data_stream(report, images) -> None:
    items, md5 = report["items"], images["md5"]
    assert items["ntfs.img/red.jpg"]["md5"] == md5["red.jpg"]
    stream = items["ntfs.img/red.jpg:hidden"]
    assert stream["md5"] == md5["blue.jpg"] and stream["status"] == "known" and stream["media"] == "image"


def test_evidence_is_unchanged_and_images_themselves_hashed(report, images) -> None:
    assert report["before"] == report["after"]
    assert report["custody"]["sources"][0]["unchanged"] is True
    items = report["items"]
    image_file = images["evidence"] / "disk.E01"
    assert items["disk.E01"]["sha256"] == hashlib.sha256(image_file.read_bytes()).hexdigest()
    assert items["disk.raw.001"]["status"] == "unknown"  # later segments are plain files, not re-opened


def test_corrupt_images_give_clear_errors(tmp_path: Path, images, fresh_store) -> None:
    """Each damaged image is one error entry under its own name saying what is wrong; the scan goes on."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    fat = (images["evidence"] / "fat16.img").read_bytes()
    broken_bpb = bytearray(fat)
    broken_bpb[11:36] = b"\0" * 25  # still says FAT16 at byte 54, but its geometry (BIOS parameter block) is gone
    (evidence / "broken.img").write_bytes(bytes(broken_bpb))
    wiped = bytearray(fat)
    wiped[0:512] = b"\0" * 510 + b"\x55\xaa"  # nothing left that says disk image: a plain file, not an error
    (evidence / "wiped.img").write_bytes(bytes(wiped))
    e01 = (images["evidence"] / "disk.E01").read_bytes()
    (evidence / "truncated.E01").write_bytes(e01[: len(e01) // 2])
    (evidence / "ok.txt").write_text("fine")
    run_scan([str(evidence)], "BAD", tmp_path / "out", fresh_store, ScanSettings(allow_empty=True, workers=1))
    items = {i["path"]: i for i in json.loads((tmp_path / "out" / "report.json").read_text())["items"]}
    assert items["ok.txt"]["status"] == "unknown"
    for name in ("broken.img", "wiped.img", "truncated.E01"):  # the image files themselves are hashed
        assert items[name]["sha256"] == hashlib.sha256((evidence / name).read_bytes()).hexdigest()
    errors = {p: i["error"] for p, i in items.items() if i["status"] == "error"}
    assert sorted(errors) == ["broken.img/", "truncated.E01/", "truncated.E01/$ewf-segments"], errors
    assert errors["broken.img/"] == "no readable file system: Cannot determine file system type"
    # the E01 is reported as cut short (libewf opens it anyway and TSK alone would only say "no file system")
    assert re.fullmatch(r"E01 image incomplete, media behind the cut unreadable: truncated\.E01: section chain points "
                        r"past the end of the file \(byte \d+\): file truncated",
                        errors["truncated.E01/$ewf-segments"]), errors
    assert errors["truncated.E01/"] == "no readable file system: Cannot determine file system type"
    assert [p for p in items if p.startswith("wiped.img")] == ["wiped.img"]


def _media_bytes(seed: int, fmt: str) -> bytes:
    import io

    buffer = io.BytesIO()
    scene(seed, (240, 180)).save(buffer, fmt)
    return buffer.getvalue()


def test_carving_unallocated_space_and_a_raw_image_without_file_system(images, tmp_path: Path, fresh_store) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    planted = {"jpeg": _media_bytes(7, "JPEG"), "png": _media_bytes(8, "PNG"), "gif": _media_bytes(9, "GIF")}
    # a FAT volume with a PNG written straight into free clusters near its end (no directory entry at all)
    fat = bytearray((images["evidence"] / "fat16.img").read_bytes())
    png_at = len(fat) - 1_000_000
    fat[png_at : png_at + len(planted["png"])] = planted["png"]
    (evidence / "fat.img").write_bytes(bytes(fat))
    # a raw image with no partition table and no file system: noise with a JPEG and a GIF in it
    noise = bytearray(os.urandom(3_000_000))
    noise[0:512] = b"\0" * 510 + b"\x55\xaa"  # looks like a boot sector, describes nothing
    noise[1080:1082] = b"\0\0"
    jpeg_at, gif_at = 1_234_567, 2_500_001
    noise[jpeg_at : jpeg_at + len(planted["jpeg"])] = planted["jpeg"]
    noise[gif_at : gif_at + len(planted["gif"])] = planted["gif"]
    (evidence / "nofs.dd").write_bytes(bytes(noise))
    run_scan([str(evidence)], "CARVE", tmp_path / "out", fresh_store, ScanSettings(allow_empty=True, workers=1, carve=True))
    items = {i["path"]: i for i in json.loads((tmp_path / "out" / "report.json").read_text())["items"]}
    carved = {p: i for p, i in items.items() if i.get("carved")}
    md5 = {fmt: hashlib.md5(data).hexdigest() for fmt, data in planted.items()}
    png = carved[f"fat.img/$carved/{png_at}.png"]
    assert (png["offset"], png["length"], png["md5"]) == (png_at, len(planted["png"]), md5["png"])
    assert png["media"] == "image" and png["pdq_quality"] >= 50
    jpeg = carved[f"nofs.dd/$carved/{jpeg_at}.jpeg"]
    assert (jpeg["length"], jpeg["md5"]) == (len(planted["jpeg"]), md5["jpeg"])
    assert carved[f"nofs.dd/$carved/{gif_at}.gif"]["md5"] == md5["gif"]
    # allocated and recovered deleted files are not carved again
    assert not any(i["md5"] in images["md5"].values() for i in carved.values())


def test_verify_e01_against_stored_digests(images, tmp_path: Path, fresh_store) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    good = (images["evidence"] / "disk.E01").read_bytes()
    (evidence / "good.E01").write_bytes(good)
    damaged = bytearray(good)
    chunk_number, chunk_at, chunk_end = _chunk_location(images["evidence"] / "disk.E01", 300)
    damaged[(chunk_at + chunk_end) // 2] ^= 0x01  # one flipped bit inside chunk 300 (media offset 300 * 32 KiB)
    (evidence / "damaged.E01").write_bytes(bytes(damaged))
    run_scan([str(evidence)], "VERIFY", tmp_path / "out", fresh_store, ScanSettings(allow_empty=True, workers=1, verify_ewf=True))
    custody = json.loads((tmp_path / "out" / "custody.json").read_text())
    results = {r["item"]: r for r in custody["sources"][0]["ewf_verification"]}
    media_md5 = hashlib.md5((images["work"] / "disk.img").read_bytes()).hexdigest()
    assert results["good.E01"]["verified"] is True
    assert results["good.E01"]["stored"]["md5"] == results["good.E01"]["computed"]["md5"] == media_md5
    assert results["damaged.E01"]["verified"] is False
    [error] = results["damaged.E01"]["chunk_errors"]
    assert (error["offset"], error["length"], error["file_offset"]) == (chunk_number * 32768, 32768, chunk_at)
    assert "Adler-32" in error["message"]
    report_items = {i["path"]: i for i in json.loads((tmp_path / "out" / "report.json").read_text())["items"]}
    assert report_items["damaged.E01"]["ewf_verification"]["chunk_errors"][0]["offset"] == chunk_number * 32768
    assert report_items["good.E01"]["ewf_verification"] == {"verified": True, "error": None, "chunk_errors": []}
    items = json.loads((tmp_path / "out" / "report.json").read_text())["items"]
    assert any(i["path"].startswith("good.E01/p1/") for i in items)  # the scan went on and read inside both
    # one flipped bit in a chunk: the scan still read the damaged image's files (same planted files as the good one)
    inside = lambda name: {i["path"].split("/", 1)[1] for i in items if i["path"].startswith(f"{name}/")}  # noqa: E731
    assert inside("damaged.E01") == inside("good.E01")


def _chunk_location(e01: Path, number: int) -> tuple[int, int, int]:
    """(chunk number, start, end) in the segment file of a chunk, read from the first table section."""
    from hashwarden.evidence.ewf_chunks import _sections, _table

    with open(e01, "rb") as handle:
        size = e01.stat().st_size
        sections = list(_sections(handle, size))
        table_at = next(offset for offset, kind, _ in sections if kind == "table")
        entries, base = _table(handle, table_at)
    assert len(entries) > number + 1
    return number, base + entries[number][0], base + entries[number + 1][0]


def test_truncated_e01_reports_the_missing_media(images, tmp_path: Path) -> None:
    from hashwarden.evidence.ewf_verify import verify_ewf

    whole = (images["evidence"] / "disk.E01").read_bytes()
    cut = tmp_path / "cut.E01"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    result = verify_ewf(str(cut))
    media_size = (images["work"] / "disk.img").stat().st_size
    # libewf opens it without complaint (so no `error`): what is missing is listed, by our own walk of the file
    assert result.error is None and result.verified is False and result.media_size == media_size
    walked = [e for e in result.chunk_errors if "segment" in e]
    assert [(e["offset"], e["length"], e["segment"], e["file_offset"]) for e in walked] == [
        (0, 0, "cut.E01", 0), (0, media_size, "cut.E01", 0)]  # the chunk tables were behind the cut: all media
    assert re.fullmatch(r"section chain points past the end of the file \(byte \d+\): file truncated",
                        walked[0]["message"])
    assert walked[1]["message"] == "chunks missing: the image ends before the media does (truncated or segment lost)"
    # and libewf's failed reads, merged into ranges, cover the whole media from byte 0 without a gap
    reads = [e for e in result.chunk_errors if "segment" not in e]
    assert reads[0]["offset"] == 0 and sum(e["length"] for e in reads) == media_size
    assert all(a["offset"] + a["length"] == b["offset"] for a, b in zip(reads, reads[1:]))


def test_corrupt_partition_table_does_not_stop_the_scan(images, tmp_path: Path, fresh_store) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    disk = bytearray((images["work"] / "disk.img").read_bytes())
    disk[446 + 8 : 446 + 16] = (0xFFFFFF00).to_bytes(4, "little") + (0x7FFFFFFF).to_bytes(4, "little")  # p1 off the end
    (evidence / "disk.img").write_bytes(bytes(disk))
    (evidence / "after.txt").write_text("scanned")
    run_scan([str(evidence)], "PT", tmp_path / "out", fresh_store, ScanSettings(allow_empty=True, workers=1))
    items = {i["path"]: i for i in json.loads((tmp_path / "out" / "report.json").read_text())["items"]}
    assert items["after.txt"]["status"] == "unknown" and items["disk.img"]["sha256"]
    # the damaged partition is reported and not read; the intact ext4 partition still is (TSK alone refuses the table)
    damaged = items["disk.img/p1"]
    assert damaged["status"] == "error" and "starts beyond the end of the image" in damaged["error"]
    assert items["disk.img/p2/red.jpg"]["md5"] == images["md5"]["red.jpg"]
    assert not any(p.startswith("disk.img/p1/") for p in items)


def test_looping_directory_is_walked_once_and_reported(images, tmp_path: Path, fresh_store) -> None:
    """Directory entries pointing back at an ancestor (as a damaged or doctored ext4 can hold) end the walk there."""
    work = tmp_path / "work"
    (work / "src" / "sub").mkdir(parents=True)
    shutil.copy(images["work"] / "red.jpg", work / "src" / "sub" / "red.jpg")
    run("mkfs.ext4", "-q", "-F", "-d", "src", "loop.img", "8M", cwd=work)
    run("debugfs", "-w", "-R", "link /sub /sub/again", "loop.img", cwd=work)  # /sub/again -> /sub
    run("debugfs", "-w", "-R", "link / /sub/top", "loop.img", cwd=work)  # /sub/top -> /
    items = _scan_alone(work / "loop.img", tmp_path, fresh_store)
    assert items["loop.img/sub/red.jpg"]["md5"] == images["md5"]["red.jpg"]
    assert [p for p in items if p.endswith("red.jpg")] == ["loop.img/sub/red.jpg"]
    for looped in ("loop.img/sub/again", "loop.img/sub/top"):
        assert items[looped]["status"] == "error" and "directory loop" in items[looped]["error"]


def test_a_directory_that_cannot_be_listed_is_an_error_not_a_gap(images, tmp_path: Path, fresh_store) -> None:
    """A live directory whose inode points at a block beyond the file system (a damaged inode) is reported as an
    error item naming it; its siblings are still read."""
    work = tmp_path / "work"
    for folder, name in (("sub", "red.jpg"), ("ok", "blue.jpg")):
        (work / "src" / folder).mkdir(parents=True)
        shutil.copy(images["work"] / name, work / "src" / folder / name)
    run("mkfs.ext4", "-q", "-F", "-d", "src", "damaged.img", "8M", cwd=work)
    run("debugfs", "-w", "-R", "sif /sub block[0] 9999999", "damaged.img", cwd=work)  # its extent header, gone
    items = _scan_alone(work / "damaged.img", tmp_path, fresh_store)
    assert items["damaged.img/ok/blue.jpg"]["md5"] == images["md5"]["blue.jpg"]
    assert items["damaged.img/sub"]["status"] == "error"
    assert items["damaged.img/sub"]["error"].startswith("directory cannot be listed: Unable to open directory")
    assert not any(p.startswith("damaged.img/sub/") for p in items)


def _scan_alone(image: Path, tmp_path: Path, store) -> dict[str, dict]:
    """Scan `image` as the one file of a new evidence folder; the report's items by path."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    shutil.move(image, evidence / image.name)
    run_scan([str(evidence)], "ALONE", tmp_path / "out", store, ScanSettings(allow_empty=True, workers=1))
    return {i["path"]: i for i in json.loads((tmp_path / "out" / "report.json").read_text())["items"]}


def _small_ext4(images, tmp_path: Path) -> Path:
    """An ext4 image holding /a/red.jpg, /b/blue.jpg and /green.jpg."""
    work = tmp_path / "small"
    for folder, name in (("a", "red.jpg"), ("b", "blue.jpg"), ("", "green.jpg")):
        (work / "src" / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(images["work"] / name, work / "src" / folder / name)
    run("mkfs.ext4", "-q", "-F", "-d", "src", "small.img", "8M", cwd=work)
    return work / "small.img"


def _walk_image(path: Path, fs: object = None) -> dict[str, str | None]:
    """disk_image._walk over the whole image as a file system: report path -> error."""
    import types

    import pytsk3

    from hashwarden.evidence import disk_image

    fs = fs or pytsk3.FS_Info(pytsk3.Img_Info(str(path)))
    return {f.path: f.error for f in disk_image._walk(types.SimpleNamespace(path="small.img"), str(path), "raw",
                                                       fs, 0, 0, None)}


def test_the_entry_cut_off_is_an_error_naming_where_the_listing_stopped(images, tmp_path: Path, monkeypatch) -> None:
    from hashwarden.evidence import disk_image

    image = _small_ext4(images, tmp_path)
    whole = _walk_image(image)
    assert {"small.img/a/red.jpg", "small.img/b/blue.jpg", "small.img/green.jpg"} <= set(whole)
    assert not any(whole.values())
    monkeypatch.setattr(disk_image, "MAX_FS_ENTRIES", 3)
    cut = _walk_image(image)
    errors = {path: error for path, error in cut.items() if error}
    assert len(errors) == 1, cut
    (where, error), = errors.items()
    assert where in {"small.img/.", "small.img/a", "small.img/b"}
    assert error.startswith("listing stopped: more than 3 entries in this file system")
    assert len(cut) <= len(whole)  # the error entry stands in for at least the entries not listed


class _FailingListing:
    """A file system whose root listing fails after `keep` entries (as a read error in a directory's blocks
    does); everything else is the real file system's."""

    def __init__(self, fs: object, keep: int) -> None:
        self._fs, self._keep = fs, keep

    def __getattr__(self, name: str) -> object:
        return getattr(self._fs, name)

    def open_dir(self, path: str) -> object:
        def entries():
            for index, entry in enumerate(self._fs.open_dir(path=path)):
                if index == self._keep:
                    raise OSError("Error reading directory contents")
                yield entry
        return entries()


def test_a_listing_that_fails_midway_keeps_what_was_read_and_is_an_error(images, tmp_path: Path) -> None:
    import pytsk3

    image = _small_ext4(images, tmp_path)
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)))
    root_names = [e.info.name.name.decode() for e in fs.open_dir(path="/")]
    keep = min(root_names.index("a"), root_names.index("b")) + 1  # the first of a/ and b/ is read, not the other
    kept, lost = root_names[keep - 1], ({"a", "b"} - {root_names[keep - 1]}).pop()
    walked = _walk_image(image, _FailingListing(fs, keep))
    assert walked["small.img/."] == (f"directory listing failed after {keep} entries: Error reading directory "
                                     "contents; the rest of this directory is not read")
    files = {"a": "red.jpg", "b": "blue.jpg"}
    assert walked[f"small.img/{kept}/{files[kept]}"] is None
    assert not any(path.startswith(f"small.img/{lost}/") for path in walked)
