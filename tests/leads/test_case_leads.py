"""Leads on a generated case: two devices, two bursts of one of them, a near-duplicate pair without metadata, a
known photo from one of the devices. Checks report.json's `metadata`, `cluster` and `leads` and the examiner's
queue order for victim identification. Images are synthetic scenes; EXIF is written by tests/leads/exif_files.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import scene, variant
from hashwarden.leads.clusters import MAX_LEAD_ITEMS, add_leads
from hashwarden.report.html import queue_order, render_html
from hashwarden.scan import run_scan
from hashwarden.scan.hash_files import hash_paths
from hashwarden.store import create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from tests.leads.exif_files import camera_exif, photo
from tests.report.test_html import rendered


def _canon(taken: str) -> bytes:
    return camera_exif(serial="SN-A", taken=taken, offset="+01:00", gps=None, thumbnail=False)


def _nikon(taken: str) -> bytes:  # no serial: make + model + software identify it
    return camera_exif(make="Nikon", model="D850", software="Ver.1.10", serial=None, lens_serial=None,
                       taken=taken, offset=None, gps=(48.8584, 2.2945), thumbnail=True)


@pytest.fixture
def case(tmp_path: Path, fresh_store) -> dict[str, Any]:
    seized = tmp_path / "seized"
    photo(seized / "canon" / "a1.jpg", 101, _canon("2024:03:01 10:00:00"))
    photo(seized / "canon" / "a2.jpg", 102, _canon("2024:03:01 10:00:05"))
    photo(seized / "canon" / "a3.jpg", 103, _canon("2024:03:01 10:00:12"))
    photo(seized / "canon" / "b1.jpg", 104, _canon("2024:03:02 15:00:00"))
    photo(seized / "canon" / "b2.jpg", 105, _canon("2024:03:02 15:00:20"))
    photo(seized / "nikon" / "n1.jpg", 106, _nikon("2024:03:05 12:00:00"))
    photo(seized / "nikon" / "n2.jpg", 107, _nikon("2024:03:05 12:00:03"))
    near = scene(108, (320, 240))
    (seized / "dup").mkdir()
    near.save(seized / "dup" / "d1.png")
    variant(near, "resized").save(seized / "dup" / "d2.jpg")
    photo(seized / "loose.jpg", 109, None)
    known = photo(tmp_path / "known" / "k.jpg", 110, _canon("2023:01:01 09:00:00"))
    (seized / "canon" / "known-copy.jpg").write_bytes(known.read_bytes())
    (digests,) = [{k: r[k] for k in ("md5", "sha1", "sha256")} for r in hash_paths([str(known)])]
    with fresh_store.begin() as conn:
        create_set(conn, "national", "alert", category_scheme="uk-sentencing", version="1")
    import_entries(fresh_store, "national", [EntryRecord(**digests, category="B")], {"file": "t"})
    out = tmp_path / "out"
    run_scan([str(seized)], "CASE-LEADS", out, fresh_store, ScanSettings(workers=1), command=["test"])
    report = json.loads((out / "report.json").read_text())
    return {"report": report, "items": {item["path"]: item for item in report["items"]}, "out": out}


def test_metadata_clusters_and_device_leads_in_report_json(case: dict[str, Any]) -> None:
    items = case["items"]
    assert items["canon/a1.jpg"]["metadata"] == {
        "make": "Canon", "model": "EOS 5D", "serial": "SN-A", "lens_serial": "LS-42", "software": "Firmware 1.0.2",
        "captured": "2024-03-01T10:00:00+01:00"}
    assert items["nikon/n1.jpg"]["metadata"] == {
        "make": "Nikon", "model": "D850", "software": "Ver.1.10", "captured": "2024-03-05T12:00:00",
        "gps": {"latitude": 48.8584, "longitude": 2.2945}, "has_thumbnail": True}
    assert "metadata" not in items["loose.jpg"] and "leads" not in items["loose.jpg"]

    # Two bursts of the Canon (20 s apart within each, a day apart between), one of the Nikon, one near-duplicate pair.
    clusters = {path: item.get("cluster") for path, item in items.items()}
    assert clusters["canon/a1.jpg"] == clusters["canon/a2.jpg"] == clusters["canon/a3.jpg"] is not None
    assert clusters["canon/b1.jpg"] == clusters["canon/b2.jpg"] is not None
    assert clusters["canon/a1.jpg"] != clusters["canon/b1.jpg"]
    assert clusters["nikon/n1.jpg"] == clusters["nikon/n2.jpg"] is not None
    assert clusters["dup/d1.png"] == clusters["dup/d2.jpg"] is not None
    assert clusters["loose.jpg"] is None and clusters["canon/known-copy.jpg"] is None  # known items are not clustered
    assert len({c for c in clusters.values() if c}) == 4
    (burst,) = [lead for lead in items["canon/a2.jpg"]["leads"] if lead["kind"] == "cluster"]
    assert burst == {"kind": "cluster", "cluster": clusters["canon/a1.jpg"], "by": ["burst"],
                     "items": ["canon/a1.jpg", "canon/a3.jpg"], "count": 2}
    (dup,) = items["dup/d1.png"]["leads"]
    assert dup["by"] == ["near_duplicate"] and dup["items"] == ["dup/d2.jpg"]

    # The Canon made five unknown photos and one known: each unknown Canon photo has a device lead naming it.
    (device,) = [lead for lead in items["canon/b1.jpg"]["leads"] if lead["kind"] == "device"]
    assert device == {"kind": "device", "by": "serial", "device": "Canon/SN-A", "count": 5, "known": 1,
                      "items": ["canon/a1.jpg", "canon/a2.jpg", "canon/a3.jpg", "canon/b2.jpg", "canon/known-copy.jpg"]}
    (nikon,) = [lead for lead in items["nikon/n2.jpg"]["leads"] if lead["kind"] == "device"]
    assert nikon["by"] == "make_model_software" and nikon["device"] == "Nikon/D850/Ver.1.10" and nikon["known"] == 0
    assert "leads" not in items["canon/known-copy.jpg"]  # leads are for unknown items

    # The contract fields of report.json are still there, unchanged.
    for item in items.values():
        assert {"path", "source", "size", "md5", "sha1", "sha256", "media", "format", "pdq", "pdq_quality", "status",
                "matches"} <= set(item)
    assert case["report"]["summary"]["known"] == 1 and case["report"]["summary"]["unknown"] == 10


def test_queue_order_for_victim_identification(case: dict[str, Any]) -> None:
    """Near nothing known first (the Nikon burst, newest; then the near-duplicates and the loose photo, which have no
    capture time); then the Canon's photos, whose camera also made known material, newest burst first; then known."""
    report = case["report"]
    order = [report["items"][i]["path"] for i in queue_order(report["items"])]
    assert order == ["nikon/n2.jpg", "nikon/n1.jpg", "loose.jpg", "dup/d1.png", "dup/d2.jpg",
                     "canon/b2.jpg", "canon/b1.jpg", "canon/a3.jpg", "canon/a2.jpg", "canon/a1.jpg",
                     "canon/known-copy.jpg"]
    page = (case["out"] / "report.html").read_text()
    assert json.loads(page.split('id="hw-order">')[1].split("</script>")[0]) == queue_order(report["items"])
    assert "leads" in render_html(report)  # the page's script renders them (text only): see test_html's browser test


