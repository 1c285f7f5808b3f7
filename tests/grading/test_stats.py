"""Statistics of graded media (grading/stats.py, `hashwarden stats`): the IWF study's figures reproduced from a
synthetic population graded by three reviewers, the filters, the age-group refusal, the outputs' shapes."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hashwarden.errors import GradingError
from hashwarden.grading.stats import CSV_COLUMNS, StatsQuery, compute_stats, parse_age_groups, parse_time, write_stats
from hashwarden.grading.votes import cast_votes
from hashwarden.store import create_set, open_store
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord, Vote
from tests.test_cli import hw

REVIEWERS = ("analyst-1", "analyst-2", "analyst-3")
# The study (IWF, "Emerging Patterns and Trends Report #1", 2015) and how the synthetic population meets it:
# 3,803 items; 286 aged 10 or younger, 381 more 11-15 (667 in all); 2,000 aged 16-20; 1,000 adults, 136 unknown.
# Of the 667: 621 girls (93.1 %), 573 webcam (85.9 %), 313 Category A or B (46.9 %); of 16-20: 552 A or B (27.6 %);
# 3,419 of all redistributed (89.9 %).
POPULATION = {"0-10": 286, "11-15": 381, "16-20": 2000, "adult": 1000, "unknown": 136}
BANDS = {"0-10": ("0-2", "3-6", "7-10"), "11-15": ("11-13", "14-15"), "16-20": ("16-17", "18-20"),
         "adult": ("adult",), "unknown": ("unknown",)}


def sha256_of(n: int) -> str:
    return hashlib.sha256(f"synthetic media {n}".encode()).hexdigest()


def population() -> list[dict[str, str]]:
    """One dict of vote fields per media, meeting the study's figures exactly."""
    items: list[dict[str, str]] = []
    for group, size in POPULATION.items():
        for k in range(size):
            items.append({"group": group, "age_band": BANDS[group][k % len(BANDS[group])]})
    under16 = [item for item in items if item["group"] in ("0-10", "11-15")]
    for k, item in enumerate(under16):  # interleaved so that 0-10 and 11-15 both get some of each value
        item["sex"] = "female" if k < 621 else "male"
        item["capture_device"] = "webcam" if (k * 7) % 667 < 573 else "phone"
        item["category"] = "A" if (k * 11) % 667 < 150 else "B" if (k * 11) % 667 < 313 else "C"
        item["self_generated"] = "yes"
    for k, item in enumerate(i for i in items if i["group"] == "16-20"):
        item["category"] = "A" if k < 200 else "B" if k < 552 else "C"
        item["sex"], item["capture_device"], item["self_generated"] = "female", "phone", "yes"
    for item in items:
        item.setdefault("category", "C")
        item.setdefault("sex", "unknown")
        item.setdefault("capture_device", "unknown")
        item.setdefault("self_generated", "unknown")
    for n, item in enumerate(items):
        item["redistributed"] = "yes" if (n * 13) % 3803 < 3419 else "no"
    return items


def vote_all(engine: Any, items: list[dict[str, str]], reviewers: tuple[str, ...] = REVIEWERS,
             agency: str = "Hotline A", start: int = 0) -> None:
    """Every reviewer's vote on every item, in one transaction through the store's own path (checked, audited)."""
    votes = [Vote(scheme="uk-sentencing", reviewer=reviewer, agency=agency, sha256=sha256_of(start + n),
                  **{k: v for k, v in item.items() if k != "group"})
             for n, item in enumerate(items) for reviewer in reviewers]
    with engine.begin() as conn:
        cast_votes(conn, votes)


@pytest.fixture(scope="module")
def study_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("study") / "study.db"
    engine = open_store(f"sqlite:///{db}")
    vote_all(engine, population())
    engine.dispose()
    return db


