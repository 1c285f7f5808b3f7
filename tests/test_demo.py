"""`make demo` must show every status, recognise every altered copy and keep evidence untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashwarden.demo.run import DATABASE, DEMO_GRADED_SET, SEIZED_COPIES, SEIZED_VIDEO, UNRELATED_SEEDS, run_demo
from hashwarden.errors import ScanError


def test_demo_shows_every_status(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo", workers=2)
    report = json.loads((tmp_path / "demo" / "case" / "report.json").read_text())
    items = {item["path"]: item for item in report["items"]}
    for status in ("known", "ignorable", "unknown", "error"):
        assert result.summary[status] > 0, status
    assert result.summary["skipped"] == 1
    for _, kind, name in SEIZED_COPIES:
        assert items[name]["status"] == "known", (kind, name, items[name])
    assert items[SEIZED_VIDEO]["status"] == "known", items[SEIZED_VIDEO]  # trimmed by 0.5 s: set holds every frame
    for seed in UNRELATED_SEEDS:
        assert items[f"Pictures/unsorted/photo_{seed}.jpg"]["status"] == "unknown"
    custody = json.loads((tmp_path / "demo" / "case" / "custody.json").read_text())
    assert custody["sources"][0]["unchanged"] is True
    _grading_step_shown(tmp_path / "demo")
    # rerunning rebuilds the demo folder; a folder the demo did not make is never deleted
    run_demo(tmp_path / "demo", workers=1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep")
    with pytest.raises(ScanError, match="not made by the demo"):
        run_demo(tmp_path / "mine")
    assert (tmp_path / "mine" / "precious.txt").exists()


def _grading_step_shown(out_dir: Path) -> None:
    """The demo's grading step: photo_100 confirmed C by its three reviewers, photo_101 disputed, the confirmed
    one published as demo-graded version 1, the audit chain proving sets and votes, and the case's statistics."""
    from hashwarden.grading.consensus import grades
    from hashwarden.store import audit, get_set, open_store
    from hashwarden.store.hashsets import count_entries

    report = json.loads((out_dir / "case" / "report.json").read_text())
    md5 = {item["path"]: item["md5"] for item in report["items"]}
    engine = open_store(f"sqlite:///{out_dir / DATABASE}")
    with engine.connect() as conn:
        found = {g.hashes["md5"]: (g.state, g.category.value, len(g.votes)) for g in grades(conn)}
        graded = get_set(conn, DEMO_GRADED_SET)
        entries = count_entries(conn, graded.id)
        verified = audit.verify(conn)
    engine.dispose()
    assert found == {md5["Pictures/unsorted/photo_100.jpg"]: ("confirmed", "C", 3),
                     md5["Pictures/unsorted/photo_101.jpg"]: ("disputed", None, 3)}
    assert (graded.version, entries, graded.source) == ("1", 1, "grading")
    assert verified.ok and verified.votes == 6, verified.problems
    stats = json.loads((out_dir / "stats" / "stats.json").read_text())
    assert stats["case"] == str(out_dir / "case") and {c: v["count"] for c, v in stats["by"]["category"].items()} == {
        "C": 1, "disputed": 1}
    assert (out_dir / "stats" / "stats.html").exists() and (out_dir / "stats" / "stats.csv").exists()
