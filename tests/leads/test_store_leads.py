"""Leads beyond one case (leads/across.py), on a generated two-case scenario of benign images (the shared camera
serial written by exiftool): agency B's case holds new material, a camera and a series member's file; agency A's
seized folder holds a near copy of that material, a photo by that camera, a near copy of a series' media and a
photo by a series member's camera. The local scan, the service's `GET /v1/cases/{id}/leads`, and what each agency
is shown of the other's case."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import save, scene, variant
from hashwarden.leads.across import CaseCodes, add_store_leads
from hashwarden.scan import run_scan
from hashwarden.scan.hash_files import hash_paths
from hashwarden.service.app import create_app
from hashwarden.store import create_set
from hashwarden.store.cases import save_case
from hashwarden.store.identities import create_agency, create_user
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store.series import create_series, link_series_media
from tests.leads.exif_files import camera_exif, photo


def _scan(folder: Path, out: Path, engine: Any, name: str) -> dict[str, Any]:
    run_scan([str(folder)], name, out, engine, ScanSettings(workers=1), command=["test"])
    return json.loads((out / "report.json").read_text())


def _by_camera(path: Path, serial: str) -> None:
    """Give a benign photo a camera's make, model and body serial number the way a camera would state them, written
    by exiftool (Debian's libimage-exiftool-perl, a test tool): the shared serial of the two cases' photos."""
    done = subprocess.run(["exiftool", "-q", "-overwrite_original", "-Make=Canon", "-Model=EOS 5D",
                           f"-SerialNumber={serial}", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _store_leads(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [lead for lead in item.get("leads", []) if lead["kind"] in ("series", "cross_case")]


@pytest.fixture
def scenario(tmp_path: Path, fresh_store: Any) -> dict[str, Any]:
    engine = fresh_store
    keys = {}
    with engine.begin() as conn:
        create_set(conn, "national", "alert", category_scheme="uk-sentencing")
        for agency, user in (("Force A", "alice"), ("Force B", "bob")):
            create_agency(conn, agency)
            keys[agency] = create_user(conn, user, agency, "examiner")
        keys["matcher"] = create_user(conn, "platform", "Force A", "matcher")
    known = photo(tmp_path / "known" / "k.jpg", 300, None)
    (digests,) = [{k: r[k] for k in ("md5", "sha1", "sha256")} for r in hash_paths([str(known)])]
    import_entries(engine, "national", [EntryRecord(**digests, category="B")], {"file": "t"})

    # Agency B's case: new material, a photo by camera SN-X, and a file by camera SN-Y of media in series S-2.
    b_folder = tmp_path / "b"
    save(scene(201, (320, 240)), b_folder / "new.png", "PNG")
    _by_camera(photo(b_folder / "camera.jpg", 202, None), "SN-X")
    photo(b_folder / "series-two.jpg", 204, camera_exif(serial="SN-Y", thumbnail=False))
    report_b = _scan(b_folder, tmp_path / "out-b", engine, "OP-BRAVO")
    # Series S-1: media linked by all its hashes (PDQ too); S-2: media linked by its md5 alone, whose file sits in
    # B's case with its camera's serial.
    member = save(scene(203, (320, 240)), tmp_path / "series" / "member.png", "PNG")
    (member_hashes,) = [{k: r[k] for k in ("md5", "sha1", "sha256", "pdq")} for r in hash_paths([str(member)])]
    (two,) = [r for r in report_b["items"] if r["path"].endswith("series-two.jpg")]
    with engine.begin() as conn:
        case_b = save_case(conn, "Force B", "bob", report_b)
        create_series(conn, "S-1", "Series one")
        create_series(conn, "S-2", "Series two")
        link_series_media(conn, "S-1", member_hashes)
        link_series_media(conn, "S-2", {"md5": two["md5"]})

    # Agency A's seized folder.
    a_folder = tmp_path / "a"
    save(variant(scene(201, (320, 240)), "resized"), a_folder / "copy-of-new.jpg")
    _by_camera(photo(a_folder / "same-camera.jpg", 205, None), "SN-X")
    save(variant(scene(203, (320, 240)), "resized"), a_folder / "near-series.jpg")
    photo(a_folder / "series-camera.jpg", 206, camera_exif(serial="SN-Y", thumbnail=False))
    photo(a_folder / "plain.jpg", 207, None)
    report_a = _scan(a_folder, tmp_path / "out-a", engine, "OP-ALPHA")
    return {"engine": engine, "keys": keys, "case_b": case_b, "report_a": report_a,
            "items_a": {Path(item["path"]).name: item for item in report_a["items"]}}


def test_a_local_scan_gains_series_and_cross_case_leads(scenario: dict[str, Any]) -> None:
    items = scenario["items_a"]
    case_b = scenario["case_b"]

    (cross,) = _store_leads(items["copy-of-new.jpg"])
    assert cross["kind"] == "cross_case" and cross["by"] == "pdq" and cross["count"] == 1
    (named,) = cross["cases"]
    assert named["case_id"] == case_b and named["case"] == "OP-BRAVO" and named["agency"] == "Force B"
    assert named["items"] == 1 and 0 <= named["distance"] <= 31
    assert named["paths"] == ["new.png"]  # the store's own operator (a local scan) sees every path

    (device,) = _store_leads(items["same-camera.jpg"])
    assert device == {"kind": "cross_case", "by": "serial", "device": "Canon/SN-X", "count": 1,
                      "cases": [{"case_id": case_b, "case": "OP-BRAVO", "agency": "Force B", "items": 1,
                                 "known": 0}]}

    (series,) = _store_leads(items["near-series.jpg"])
    assert series["kind"] == "series" and series["series"] == "S-1" and series["name"] == "Series one"
    assert series["by"] == "pdq" and series["members"] == 1 and 0 <= series["distance"] <= 31

    leads = _store_leads(items["series-camera.jpg"])
    assert {"kind": "series", "series": "S-2", "name": "Series two", "by": "serial", "device": "Canon/SN-Y"} in leads
    assert any(lead["kind"] == "cross_case" and lead["by"] == "serial" for lead in leads)

    assert _store_leads(items["plain.jpg"]) == []


def test_report_html_puts_series_leads_after_new_material(scenario: dict[str, Any], tmp_path: Path) -> None:
    """report.html shows the store's leads as text; media near a series is near something known and so comes after
    media near nothing known in the victim-identification queue."""
    from hashwarden.report.html import queue_order

    items = scenario["report_a"]["items"]
    order = [Path(items[i]["path"]).name for i in queue_order(items)]
    assert order.index("near-series.jpg") > order.index("plain.jpg")
    assert order.index("near-series.jpg") > order.index("copy-of-new.jpg")


def test_the_service_gives_a_case_its_leads_and_hides_other_agencies_paths(scenario: dict[str, Any]) -> None:
    engine, keys, case_b = scenario["engine"], scenario["keys"], scenario["case_b"]
    client = TestClient(create_app(engine))

    def get(path: str, who: str) -> Any:
        return client.get(path, headers={"Authorization": f"Bearer {keys[who]}"})

    def post(path: str, body: Any, who: str) -> Any:
        return client.post(path, json=body, headers={"Authorization": f"Bearer {keys[who]}"})

    # Before agency A submits, B's case has no cross-case lead.
    before = get(f"/v1/cases/{case_b}/leads", "Force B")
    assert before.status_code == 200, before.text
    assert not any(lead["kind"] == "cross_case" for item in before.json()["items"] for lead in item["leads"])

    created = post("/v1/cases", scenario["report_a"], "Force A")
    assert created.status_code == 201, created.text
    case_a = created.json()["id"]
    own = post("/v1/cases", {**scenario["report_a"], "case": "OP-ALPHA-2"}, "Force A").json()["id"]

    answer = get(f"/v1/cases/{case_a}/leads", "Force A")
    assert answer.status_code == 200, answer.text
    by_name = {Path(item["path"]).name: item for item in answer.json()["items"]}
    assert set(by_name) == {"copy-of-new.jpg", "same-camera.jpg", "near-series.jpg", "series-camera.jpg",
                            "plain.jpg"}
    (cross,) = [lead for lead in by_name["copy-of-new.jpg"]["leads"] if lead["kind"] == "cross_case"]
    cases = {case["case_id"]: case for case in cross["cases"]}
    assert set(cases) == {case_b, own} and cross["count"] == 2  # not the case itself
    assert cases[case_b] == {"case_id": case_b, "case": "OP-BRAVO", "agency": "Force B", "items": 1,
                             "distance": cases[case_b]["distance"]}  # another agency: no path
    assert cases[own]["paths"] == [scenario["items_a"]["copy-of-new.jpg"]["path"]]  # its own agency's: paths
    assert any(lead["kind"] == "series" and lead["series"] == "S-1" for lead in by_name["near-series.jpg"]["leads"])

    # The analysts' page of the case shows the same leads (leads.across.case_leads, as text).
    shown = get(f"/ui/cases/{case_a}", "Force A")
    assert shown.status_code == 200 and "series: series S-1; name Series one; by pdq" in shown.text
    assert "cross_case: by pdq" in shown.text and "OP-BRAVO" in shown.text and "Force B" in shown.text

    # A case submitted later shows up in the leads of an earlier one (the codes are read again when cases change).
    after = get(f"/v1/cases/{case_b}/leads", "Force B").json()
    (new,) = [item for item in after["items"] if item["path"] == "new.png"]
    (cross,) = [lead for lead in new["leads"] if lead["kind"] == "cross_case"]
    assert {case["agency"] for case in cross["cases"]} == {"Force A"}
    assert all("paths" not in case for case in cross["cases"])

    # Paged by position; another agency's case is 404 like a missing one; a matcher key reads no case.
    first = get(f"/v1/cases/{case_a}/leads?limit=2", "Force A").json()
    assert len(first["items"]) == 2 and "next" in first
    rest = get(f"/v1/cases/{case_a}/leads?limit=10&after={first['next']}", "Force A").json()
    assert len(rest["items"]) == 3 and "next" not in rest
    assert get(f"/v1/cases/{case_a}/leads", "Force B").status_code == 404
    assert get("/v1/cases/999999/leads", "Force A").status_code == 404
    assert get(f"/v1/cases/{case_a}/leads", "matcher").status_code == 403


def test_low_quality_codes_and_the_own_case_take_no_part(fresh_store: Any) -> None:
    """A flat image's PDQ (quality below the matcher's floor) is near every other flat image: no lead either way;
    and a stored case is never its own cross-case lead."""
    with fresh_store.begin() as conn:
        create_agency(conn, "Force B")
        create_user(conn, "bob", "Force B", "examiner")
        flat = {"path": "flat.png", "status": "unknown", "media": "image", "pdq": "0" * 64, "pdq_quality": 10,
                "matches": []}
        good = {"path": "good.png", "status": "unknown", "media": "image", "pdq": "ab" * 32, "pdq_quality": 90,
                "matches": []}
        case_id = save_case(conn, "Force B", "bob", {"case": "X", "items": [flat, good]})
    with fresh_store.connect() as conn:
        items = [dict(flat), dict(good)]
        add_store_leads(conn, items)
        assert "leads" not in items[0]
        assert [lead["cases"][0]["case_id"] for lead in items[1]["leads"]] == [case_id]
        items = [dict(good)]
        add_store_leads(conn, items, own_case=case_id, codes=CaseCodes.load(conn))
        assert "leads" not in items[0]