def test_the_study_figures_are_reproduced(study_db: Path, tmp_path: Path) -> None:
    hw("stats", "--age-groups", "0-10,11-15,16-20,0-15,adult", "-o", str(tmp_path / "out"), db=study_db)
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["total"] == 3803 and stats["by"]["state"] == {"confirmed": {"count": 3803, "share": 1.0,
                                                                             "percent": 100.0}}
    groups = stats["by_age_group"]
    assert groups["0-15"]["total"] == 667 and round(667 / 3803 * 100, 1) == stats["by"]["age_group"]["0-15"][
        "percent"] == 17.5
    assert groups["0-10"]["total"] == 286 and groups["11-15"]["total"] == 381
    under16 = groups["0-15"]
    assert under16["sex"]["female"]["percent"] == 93.1
    assert under16["capture_device"]["webcam"] == {"count": 573, "share": round(573 / 667, 6), "percent": 85.9}
    assert round(sum(under16["category"][c]["share"] for c in "AB") * 100, 1) == 46.9
    assert under16["category"]["A"]["count"] + under16["category"]["B"]["count"] == 313
    ab_16_20 = sum(groups["16-20"]["category"][c]["count"] for c in "AB")
    assert ab_16_20 == 552 and round(ab_16_20 / groups["16-20"]["total"] * 100, 1) == 27.6
    assert stats["by"]["redistributed"]["yes"]["percent"] == 89.9
    assert stats["by"]["agency"] == {"Hotline A": {"count": 3803, "share": 1.0, "percent": 100.0}}
    assert sum(cell["count"] for cell in stats["cells"]) == 3803


def test_json_csv_and_html_shapes(study_db: Path, tmp_path: Path) -> None:
    printed = json.loads(hw("stats", "--json", db=study_db).stdout)
    assert set(printed) >= {"scheme", "rule", "statuses", "time", "total", "by", "by_age_group", "cells"}
    assert printed["statuses"] == ["confirmed", "indicative"] and printed["time"] == "grade"
    hw("stats", "-o", str(tmp_path / "out"), db=study_db)
    assert json.loads((tmp_path / "out" / "stats.json").read_text()) == printed
    with open(tmp_path / "out" / "stats.csv", newline="") as fp:
        rows = list(csv.DictReader(fp))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert sum(int(row["count"]) for row in rows) == 3803
    assert [dict(row) for row in rows] == [{k: str(v) for k, v in cell.items()} for cell in printed["cells"]]
    page = (tmp_path / "out" / "stats.html").read_text(encoding="ascii")
    assert page.count("<svg") >= 6 and "<img" not in page and "<script" not in page
    assert not re.search(r"https?:|//[a-z]|url\(|@import|xmlns|href|src=", page, re.I)
    assert ' style="' not in page and page.count("<style>") == 1
    assert "default-src 'none'" in page and "script-src 'none'" in page


def test_the_page_style_block_is_the_one_its_policy_allows(study_db: Path, tmp_path: Path) -> None:
    hw("stats", "-o", str(tmp_path), db=study_db)
    page = (tmp_path / "stats.html").read_text()
    style = page.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in page


@pytest.mark.parametrize("groups, band", [("0-12", "11-13"), ("0-10,11-14", "14-15"), ("16-19", "18-20"),
                                          ("4-5", "3-6"), ("20+", "18-20")])
def test_a_group_splitting_a_band_is_refused_naming_it(groups: str, band: str, tmp_path: Path) -> None:
    with pytest.raises(GradingError, match=f"splits the age band {band}"):
        parse_age_groups(groups)
    engine = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    engine.dispose()
    done = hw("stats", "--json", "--age-groups", groups, db=tmp_path / "empty.db", check=False)
    assert done.returncode == 1 and f"splits the age band {band}" in done.stderr


def test_age_groups_are_whole_bands() -> None:
    assert [(g.name, g.bands) for g in parse_age_groups("0-10, 11-15,16-20,21+,unknown")] == [
        ("0-10", ("0-2", "3-6", "7-10")), ("11-15", ("11-13", "14-15")), ("16-20", ("16-17", "18-20")),
        ("21+", ("adult",)), ("unknown", ("unknown",))]
    for bad in ("teens", "10-5", "0-10,0-10"):
        with pytest.raises(GradingError, match="age_groups"):
            parse_age_groups(bad)


