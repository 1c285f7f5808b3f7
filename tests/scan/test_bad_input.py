"""Bad input never stops a scan: each broken, hostile or changing item gets a clear report entry, the rest are hashed.

Every file is benign and made here: synthetic scenes (hashwarden.demo.synthetic), their truncations, random bytes,
an empty file and a PNG header declaring 100000 x 100000 pixels.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import corrupt_files, save, scene
from hashwarden.evidence import FolderItem, FolderSource
from hashwarden.formats import jsonl, md5sum, pdqlist
from hashwarden.scan import run_scan
from hashwarden.scan.worker import hash_item
from hashwarden.signals import HashOptions
from hashwarden.store import create_set, list_sets, open_store
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord

HASHWARDEN = Path(sys.executable).with_name("hashwarden")
EMPTY_MD5 = hashlib.md5(b"").hexdigest()
EMPTY_SHA1 = hashlib.sha1(b"").hexdigest()
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

NESTED = "l1/l2/l3/l4/l5/deep.png"
UNICODE_NAMES = ["ünïcödé/cödé 写真 🙂.png", "Ελληνικά/שלום.jpg", "ñ.txt", "a\u0301.txt"]


def _jpeg(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    buffer = io.BytesIO()
    scene(seed, size).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _digests(data: bytes) -> dict[str, str]:
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# ------------------------------------------------------------------------------------------- the scanned tree


class BadScan:
    """One scan over a folder of every bad-input class plus good files; tests look up items by path."""

    def __init__(self, root: Path, report: dict[str, Any], written: dict[str, bytes]) -> None:
        self.root = root
        self.report = report
        self.written = written  # report path -> content
        self.items = {item["path"]: item for item in report["items"]}

    def item(self, path: str) -> dict[str, Any]:
        assert path in self.items, f"{path} missing from the report: {sorted(self.items)}"
        return self.items[path]


@pytest.fixture(scope="module")
def bad_scan(tmp_path_factory: pytest.TempPathFactory) -> BadScan:
    base = tmp_path_factory.mktemp("bad")
    root = base / "evidence"
    broken = corrupt_files(root)
    written = {path.name: path.read_bytes() for path in broken.values()}

    good = _jpeg(101)
    (root / "good.jpg").write_bytes(good)
    written["good.jpg"] = good
    known_full = _jpeg(102)
    known_truncated = known_full[: len(known_full) // 2]
    (root / "known_truncated.jpg").write_bytes(known_truncated)
    written["known_truncated.jpg"] = known_truncated

    save(scene(103, (96, 72)), root / NESTED, "PNG")
    written[NESTED] = (root / NESTED).read_bytes()
    for index, name in enumerate(UNICODE_NAMES):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _jpeg(110 + index, (64, 48)) if name.endswith((".jpg", ".png")) else f"text {index}\n".encode()
        path.write_bytes(data)
        written[name] = data
    raw_name = os.path.join(os.fsencode(root), b"bad\xff\xfename.jpg")
    with open(raw_name, "wb") as fp:
        fp.write(good)
    written["bad\\xff\\xfename.jpg"] = good
    os.mkfifo(root / "pipe")

    engine = open_store(f"sqlite:///{base / 'hw.db'}")
    with engine.begin() as conn:
        create_set(conn, "known-test", "alert", source="test", category_scheme="test-scheme")
    import_entries(
        engine, "known-test", [EntryRecord(md5=hashlib.md5(known_truncated).hexdigest(), category="A")],
        {"file": "test", "format": "test"},
    )
    try:
        result = run_scan([str(root)], "bad-input", base / "out", engine, ScanSettings(allow_empty=True, workers=1))
    finally:
        engine.dispose()
    report = json.loads(result.files["report.json"].read_text(encoding="utf-8"))
    return BadScan(root, report, written)


# ---------------------------------------------------------------------------------------------- broken images


@pytest.mark.parametrize("name, fmt", [("truncated.jpg", "jpeg"), ("truncated.png", "png")])
def test_truncated_image_is_an_error_with_digests(bad_scan: BadScan, name: str, fmt: str) -> None:
    item = bad_scan.item(name)
    assert item["status"] == "error"
    assert "truncated" in item["error"]
    assert item["error"].startswith(f"{fmt}:")
    assert item["media"] == "image" and item["format"] == fmt
    assert item["pdq"] is None
    assert item["size"] == len(bad_scan.written[name])
    for digest, value in _digests(bad_scan.written[name]).items():
        assert item[digest] == value


def test_random_bytes_named_jpg_is_other_with_a_note(bad_scan: BadScan) -> None:
    item = bad_scan.item("random_bytes.jpg")
    assert item["media"] == "other"
    assert item["format"] is None
    assert item["status"] == "unknown"
    assert "error" not in item
    assert "named .jpg" in item["note"] and "not a recognised image" in item["note"]
    assert item["md5"] == _digests(bad_scan.written["random_bytes.jpg"])["md5"]


def test_zero_byte_file_has_empty_digests_and_a_note(bad_scan: BadScan) -> None:
    item = bad_scan.item("empty.png")
    assert item["size"] == 0
    assert (item["md5"], item["sha1"], item["sha256"]) == (EMPTY_MD5, EMPTY_SHA1, EMPTY_SHA256)
    assert "empty file" in item["note"]
    assert item["status"] == "unknown"
    assert "error" not in item


def test_decompression_bomb_is_refused(bad_scan: BadScan) -> None:
    item = bad_scan.item("bomb.png")
    assert item["status"] == "error"
    assert "100000x100000" in item["error"]
    assert "limit" in item["error"]
    assert item["pdq"] is None
    assert item["size"] < 100_000  # a ~1 KB file claiming 10^10 pixels
    assert item["sha256"] == _digests(bad_scan.written["bomb.png"])["sha256"]


def test_decompression_bomb_is_refused_without_allocating(tmp_path: Path) -> None:
    """Peak RSS of a process hashing the bomb stays far below the 30 GB its pixels would need."""
    bomb = corrupt_files(tmp_path / "bomb")["png_bomb"]
    script = textwrap.dedent(
        """
        import json, resource, sys
        from hashwarden.evidence import FolderSource
        from hashwarden.scan.worker import hash_item
        from hashwarden.signals import HashOptions
        # An address-space cap turns an attempt to allocate the frame into a MemoryError instead of swapping.
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        (item,) = list(FolderSource(sys.argv[1]).iter_entries())
        row = hash_item((0, item, HashOptions()))
        # VmHWM, not ru_maxrss: the latter carries over the peak of the (large) pytest process this one forked from.
        with open("/proc/self/status") as status:
            peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
        print(json.dumps({"error": row.get("error"), "peak_kb": peak_kb}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert "100000x100000" in result["error"] and "limit" in result["error"], result
    assert result["peak_kb"] < 500_000, f"peak RSS {result['peak_kb']:,} KB hashing a 1 KB file"


def test_known_image_that_is_truncated_is_still_known(bad_scan: BadScan) -> None:
    item = bad_scan.item("known_truncated.jpg")
    assert item["status"] == "known"
    assert "truncated" in item["error"]  # the decode failure is still reported
    assert item["md5"] == _digests(bad_scan.written["known_truncated.jpg"])["md5"]
    assert [(m["set"], m["kind"], m["method"]) for m in item["matches"]] == [("known-test", "alert", "md5")]
    assert bad_scan.report["summary"]["known"] == 1
    assert bad_scan.report["summary"]["by_category"] == {"test-scheme:A": 1}


# ------------------------------------------------------------------------------------------------ whole scan


def test_bad_files_never_stop_the_scan(bad_scan: BadScan) -> None:
    assert set(bad_scan.items) == set(bad_scan.written)
    assert len(bad_scan.report["items"]) == len(bad_scan.written)
    summary = bad_scan.report["summary"]
    assert summary["items"] == len(bad_scan.written)
    assert summary["error"] == 3  # truncated jpeg, truncated png, bomb (the known truncated one is "known")
    assert [s["path"] for s in bad_scan.report["skipped"]] == ["pipe"]
    for path, data in bad_scan.written.items():
        item = bad_scan.items[path]
        assert item["sha256"] == hashlib.sha256(data).hexdigest(), path
        assert item["size"] == len(data), path
    good = bad_scan.item("good.jpg")
    assert good["status"] == "unknown" and good["pdq"] and "error" not in good and "note" not in good


def test_nested_and_unicode_paths_round_trip_into_the_report(bad_scan: BadScan) -> None:
    for path in [NESTED, *UNICODE_NAMES, "bad\\xff\\xfename.jpg"]:
        item = bad_scan.item(path)
        assert item["sha256"] == hashlib.sha256(bad_scan.written[path]).hexdigest()
    # Unicode stays as written (no normalisation: "a\u0301" is not "á"), and the images among them were decoded.
    assert "a\u0301.txt" in bad_scan.items and "\u00e1.txt" not in bad_scan.items
    assert bad_scan.item(NESTED)["pdq"] and bad_scan.item(UNICODE_NAMES[0])["pdq"]
    assert bad_scan.item("bad\\xff\\xfename.jpg")["media"] == "image"


# ------------------------------------------------------------------------------------ items that change under us


def _only_item(root: Path) -> FolderItem:
    (item,) = [e for e in FolderSource(root).iter_entries() if isinstance(e, FolderItem)]
    return item


def test_file_deleted_between_listing_and_hashing(tmp_path: Path) -> None:
    path = tmp_path / "src" / "gone.jpg"
    path.parent.mkdir()
    path.write_bytes(_jpeg(120))
    item = _only_item(path.parent)
    path.unlink()

    row = hash_item((0, item, HashOptions()))

    assert "file vanished" in row["error"]
    assert row["path"] == "gone.jpg"
    assert row.get("md5") is None and row.get("sha256") is None


def test_file_replaced_by_a_directory_between_listing_and_hashing(tmp_path: Path) -> None:
    path = tmp_path / "src" / "swapped.jpg"
    path.parent.mkdir()
    path.write_bytes(b"x" * 10)
    item = _only_item(path.parent)
    path.unlink()
    path.mkdir()

    row = hash_item((0, item, HashOptions()))

    assert row["error"]
    assert row.get("sha256") is None


def test_file_growing_during_the_scan(tmp_path: Path) -> None:
    path = tmp_path / "src" / "growing.log"
    path.parent.mkdir()
    path.write_bytes(b"first line\n")
    item = _only_item(path.parent)
    assert item.size == 11
    with open(path, "ab") as fp:
        fp.write(b"second line\n")

    row = hash_item((0, item, HashOptions()))

    assert row.get("error") is None
    assert "size changed during the scan" in row["note"]
    assert "11" in row["note"] and "23" in row["note"]
    assert row["size"] == 23
    assert row["sha256"] == hashlib.sha256(b"first line\nsecond line\n").hexdigest()


# ------------------------------------------------------------------------------------------- unreadable files

_AS_NOBODY = textwrap.dedent(
    """
    import glob, json, os, sys
    from pathlib import Path
    from PIL import Image
    import hashwarden.report.html
    from hashwarden.config import ScanSettings
    from hashwarden.scan import run_scan
    from hashwarden.store import open_store

    warm, src, out, db = sys.argv[1:5]
    # The interpreter lives below /root (0700), where `nobody` cannot reach it: so start as root, load every module
    # a scan needs with a warm-up scan of a tiny folder, and only then give up root for the real scan.
    Image.init()
    engine = open_store(f"sqlite:///{db}")
    run_scan([warm], "warm-up", Path(out + "-warm"), engine, ScanSettings(allow_empty=True, workers=1))
    engine.dispose()
    for path in glob.glob(db + "*"):
        os.chmod(path, 0o666)
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    assert os.geteuid() == 65534 and os.getegid() == 65534
    result = run_scan([src], "unreadable", Path(out), engine, ScanSettings(allow_empty=True, workers=1))
    print(json.dumps({"report": str(result.files["report.json"])}))
    """
)


@pytest.fixture
def world_readable_tmp() -> Iterator[Path]:
    """A temporary folder `nobody` can reach (pytest's tmp_path lives below a 0700 directory)."""
    path = Path(tempfile.mkdtemp(prefix="hashwarden-perm-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unreadable_file_is_an_error_and_the_rest_are_hashed(world_readable_tmp: Path, tmp_path: Path) -> None:
    base = world_readable_tmp
    src = base / "evidence"
    (src / "sub").mkdir(parents=True)
    readable = {"a.jpg": _jpeg(130), "sub/b.txt": b"readable\n", "z.png": (corrupt_files(tmp_path / "c")["empty"]).read_bytes()}
    for name, data in readable.items():
        (src / name).write_bytes(data)
    locked = src / "sub" / "locked.jpg"
    locked.write_bytes(_jpeg(131))
    for directory in (src, src / "sub"):
        directory.chmod(0o755)
    for name in readable:
        (src / name).chmod(0o644)
    locked.chmod(0o000)
    work = base / "work"
    work.mkdir()
    work.chmod(0o777)

    if os.geteuid() == 0:
        warm = tmp_path / "warm"
        warm.mkdir()
        (warm / "w.jpg").write_bytes(_jpeg(132, (32, 24)))
        save(scene(133, (32, 24)), warm / "w.png", "PNG")
        (warm / "w.txt").write_text("warm\n")
        done = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, str(warm), str(src), str(work / "out"), str(work / "hw.db")],
            capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr
        report_path = Path(json.loads(done.stdout.strip().splitlines()[-1])["report"])
    else:
        engine = open_store(f"sqlite:///{work / 'hw.db'}")
        try:
            result = run_scan([str(src)], "unreadable", work / "out", engine, ScanSettings(allow_empty=True, workers=1))
        finally:
            engine.dispose()
        report_path = result.files["report.json"]

    report = json.loads(report_path.read_text(encoding="utf-8"))
    items = {item["path"]: item for item in report["items"]}
    assert set(items) == {"a.jpg", "sub/b.txt", "z.png", "sub/locked.jpg"}
    item = items["sub/locked.jpg"]
    assert item["status"] == "error"
    assert item["error"] == "cannot open: Permission denied"
    assert item.get("md5") is None and item.get("sha256") is None
    for name, data in readable.items():
        assert items[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert "error" not in items[name]
    assert report["summary"]["error"] == 1
    assert stat.S_IMODE(locked.stat().st_mode) == 0  # and the evidence was not touched


# ------------------------------------------------------------------------------------------- malformed imports

GOOD_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
GOOD_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"

MALFORMED = {
    "hashes": (
        "list.jsonl",
        f'{{"md5": "{GOOD_MD5}"}}\n{{"sha256": "{EMPTY_SHA256}", "category": "A"}}\n{{"md5": "not-hex"}}\n'
        f'{{"md5": "{EMPTY_MD5[::-1]}"}}\n',
    ),
    "md5sum": (
        "list.md5",
        f"{GOOD_MD5}  a.jpg\n{EMPTY_SHA1}  b.jpg\nthis is not a checksum line\n{GOOD_MD5[::-1]}  d.jpg\n",
    ),
    "pdq": (  # four distinct hashes: a repeated one would not be added twice
        "list.pdq",
        f"{GOOD_PDQ},100\n{GOOD_PDQ[::-1]},90\n{GOOD_PDQ[:60]},80\n{GOOD_PDQ[1:]}{GOOD_PDQ[0]},70\n",
    ),
}


READERS = {"hashes": jsonl.read, "md5sum": md5sum.read, "pdq": pdqlist.read}


def _entries(db: Path, set_name: str) -> int:
    engine = open_store(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            return next(s.entries for s in list_sets(conn) if s.name == set_name)
    finally:
        engine.dispose()


@pytest.mark.parametrize("fmt", sorted(MALFORMED))
def test_malformed_import_line_imports_nothing(tmp_path: Path, fmt: str) -> None:
    name, text = MALFORMED[fmt]
    db = tmp_path / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    with engine.begin() as conn:
        create_set(conn, "target", "alert")
    engine.dispose()
    listing = tmp_path / name
    listing.write_text(text, encoding="utf-8")

    done = subprocess.run(
        [str(HASHWARDEN), "import", fmt, str(listing), "--set", "target", "--db", str(db)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "400"},
    )

    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr
    assert "FormatError" in message
    assert f"{listing}:3:" in message
    assert "Traceback" not in message
    assert _entries(db, "target") == 0
    # The same list without its bad line imports completely (in-process: the CLI path is covered above).
    fixed = tmp_path / f"fixed-{name}"
    fixed.write_text("".join(line for i, line in enumerate(text.splitlines(True), 1) if i != 3), encoding="utf-8")
    engine = open_store(f"sqlite:///{db}")
    try:
        with open(fixed, "rb") as fp:
            assert import_entries(engine, "target", READERS[fmt](fp, str(fixed)), {"file": str(fixed)}) == 3
    finally:
        engine.dispose()
    assert _entries(db, "target") == 3


def test_cli_error_message_is_not_wrapped(tmp_path: Path) -> None:
    """Errors go to logs and scripts: the file name and line must stay on one line whatever the terminal width."""
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "hash-list-with-a-long-name.md5"
    deep.parent.mkdir(parents=True)
    deep.write_text(f"{GOOD_MD5}  a\n{GOOD_MD5}  b\nnot a checksum line\n")
    db = tmp_path / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    with engine.begin() as conn:
        create_set(conn, "target", "alert")
    engine.dispose()
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}

    done = subprocess.run(
        [str(HASHWARDEN), "import", "md5sum", str(deep), "--set", "target", "--db", str(db)],
        capture_output=True, text=True, timeout=60, env=env,
    )

    assert done.returncode == 1
    assert any(f"{deep}:3:" in line for line in done.stderr.splitlines()), done.stderr
