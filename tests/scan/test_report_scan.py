"""A scan's report end to end: categories by seriousness, series and victim flags from the store, and what
report.html says about the hash sets, the custody and the queue. Images are synthetic scenes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import save, scene
from hashwarden.report.html import queue_order
from hashwarden.scan import run_scan
from hashwarden.scan.hash_files import hash_paths
from hashwarden.store import create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord


@pytest.mark.parametrize(("uncategorised_set", "category_set"), [("aaa-shared", "zzz-national"),
                                                                  ("zzz-shared", "aaa-national")])
def test_report_of_an_item_in_two_sets(tmp_path: Path, fresh_store, uncategorised_set: str, category_set: str) -> None:
    save(scene(7), tmp_path / "known" / "k.jpg")
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "copy.jpg").write_bytes((tmp_path / "known" / "k.jpg").read_bytes())
    save(scene(70), seized / "new.jpg")
    (seized / "notes.txt").write_text("benign text")
    (digests,) = [{k: r[k] for k in ("md5", "sha1", "sha256")} for r in hash_paths([str(tmp_path / "known")])]
    with fresh_store.begin() as conn:
        create_set(conn, uncategorised_set, "alert", version="7")
        create_set(conn, category_set, "alert", category_scheme="uk-sentencing", version="2024.1")
    import_entries(fresh_store, uncategorised_set, [EntryRecord(**digests)], {"file": "t1"})
    import_entries(fresh_store, category_set, [EntryRecord(**digests, category="A", series="series-one",
                                                           victim_identified=False)], {"file": "t2"})

    out = tmp_path / "out"
    run_scan([str(seized)], "CASE-R", out, fresh_store, ScanSettings(workers=1), command=["test"])
    report = json.loads((out / "report.json").read_text())
    items = {item["path"]: item for item in report["items"]}

    # Counted once, under A, whichever set name sorts first.
    assert report["summary"]["by_category"] == {"uk-sentencing:A": 1}
    flagged = [m for m in items["copy.jpg"]["matches"] if m["set"] == category_set]
    assert flagged == [{"set": category_set, "kind": "alert", "method": "sha256", "entry": flagged[0]["entry"],
                        "category": "A", "scheme": "uk-sentencing", "series": "series-one", "victim_identified": False}]
    assert not {"series", "victim_identified"} & set(next(m for m in items["copy.jpg"]["matches"] if m["set"] == uncategorised_set))

    # The examiner's queue: the unknown image, then the unknown text file, then the known copy.
    assert [report["items"][i]["path"] for i in queue_order(report["items"])] == ["new.jpg", "notes.txt", "copy.jpg"]

    page = (out / "report.html").read_text()
    sets = re.search(r'<table id="hash-sets">(.*?)</table>', page, flags=re.S).group(1)
    assert uncategorised_set in sets and category_set in sets and "2024.1" in sets
    custody = json.loads((out / "custody.json").read_text())
    runs = re.search(r'<table id="custody-runs">(.*?)</table>', page, flags=re.S).group(1)
    assert custody["started_utc"] in runs and custody["runs"][0]["finished"] in runs
    unchanged = re.search(r'<table id="custody-sources">(.*?)</table>', page, flags=re.S).group(1)
    assert '<span class="ok">yes</span>' in unchanged and custody["sources"][0]["unchanged"] is True
    assert "Category A" in re.search(r'<table id="summary-category">(.*?)</table>', page, flags=re.S).group(1)