def test_time_and_status_filters(store_engine: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A grade's time is its newest current vote's: a media whose third vote came in February is February's."""
    times = iter(["2026-01-10T00:00:00.000000Z"] * 6 + ["2026-02-03T00:00:00.000000Z"] * 3
                 + ["2026-02-20T00:00:00.000000Z"] * 2)
    monkeypatch.setattr("hashwarden.store.votes.utc_now", lambda: next(times))
    items = [{"category": "A", "age_band": "14-15"}, {"category": "B", "age_band": "7-10"}]
    vote_all(store_engine, items)  # media 0 and 1: 3 votes each, in January (6 votes)
    vote_all(store_engine, [{"category": "C"}], start=2)  # media 2: February 3rd
    vote_all(store_engine, [{"category": "C"}], reviewers=REVIEWERS[:2], start=3)  # media 3: 2 votes, indicative
    with store_engine.connect() as conn:
        def count(**query: Any) -> int:
            return compute_stats(conn, StatsQuery(**query))["total"]

        assert count() == 4
        assert count(statuses=("confirmed",)) == 3 and count(statuses=("indicative",)) == 1
        assert count(since=parse_time("2026-02-01", "since")) == 2
        assert count(until=parse_time("2026-02-01", "until")) == 2
        assert count(since=parse_time("2026-02-03", "since"), until=parse_time("2026-02-04", "until")) == 1
        assert count(since=parse_time("2026-02-03T00:00:00.000001Z", "since")) == 1
        months = compute_stats(conn, StatsQuery())["by"]["month"]
        assert {m: v["count"] for m, v in months.items()} == {"2026-01": 2, "2026-02": 2}


def test_disputes_count_as_disputed_when_asked(store_engine: Any) -> None:
    vote_all(store_engine, [{"category": "A", "sex": "female"}], reviewers=REVIEWERS[:2])
    vote_all(store_engine, [{"category": "B", "sex": "male"}], reviewers=REVIEWERS[2:])
    vote_all(store_engine, [{"category": "C", "sex": "female"}], start=1)
    vote_all(store_engine, [{"category": "C", "sex": "male"}], reviewers=("analyst-4",), start=1)
    with store_engine.connect() as conn:
        default = compute_stats(conn, StatsQuery())
        everything = compute_stats(conn, StatsQuery(statuses=("confirmed", "indicative", "disputed")))
    assert default["total"] == 1 and default["by"]["category"]["C"]["count"] == 1
    assert default["by"]["sex"] == {"disputed": {"count": 1, "share": 1.0, "percent": 100.0}}
    assert {c: v["count"] for c, v in everything["by"]["category"].items()} == {"C": 1, "disputed": 1}


def test_set_case_series_and_agency(store_engine: Any, tmp_path: Path) -> None:
    vote_all(store_engine, [{"category": "A"}] * 3)
    vote_all(store_engine, [{"category": "A"}], reviewers=("reviewer-b",), agency="Hotline B")
    with store_engine.begin() as conn:
        create_set(conn, "two", "alert", category_scheme="uk-sentencing")
    import_entries(store_engine, "two", [EntryRecord(sha256=sha256_of(0), series="S-1; S-2", line=1),
                                         EntryRecord(sha256=sha256_of(1), series="S-1", line=2),
                                         EntryRecord(md5="0" * 32, line=3)], {"file": "test"})
    (tmp_path / "case").mkdir()
    (tmp_path / "case" / "report.json").write_text(json.dumps({"items": [
        {"path": "a.jpg", "sha256": sha256_of(2).upper()}, {"path": "b.txt", "md5": "1" * 32}]}))
    with store_engine.connect() as conn:
        whole = compute_stats(conn)
        in_set = compute_stats(conn, StatsQuery(set_name="two"))
        in_case = compute_stats(conn, StatsQuery(case_dir=tmp_path / "case"))
        with pytest.raises(GradingError, match="no hash set called 'nothing'"):
            compute_stats(conn, StatsQuery(set_name="nothing"))
        with pytest.raises(GradingError, match="no report.json"):
            compute_stats(conn, StatsQuery(case_dir=tmp_path))
    assert whole["total"] == 3 and in_set["total"] == 2 and in_case["total"] == 1
    assert {s: v["count"] for s, v in whole["by"]["series"].items()} == {"S-1": 2, "S-2": 1, "(none)": 1}
    assert {a: v["count"] for a, v in whole["by"]["agency"].items()} == {"Hotline A": 3, "Hotline B": 1}


def test_a_series_source_can_be_swapped_in(store_engine: Any) -> None:
    vote_all(store_engine, [{"category": "B"}])
    with store_engine.connect() as conn:
        found = compute_stats(conn, series_source=lambda _conn, graded: {g.media: {"from-table"} for g in graded})
    assert found["by"]["series"] == {"from-table": {"count": 1, "share": 1.0, "percent": 100.0}}


def test_set_and_case_go_alone_and_output_is_asked_for(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'db'}").dispose()
    both = hw("stats", "--json", "--set", "x", "--case", str(tmp_path), db=tmp_path / "db", check=False)
    assert both.returncode == 1 and "--set or --case" in both.stderr
    neither = hw("stats", db=tmp_path / "db", check=False)
    assert neither.returncode == 1 and "-o DIR, or --json" in neither.stderr
    bad = hw("stats", "--json", "--since", "last week", db=tmp_path / "db", check=False)
    assert bad.returncode == 1 and "field since" in bad.stderr
    bad = hw("stats", "--json", "--status", "agreed", db=tmp_path / "db", check=False)
    assert bad.returncode == 1 and "field status" in bad.stderr


def test_readme_stats_block_runs_as_written(study_db: Path, tmp_path: Path) -> None:
    project = Path(__file__).resolve().parents[2]
    section = (project / "README.md").read_text().split("## Grading", 1)[1]
    block = section.split("## Service", 1)[0].split("```sh\n")[2].split("```", 1)[0]
    assert "hashwarden stats" in block
    env = {key: value for key, value in os.environ.items() if not key.startswith("HASHWARDEN_")}
    env |= {"HASHWARDEN_DB": str(study_db), "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(project / "src"), env.get("PYTHONPATH", "")])}
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (tmp_path / "stats").iterdir()} == {"stats.json", "stats.csv", "stats.html"}
    assert json.loads((tmp_path / "stats" / "stats.json").read_text())["by_age_group"]["21+"]["total"] == 1000
    assert json.loads((tmp_path / "since-2025.json").read_text())["total"] == 3803


def test_percents_round_half_up_from_the_exact_ratio(store_engine: Any, tmp_path: Path) -> None:
    """1 of 8 is 12.5 %, exactly; 1 of 16 is 6.25 %: 6.3 as a study rounds, not a float's 6.2. And a category
    of an open scheme that starts like a formula is written to stats.csv guarded."""
    votes = [Vote(scheme="vics-uk", category="=1+1" if n == 0 else "x", reviewer=r, sha256=sha256_of(n))
             for n in range(16) for r in REVIEWERS]
    with store_engine.begin() as conn:
        cast_votes(conn, votes)
    with store_engine.connect() as conn:
        found = compute_stats(conn, StatsQuery(scheme="vics-uk"))
    assert found["by"]["category"]["=1+1"] == {"count": 1, "share": 0.0625, "percent": 6.3}
    if store_engine.dialect.name == "sqlite":
        write_stats(found, tmp_path)
        assert "'=1+1" in (tmp_path / "stats.csv").read_text()


def test_hostile_series_and_agency_names_stay_text(tmp_path: Path) -> None:
    """Names come from imported lists and API keys: markup, bidi and control characters in them are text on the
    page, in its tables and its charts."""
    engine = open_store(f"sqlite:///{tmp_path / 'db'}")
    hostile = '</svg><script>alert(1)</script>\u202egpj.exe\x01"'
    vote_all(engine, [{"category": "A"}], agency=hostile)
    with engine.begin() as conn:
        create_set(conn, "s", "alert")
    import_entries(engine, "s", [EntryRecord(sha256=sha256_of(0), series=hostile, line=1)], {"file": "t"})
    with engine.connect() as conn:
        write_stats(compute_stats(conn), tmp_path / "out")
    engine.dispose()
    page = (tmp_path / "out" / "stats.html").read_text(encoding="ascii")
    assert "<script" not in page and "\u202e" not in page and "\x01" not in page
    assert "U+202E" in page and "U+0001" in page and "&lt;script&gt;" in page
