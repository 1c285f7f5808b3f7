"""`make demo` must show every status, recognise every altered copy and keep evidence untouched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashwarden.demo.run import SEIZED_COPIES, SEIZED_VIDEO, UNRELATED_SEEDS, run_demo
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
    # rerunning rebuilds the demo folder; a folder the demo did not make is never deleted
    run_demo(tmp_path / "demo", workers=1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "precious.txt").write_text("keep")
    with pytest.raises(ScanError, match="not made by the demo"):
        run_demo(tmp_path / "mine")
    assert (tmp_path / "mine" / "precious.txt").exists()
