"""Disk images built at test time (no root, nothing mounted): FAT16, ext4, NTFS with an alternate data stream,
an MBR disk with two partitions, as raw, split raw and E01; deleted files found and flagged; evidence untouched."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import scene
from hashwarden.scan import run_scan
from hashwarden.scan.hash_files import hash_paths
from hashwarden.store import EntryRecord, create_set, import_entries

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
        if os.environ.get("CI"):
            pytest.fail(f"tools missing (make test installs them): {missing}")
        pytest.skip(f"tools missing: {missing}")
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
    run_scan([str(images["evidence"])], "DISK", tmp / "out", store, ScanSettings(workers=2))
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
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    data = bytearray((images["evidence"] / "fat16.img").read_bytes())
    data[0:512] = b"\0" * 510 + b"\x55\xaa"  # a boot sector that no longer describes a file system
    (evidence / "wiped.img").write_bytes(bytes(data))
    e01 = (images["evidence"] / "disk.E01").read_bytes()
    (evidence / "truncated.E01").write_bytes(e01[: len(e01) // 2])
    (evidence / "ok.txt").write_text("fine")
    run_scan([str(evidence)], "BAD", tmp_path / "out", fresh_store, ScanSettings(workers=1))
    items = {i["path"]: i for i in json.loads((tmp_path / "out" / "report.json").read_text())["items"]}
    assert items["ok.txt"]["status"] == "unknown"
    assert items["wiped.img"]["sha256"] and items["truncated.E01"]["sha256"]
    errors = {p: i["error"] for p, i in items.items() if i["status"] == "error"}
    assert any(p.startswith("wiped.img") for p in errors) or not any(p.startswith("wiped.img/") for p in items)
    assert any(p.startswith("truncated.E01") for p in errors), items.keys()
