"""Where a silent one-character change would give a wrong verdict (issue 16's surviving mutants): the PDQ quality
rule at 49/50 on each side, the distance threshold at its boundary, and custody's "unchanged" when evidence did
change during a scan (with and without the second read)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import scene
from hashwarden.scan import pipeline, run_scan
from hashwarden.scan.matcher import Matcher
from hashwarden.signals import HashOptions, hash_stream
from hashwarden.store import create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord


def signals(image: Image.Image) -> dict:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    found = hash_stream(io.BytesIO(buffer.getvalue()), HashOptions(dihedral=True))
    return {"pdq": found.pdq, "pdq_quality": found.pdq_quality, "pdq_dihedral": list(found.pdq_dihedral)}


def flip_bits(hex_hash: str, count: int) -> str:
    value = int(hex_hash, 16)
    for bit in range(count):
        value ^= 1 << (7 + 13 * bit)
    return f"{value:064x}"


@pytest.fixture()
def store_with(fresh_store):
    def add(*entries: EntryRecord):
        with fresh_store.begin() as conn:
            create_set(conn, "known", "alert")
        import_entries(fresh_store, "known", list(entries), {"file": "boundaries"})
        return fresh_store
    return add


def test_entry_quality_49_is_not_matched_and_50_is(store_with) -> None:
    item = signals(scene(3))
    store = store_with(EntryRecord(md5="1" * 32, pdq=item["pdq"], pdq_quality=49),
                       EntryRecord(md5="2" * 32, pdq=flip_bits(item["pdq"], 1), pdq_quality=50))
    matches = Matcher.from_store(store).match({**item, "pdq_quality": 100})
    assert [m["distance"] for m in matches] == [1]  # only the quality-50 entry; the exact (distance 0) one is not


@pytest.mark.parametrize("quality, found", [(49, False), (50, True)])
def test_item_quality_below_50_is_not_matched(store_with, quality: int, found: bool) -> None:
    item = signals(scene(4))
    store = store_with(EntryRecord(md5="3" * 32, pdq=item["pdq"], pdq_quality=100))
    assert bool(Matcher.from_store(store).match({**item, "pdq_quality": quality})) is found


def test_distance_threshold_is_inclusive_and_zero_means_exact(store_with) -> None:
    item = signals(scene(5))
    store = store_with(EntryRecord(md5="4" * 32, pdq=flip_bits(item["pdq"], 5), pdq_quality=100))
    near = {"pdq": item["pdq"], "pdq_quality": 100}  # 5 bits from the entry, no dihedral forms
    assert [m["distance"] for m in Matcher.from_store(store, pdq_threshold=5).match(near)] == [5]
    assert Matcher.from_store(store, pdq_threshold=4).match(near) == []
    assert Matcher.from_store(store, pdq_threshold=0).match(near) == []
    rotated = signals(scene(5).transpose(Image.Transpose.ROTATE_90))  # a rotated copy: found only through its forms
    assert Matcher.from_store(store, pdq_threshold=0).match(rotated) == []


@pytest.mark.parametrize("verify_after", [True, False])
def test_evidence_changed_during_the_scan_is_not_reported_unchanged(tmp_path: Path, fresh_store, monkeypatch,
                                                                   verify_after: bool) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "a.txt").write_bytes(b"as seized")
    (evidence / "b.txt").write_bytes(b"untouched")
    real = pipeline._record

    def and_then_tamper(*args, **kwargs):  # noqa: ANN002, ANN003
        hashed = real(*args, **kwargs)
        (evidence / "a.txt").write_bytes(b"changed while the scan ran")  # after it was read
        return hashed

    monkeypatch.setattr(pipeline, "_record", and_then_tamper)
    run_scan([str(evidence)], "C", tmp_path / "out", fresh_store, ScanSettings(allow_empty=True, workers=1, verify_after=verify_after))
    source = json.loads((tmp_path / "out" / "custody.json").read_text())["sources"][0]
    assert source["unchanged"] is False
    assert source["changed"] == ["a.txt"]