def test_a_lead_names_at_most_max_lead_items() -> None:
    items = [{"path": f"p{i:04d}.jpg", "status": "unknown", "media": "image",
              "metadata": {"make": "M", "serial": "S", "captured": f"2024-01-01T10:{i // 60:02d}:{i % 60:02d}"}}
             for i in range(MAX_LEAD_ITEMS + 30)]
    add_leads(items)
    leads = {lead["kind"]: lead for lead in items[0]["leads"]}
    assert leads["cluster"]["count"] == leads["device"]["count"] == MAX_LEAD_ITEMS + 29
    assert len(leads["cluster"]["items"]) == len(leads["device"]["items"]) == MAX_LEAD_ITEMS
    assert {item["cluster"] for item in items} == {"c1"}


@pytest.mark.heavy
def test_report_html_shows_metadata_and_leads_as_text(tmp_path: Path) -> None:
    camera = {"make": "Canon", "model": "EOS 5D", "serial": "SN-A", "captured": "2024-03-01T10:00:00+01:00",
              "gps": {"latitude": 48.8584, "longitude": 2.2945}, "has_thumbnail": True}
    items = [{"path": f"p{i}.jpg", "source": 0, "size": 1, "status": "unknown", "media": "image", "matches": [],
              "metadata": {**camera, "captured": f"2024-03-01T10:00:0{i}+01:00"}} for i in range(3)]
    add_leads(items)
    html_file = tmp_path / "report.html"
    html_file.write_text(render_html({"case": "C", "items": items}), encoding="utf-8")
    dom, rows = rendered(html_file)
    assert re.findall(r'<td class="path">(.*?)</td>', rows) == ["p2.jpg", "p1.jpg", "p0.jpg"]  # newest first
    assert "Canon EOS 5D \u00b7 serial SN-A" in rows and "GPS 48.8584, 2.2945" in rows
    assert "embedded thumbnail (not shown)" in rows
    assert "lead: cluster c1 (burst) with 2 other items: p0.jpg, p1.jpg" in rows
    assert "lead: device Canon/SN-A (serial) with 2 other items" in rows
    assert "<img" not in dom


def test_the_service_accepts_a_report_with_leads(case: dict[str, Any]) -> None:
    """A scan's report.json with metadata, clusters and leads is a valid case for `POST /v1/cases` (no imagery key:
    the thumbnail is a flag, `has_thumbnail`)."""
    from hashwarden.service.cases import CaseReport

    accepted = CaseReport.model_validate(case["report"]).model_dump()
    assert any("leads" in item and "metadata" in item for item in accepted["items"])
