"""The scan end to end: matching rules, statuses, the report.json contract and the custody record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import save, scene, variant
from hashwarden.errors import ScanError
from hashwarden.scan import run_scan
from hashwarden.scan.hash_files import hash_paths
from hashwarden.store import create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store import audit

ITEM_KEYS = {"path", "size", "md5", "sha1", "sha256", "media", "pdq", "pdq_quality", "status", "matches"}


@pytest.fixture
def case(tmp_path: Path, fresh_store):
    """A known image set, and a seized folder with an exact copy, a rotated copy, an unrelated image and a text file."""
    known = tmp_path / "known"
    originals = {seed: scene(seed) for seed in (1, 2, 3)}
    for seed, image in originals.items():
        save(image, known / f"{seed}.jpg")
    seized = tmp_path / "seized"
    (seized / "sub").mkdir(parents=True)
    (seized / "exact.jpg").write_bytes((known / "1.jpg").read_bytes())
    save(variant(originals[2], "rot90"), seized / "sub" / "turned.jpg")
    save(scene(50), seized / "new.jpg")
    (seized / "readme.txt").write_text("benign")
    with fresh_store.begin() as conn:
        create_set(conn, "alert", "alert", category_scheme="uk-sentencing", version="3")
        create_set(conn, "benign", "ignorable", source="NSRL")
    records = [EntryRecord(**{k: r[k] for k in ("md5", "sha1", "sha256", "pdq", "pdq_quality")}, category="A")
               for r in hash_paths([str(known)])]
    import_entries(fresh_store, "alert", records, {"file": "test"})
    import_entries(fresh_store, "benign", [EntryRecord(sha1=hashlib.sha1(b"benign").hexdigest())], {"file": "t"})
    return seized, fresh_store, tmp_path / "out"


def _scan(case, **settings):
    seized, store, out = case
    result = run_scan([str(seized)], "CASE-1", out, store, ScanSettings(allow_empty=True, workers=1, **settings), command=["test"])
    report = json.loads((out / "report.json").read_text())
    return result, report, {item["path"]: item for item in report["items"]}


def test_statuses_and_matches(case) -> None:
    result, report, items = _scan(case)
    assert items["exact.jpg"]["status"] == "known"
    assert [m["method"] for m in items["exact.jpg"]["matches"]] == ["sha256"]
    turned = items["sub/turned.jpg"]
    assert turned["status"] == "known"
    (match,) = turned["matches"]
    assert match["method"] == "pdq" and match["distance"] <= 31 and match["transform"] in ("rot90", "rot270")
    assert (match["set"], match["kind"], match["category"], match["scheme"]) == ("alert", "alert", "A", "uk-sentencing")
    assert items["new.jpg"]["status"] == "unknown" and items["new.jpg"]["matches"] == []
    assert items["readme.txt"]["status"] == "ignorable" and items["readme.txt"]["matches"][0]["kind"] == "ignorable"
    assert report["summary"] | {"bytes": 0} == {
        "items": 4, "known": 2, "ignorable": 1, "unknown": 1, "error": 0, "skipped": 0, "bytes": 0,
        "by_category": {"uk-sentencing:A": 2}, "by_media": {"image": 3, "other": 1},
    }
    assert result.summary == report["summary"]


def test_report_contract(case) -> None:
    _, report, items = _scan(case)
    assert set(report) >= {"case", "tool", "sources", "summary", "items"}
    assert report["case"] == "CASE-1" and report["tool"]["name"] == "hashwarden"
    for item in report["items"]:
        assert ITEM_KEYS <= set(item)
        assert item["media"] in ("image", "video", "other")
        for match in item["matches"]:
            assert {"set", "kind", "method", "entry"} <= set(match)
            assert match["method"] in ("md5", "sha1", "sha256", "pdq")
    assert [i["path"] for i in report["items"]] == sorted(i["path"] for i in report["items"])
    assert items["new.jpg"]["pdq_quality"] >= 50 and len(items["new.jpg"]["pdq"]) == 64


def test_pdq_threshold_and_quality_are_respected(case) -> None:
    _, _, items = _scan(case, pdq_threshold=0)
    distance = items["sub/turned.jpg"]
    # the rotated copy is re-encoded (its nearest dihedral form is not bit-identical), so threshold 0 leaves it
    # unmatched, where the default threshold finds it (test_statuses_and_matches)
    assert (distance["status"], distance["matches"]) == ("unknown", [])
    seized, store, out = case
    _, _, strict = _scan((seized, store, out.with_name("out2")), pdq_min_quality=101)
    assert strict["sub/turned.jpg"]["status"] == "unknown"
    assert strict["exact.jpg"]["status"] == "known"  # exact matching does not depend on quality


def test_no_pdq_scan_is_digests_only(case) -> None:
    _, _, items = _scan(case, compute_pdq=False)
    assert all(item["pdq"] is None for item in items.values())
    assert items["exact.jpg"]["status"] == "known" and items["sub/turned.jpg"]["status"] == "unknown"


def test_custody_record(case) -> None:
    seized, store, out = case
    result, report, _ = _scan(case)
    custody = json.loads((out / "custody.json").read_text())
    assert custody["report_sha256"] == hashlib.sha256((out / "report.json").read_bytes()).hexdigest()
    assert custody["command"] == ["test"] and custody["tool"]["name"] == "hashwarden"
    assert custody["started_utc"] <= custody["finished_utc"]
    (source,) = custody["sources"]
    assert source["path"] == str(seized) and source["files"] == 4
    assert source["before"]["sha256"] == source["after"]["sha256"] and source["unchanged"] is True
    assert {s["name"]: s["version"] for s in custody["hash_sets"]} == {"alert": "3", "benign": None}
    with store.connect() as conn:
        verification = audit.verify(conn)
        assert verification.ok
        assert custody["audit"]["head_hash"] == verification.head_hash
    assert result.files["report.html"].read_text().startswith("<!DOCTYPE html>")


def test_scan_refuses_to_overwrite_or_write_into_evidence(case) -> None:
    seized, store, out = case
    _scan(case)
    with pytest.raises(ScanError, match="--resume"):
        run_scan([str(seized)], "CASE-1", out, store, ScanSettings(allow_empty=True, workers=1))
    with pytest.raises(ScanError, match="evidence is never written"):
        run_scan([str(seized)], "CASE-1", seized / "case", store, ScanSettings(allow_empty=True, workers=1))
    with pytest.raises(ScanError, match="not found"):
        run_scan([str(seized / "nope")], "CASE-1", out.with_name("o3"), store, ScanSettings(allow_empty=True, workers=1))


def test_parallel_scan_gives_the_same_report(case) -> None:
    seized, store, out = case
    _, serial, _ = _scan(case)
    run_scan([str(seized)], "CASE-1", out.with_name("par"), store, ScanSettings(allow_empty=True, workers=2))
    assert json.loads((out.with_name("par") / "report.json").read_text()) == serial


def test_files_are_hashed_largest_first(tmp_path: Path, fresh_store) -> None:
    """docs/architecture.md: "Files run largest first, so two workers do not end with one idle". With one worker the
    order case.db records the files in is the order they ran, whatever their names' order."""
    import sqlite3

    seized = tmp_path / "seized"
    seized.mkdir()
    sizes = {"a.bin": 1_000, "b.bin": 50_000, "c.bin": 0, "d.bin": 7_000, "e.bin": 300_000}
    for name, size in sizes.items():
        (seized / name).write_bytes(b"x" * size)
    run_scan([str(seized)], "ORDER", tmp_path / "out", fresh_store, ScanSettings(allow_empty=True, workers=1))
    with sqlite3.connect(tmp_path / "out" / "case.db") as db:
        recorded = [size for (size,) in db.execute("SELECT size FROM item ORDER BY rowid")]
    assert recorded == sorted(sizes.values(), reverse=True)


def test_a_container_is_recorded_after_everything_it_holds(tmp_path: Path, fresh_store) -> None:
    """docs/architecture.md: containers are recorded after their members, so a recorded container means its whole
    subtree is recorded (what --resume relies on): in case.db's order, every item under a zip (nested zip included)
    comes before the zip itself."""
    import io
    import sqlite3
    import zipfile

    def zipped(members: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return buffer.getvalue()

    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "outer.zip").write_bytes(zipped({"a.txt": b"a", "inner.zip": zipped({"b.txt": b"b"}), "c.txt": b"c"}))
    run_scan([str(seized)], "TREE", tmp_path / "out", fresh_store, ScanSettings(allow_empty=True, workers=1))
    with sqlite3.connect(tmp_path / "out" / "case.db") as db:
        order = [path for (path,) in db.execute("SELECT path FROM item ORDER BY rowid")]
    assert sorted(order) == ["outer.zip", "outer.zip!/a.txt", "outer.zip!/c.txt", "outer.zip!/inner.zip",
                             "outer.zip!/inner.zip!/b.txt"]
    for container in ("outer.zip", "outer.zip!/inner.zip"):
        held = [path for path in order if path.startswith(f"{container}!/")]
        assert all(order.index(path) < order.index(container) for path in held), order
