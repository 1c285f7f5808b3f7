"""Archives read in place: nested zip/tar/gzip, hostile names, encryption, bombs, corrupt and deep nesting."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import lzma
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import py7zr  # the test extra: it writes the 7z test archives
import zstandard  # a hard dependency: a broken install fails here, it does not skip

from hashwarden.config import MAX_CONTAINER_DEPTH, Limits, ScanSettings
from hashwarden.demo.synthetic import scene
from hashwarden.evidence import archive as archive_module
from hashwarden.scan import run_scan
from hashwarden.scan.hash_files import hash_paths
from hashwarden.store import create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    scene(seed, (320, 240)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def scan(folder: Path, tmp_path: Path, fresh_store, limits: Limits = Limits()) -> dict[str, dict]:
    run_scan([str(folder)], "ARCH", tmp_path / "out", fresh_store,
             ScanSettings(allow_empty=True, workers=1, limits=limits))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    return {item["path"]: item for item in report["items"]}


def test_nested_archives_are_scanned_and_matched(tmp_path: Path, fresh_store) -> None:
    known = jpeg(1)
    (tmp_path / "known.jpg").write_bytes(known)
    with fresh_store.begin() as conn:
        create_set(conn, "alert", "alert")
    records = [EntryRecord(md5=r["md5"], pdq=r["pdq"], pdq_quality=r["pdq_quality"])
               for r in hash_paths([str(tmp_path / "known.jpg")])]
    import_entries(fresh_store, "alert", records, {"file": "t"})
    inner = tar_bytes({"photos/k.jpg": known, "photos/other.jpg": jpeg(2)}, mode="w:gz")
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "outer.zip").write_bytes(zip_bytes({"dir/inner.tar.gz": inner, "note.txt": b"benign"}))
    (evidence / "single.jpg.gz").write_bytes(gzip.compress(known))
    (evidence / "plain.tar").write_bytes(tar_bytes({"a/b/c.jpg": jpeg(3)}))
    items = scan(evidence, tmp_path, fresh_store)
    member = items["outer.zip!/dir/inner.tar.gz!/photos/k.jpg"]
    assert member["status"] == "known" and member["matches"][0]["method"] == "md5"
    assert member["container"] == ["outer.zip", "outer.zip!/dir/inner.tar.gz"]
    assert items["outer.zip!/dir/inner.tar.gz!/photos/other.jpg"]["status"] == "unknown"
    assert items["single.jpg.gz!/single.jpg"]["status"] == "known"
    assert items["plain.tar!/a/b/c.jpg"]["media"] == "image"
    assert items["outer.zip"]["format"] == "zip" and items["outer.zip"]["status"] == "unknown"
    assert "container" not in items["outer.zip"]


def test_hostile_names_are_labels_only(tmp_path: Path, fresh_store) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    names = ["../../escape.txt", "/etc/absolute.txt", "C:\\windows\\drive.txt", "dir/../../up.txt"]
    (evidence / "hostile.zip").write_bytes(zip_bytes({name: name.encode() for name in names}))
    before = sorted(p for p in tmp_path.rglob("*"))
    items = scan(evidence, tmp_path, fresh_store)
    for name in names:  # a literal backslash is written doubled in report paths (see display_name)
        assert items[f"hostile.zip!/{name.replace(chr(92), chr(92) * 2)}"]["size"] == len(name)
    created = sorted(p for p in tmp_path.rglob("*"))
    # the scan's report folder and the index generation cached beside the database are expected; nothing else
    expected = ("out", "hashwarden.db.index-generations")
    assert [p for p in created if p not in before and p.relative_to(tmp_path).parts[0] not in expected] == []


def test_encrypted_member_is_reported(tmp_path: Path, fresh_store) -> None:
    data = bytearray(zip_bytes({"secret.jpg": jpeg(4), "open.txt": b"x"}, zipfile.ZIP_STORED))
    # set the "encrypted" flag of the first member in its local header and its central directory entry
    data[6] |= 1
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 1
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "locked.zip").write_bytes(bytes(data))
    items = scan(evidence, tmp_path, fresh_store)
    assert items["locked.zip!/secret.jpg"]["status"] == "error"
    assert items["locked.zip!/secret.jpg"]["error"] == "encrypted"
    assert items["locked.zip!/open.txt"]["status"] == "unknown"


def test_decompression_bomb_is_cut_off(tmp_path: Path, fresh_store, monkeypatch) -> None:
    monkeypatch.setattr(archive_module, "MAX_MEMBER_BYTES", 1 << 20)
    monkeypatch.setattr(archive_module, "MAX_MEMBER_RATIO", 10)
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "bomb.zip").write_bytes(zip_bytes({"zeros.bin": b"\0" * (20 << 20), "ok.txt": b"fine"}))
    items = scan(evidence, tmp_path, fresh_store)
    bomb = items["bomb.zip!/zeros.bin"]
    assert bomb["status"] == "error" and "decompression bomb" in bomb["error"] and bomb["sha256"] is None
    assert bomb["size"] <= 1 << 20
    assert items["bomb.zip!/ok.txt"]["status"] == "unknown"


def test_corrupt_archive_reported_and_scan_goes_on(tmp_path: Path, fresh_store) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    good = zip_bytes({"a.txt": b"a"})
    (evidence / "broken.zip").write_bytes(b"PK\x03\x04" + b"\xff" * 200)
    (evidence / "truncated.tar.gz").write_bytes(tar_bytes({"x.jpg": jpeg(5)}, mode="w:gz")[:300])
    (evidence / "good.zip").write_bytes(good)
    items = scan(evidence, tmp_path, fresh_store)
    import hashlib

    # a local header whose name length runs past the end: the archive is the error, no member is made up from it
    broken = items["broken.zip"]
    assert broken["status"] == "error" and broken["error"] == (
        "zip archive cannot be read further: BadZipFile: local header at byte 0 runs past the end of the file: "
        "65,535-byte name and 65,535-byte extra field, 174 bytes left")
    assert broken["sha256"] == hashlib.sha256((evidence / "broken.zip").read_bytes()).hexdigest()
    assert [p for p in items if p.startswith("broken.zip")] == ["broken.zip"]
    truncated = items["truncated.tar.gz"]
    assert truncated["status"] == "error" and truncated["error"] == (
        "gzip archive cannot be read further: EOFError: Compressed file ended before the end-of-stream marker was "
        "reached")
    assert truncated["sha256"] == hashlib.sha256((evidence / "truncated.tar.gz").read_bytes()).hexdigest()
    assert [p for p in items if p.startswith("truncated.tar.gz")] == ["truncated.tar.gz"]  # cut inside 1st header
    # and the scan went on: the good archive's member has its verdict and its own digest
    member = items["good.zip!/a.txt"]
    assert (member["status"], member["md5"], member.get("error")) == ("unknown", hashlib.md5(b"a").hexdigest(), None)
    assert items["good.zip"]["status"] == "unknown"


def test_nesting_deeper_than_the_limit_stops_with_an_error(tmp_path: Path, fresh_store) -> None:
    data = b"the innermost file"
    for level in range(100):
        data = zip_bytes({f"level{level}.zip" if level else "core.txt": data})
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "deep.zip").write_bytes(data)
    items = scan(evidence, tmp_path, fresh_store)
    members = [path for path in items if path.startswith("deep.zip!/")]
    assert len(members) == MAX_CONTAINER_DEPTH
    deepest = max(members, key=len)
    assert deepest.count("!/") == MAX_CONTAINER_DEPTH
    assert "nested deeper than" in items[deepest]["error"] and items[deepest]["sha256"]  # hashed, not opened
    assert items[deepest]["status"] == "error"
    assert all("nested deeper" not in items[p].get("error", "") for p in members if p != deepest)


def test_7z_plain_and_encrypted(tmp_path: Path, fresh_store) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    image = jpeg(6)
    with py7zr.SevenZipFile(evidence / "photos.7z", "w") as archive:
        archive.writestr(image, "dir/p.jpg")
        archive.writestr(zip_bytes({"inner.txt": b"nested in a zip in a 7z"}), "dir/nested.zip")
    with py7zr.SevenZipFile(evidence / "locked.7z", "w", password="not-known-to-us") as archive:
        archive.writestr(image, "secret.jpg")
    items = scan(evidence, tmp_path, fresh_store)
    member = items["photos.7z!/dir/p.jpg"]
    assert member["media"] == "image" and member["sha256"] == __import__("hashlib").sha256(image).hexdigest()
    assert items["photos.7z!/dir/nested.zip!/inner.txt"]["size"] == len(b"nested in a zip in a 7z")
    locked = [item for path, item in items.items() if path.startswith("locked.7z!/")]
    assert locked and all(item["status"] == "error" and "encrypted" in item["error"] for item in locked)
    assert items["locked.7z"]["format"] == "7z"


def test_zip_with_damaged_central_directory_falls_back_to_local_headers(tmp_path: Path, fresh_store) -> None:
    image = jpeg(7)
    data = bytearray(zip_bytes({"a/photo.jpg": image, "b.txt": b"stored text" * 50}))
    data = data[: data.find(b"PK\x01\x02") + 10]  # cut inside the central directory
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "damaged.zip").write_bytes(bytes(data))
    stored = bytearray(zip_bytes({"s.txt": b"kept as is"}, zipfile.ZIP_STORED))
    stored[stored.find(b"PK\x05\x06"):] = b"\0" * 22  # end-of-central-directory record wiped
    (evidence / "stored.zip").write_bytes(bytes(stored))
    items = scan(evidence, tmp_path, fresh_store)

    assert items["damaged.zip!/a/photo.jpg"]["sha256"] == hashlib.sha256(image).hexdigest()
    assert items["damaged.zip!/a/photo.jpg"]["media"] == "image"
    assert items["damaged.zip!/b.txt"]["size"] == len(b"stored text" * 50)
    assert items["stored.zip!/s.txt"]["md5"] == hashlib.md5(b"kept as is").hexdigest()


def test_zstd_tar_and_stream(tmp_path: Path, fresh_store) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    image = jpeg(8)
    compress = zstandard.ZstdCompressor().compress
    (evidence / "photos.tar.zst").write_bytes(compress(tar_bytes({"x/y.jpg": image, "z.txt": b"z"})))
    (evidence / "one.jpg.zst").write_bytes(compress(image))
    items = scan(evidence, tmp_path, fresh_store)
    digest = hashlib.sha256(image).hexdigest()
    assert items["photos.tar.zst!/x/y.jpg"]["sha256"] == digest
    assert items["one.jpg.zst!/one.jpg"]["sha256"] == digest and items["one.jpg.zst"]["format"] == "zstd"


@pytest.mark.parametrize("suffix, compress, mode", [("bz2", bz2.compress, "w:bz2"), ("xz", lzma.compress, "w:xz")])
def test_bzip2_and_xz_tars_and_streams(tmp_path: Path, fresh_store, suffix: str, compress, mode: str) -> None:
    """tar compressed with bzip2 or xz (by tarfile, as `tar -j`/`-J` would), and a bare .bz2/.xz stream: each
    member is an item with the md5 of its own bytes, and the streams are reported in their format."""
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    image, text = jpeg(9), b"benign text member\n" * 40
    (evidence / f"photos.tar.{suffix}").write_bytes(tar_bytes({"x/y.jpg": image, "z.txt": text}, mode=mode))
    (evidence / f"one.jpg.{suffix}").write_bytes(compress(image))
    items = scan(evidence, tmp_path, fresh_store)
    md5 = {data: hashlib.md5(data).hexdigest() for data in (image, text)}
    assert items[f"photos.tar.{suffix}!/x/y.jpg"]["md5"] == md5[image]
    assert items[f"photos.tar.{suffix}!/x/y.jpg"]["media"] == "image"
    assert items[f"photos.tar.{suffix}!/z.txt"]["md5"] == md5[text]
    assert items[f"one.jpg.{suffix}!/one.jpg"]["md5"] == md5[image]
    assert items[f"one.jpg.{suffix}"]["format"] == {"bz2": "bzip2", "xz": "xz"}[suffix]
    assert not any(item["status"] == "error" for item in items.values())


def test_videos_inside_archives_get_vpdq(tmp_path: Path, fresh_store) -> None:
    """A video stored in a zip (deflated) and in a tar.gz is decoded where it lies (the member stream is what
    FFmpeg reads) and gets the same vPDQ frames, hash for hash, as the file itself hashed directly."""
    import hashwarden
    from hashwarden.evidence import FolderSource
    from hashwarden.scan.worker import scan_file
    from hashwarden.signals import HashOptions
    from tests.signals.videos import make_video

    video = make_video(tmp_path / "clip.mp4", seed=4, frames=75).read_bytes()
    direct = hashwarden.hash_file(tmp_path / "clip.mp4")["vpdq"]
    assert len(direct) == 3 and all(frame["quality"] >= 50 for frame in direct)  # 75 frames at 30 fps, 1 a second
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "plain.mp4").write_bytes(video)
    (folder / "v.zip").write_bytes(zip_bytes({"dir/clip.mp4": video}))
    (folder / "v.tar.gz").write_bytes(gzip.compress(tar_bytes({"clip.mp4": video})))
    # the frames themselves, from the rows the scan's worker makes of each file and its members
    frames = {}
    for item in FolderSource(str(folder)).iter_entries():
        for kind, row in scan_file((0, item, HashOptions(dihedral=True), ScanSettings())):
            if kind == "item" and row["path"].endswith(".mp4"):
                frames[row["path"]] = row.get("vpdq")
    assert frames == {"plain.mp4": direct, "v.zip!/dir/clip.mp4": direct, "v.tar.gz!/clip.mp4": direct}
    # and the scan's report says so for each of them
    items = scan(folder, tmp_path, fresh_store)
    summaries = {path: item.get("vpdq") for path, item in items.items() if path.endswith(".mp4")}
    assert summaries == dict.fromkeys(frames, {"frames": 3, "decoded": 75, "fps": 30.0})


def test_a_member_read_twice_is_read_in_place_or_held_up_to_its_limit(tmp_path: Path, fresh_store) -> None:
    """A member that must be read twice (a nested container, a video) is read in place when its container is
    seekable (a file of the folder or of a disk image), else (a member of an archive) held in memory up to a limit
    (512 MiB, a video 2 GiB; 100 kB and 20 kB here): past it, a container is hashed and is an error, not opened, and a video is hashed with a
    note, not decoded."""
    from tests.signals.videos import make_video

    blob = bytes(np.random.default_rng(3).integers(0, 256, 150_000, dtype=np.uint8))
    big, small = zip_bytes({"blob.bin": blob}, zipfile.ZIP_STORED), zip_bytes({"note.txt": b"small"})
    video = make_video(tmp_path / "clip.mp4", seed=4, frames=75).read_bytes()
    assert len(video) > 20_000
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "big.zip").write_bytes(big)
    (folder / "clip.mp4").write_bytes(video)
    (folder / "packed.tar.gz").write_bytes(tar_bytes({"big.zip": big, "small.zip": small, "clip.mp4": video}, "w:gz"))
    items = scan(folder, tmp_path, fresh_store, Limits(max_nested_bytes=100_000, max_video_bytes=20_000))
    assert items["big.zip!/blob.bin"]["md5"] == hashlib.md5(blob).hexdigest()
    assert items["clip.mp4"]["vpdq"]["frames"] == 3
    held_back = items["packed.tar.gz!/big.zip"]
    assert held_back["md5"] == hashlib.md5(big).hexdigest() and held_back["status"] == "error"
    assert held_back["error"] == "larger than 100,000 bytes inside a compressed container: hashed, not opened"
    assert not any(path.startswith("packed.tar.gz!/big.zip!/") for path in items)
    assert items["packed.tar.gz!/small.zip!/note.txt"]["md5"] == hashlib.md5(b"small").hexdigest()
    clip = items["packed.tar.gz!/clip.mp4"]
    assert clip["md5"] == hashlib.md5(video).hexdigest() and "vpdq" not in clip
    assert "larger than 20,000 bytes inside a compressed container: hashed, not decoded" in clip["note"]


def test_members_stored_twice_under_one_name_are_both_items(tmp_path: Path, fresh_store) -> None:
    """tar appends (`tar -r`) keep every version under the same name: each is evidence, none may hide another."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for data in (b"first version", b"second version"):
            info = tarfile.TarInfo("same.txt")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "twice.tar").write_bytes(buffer.getvalue())
    run_scan([str(evidence)], "TWICE", tmp_path / "out", fresh_store, ScanSettings(allow_empty=True, workers=1))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    same = [item for item in report["items"] if item["path"] == "twice.tar!/same.txt"]

    assert sorted(item["md5"] for item in same) == sorted(hashlib.md5(d).hexdigest()
                                                          for d in (b"first version", b"second version"))
    assert any("member 2 of the archive with this name" in (item.get("note") or "") for item in same)


def test_tar_links_devices_and_fifos(tmp_path: Path, fresh_store) -> None:
    """Links are items with their target and no content hash; devices and FIFOs are skipped entries, as in
    folders (never read)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("real.txt")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"real"))
        for name, kind in (("sym", tarfile.SYMTYPE), ("hard", tarfile.LNKTYPE), ("fifo", tarfile.FIFOTYPE),
                           ("dev", tarfile.CHRTYPE)):
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "real.txt" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
            archive.addfile(info)
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "links.tar").write_bytes(buffer.getvalue())
    run_scan([str(evidence)], "LINKS", tmp_path / "out", fresh_store, ScanSettings(allow_empty=True, workers=1))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    items = {item["path"]: item for item in report["items"]}
    for name in ("sym", "hard"):
        assert items[f"links.tar!/{name}"]["link"] == "real.txt" and items[f"links.tar!/{name}"]["md5"] is None
    skipped = {entry["path"]: entry["reason"] for entry in report["skipped"]}
    assert skipped["links.tar!/fifo"] == "FIFO: not read" and skipped["links.tar!/dev"] == "character device: not read"
    assert items["links.tar!/real.txt"]["md5"]
