"""`hashwarden grade` and `hashwarden grading status`: the --json contract, a scan's item as the media, refusals
named by field (exit 1), the audit chain still verifying."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hashwarden.demo.synthetic import save, scene
from tests.test_cli import hw

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
OTHER_MD5 = "0" * 31 + "1"
CONTRACT = {"state", "category", "scheme", "votes"}


def status(db: Path, *options: str) -> list[dict]:
    return [json.loads(line) for line in hw("grading", "status", "--json", *options, db=db).stdout.splitlines()]


def test_votes_to_status_json(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    for reviewer in ("r1", "r2", "r3"):
        hw("grade", MD5, "--category", "A", "--age-band", "14-15", "--sex", "female", "--self-generated", "yes",
           "--capture-device", "webcam", "--redistributed", "yes", "--reviewer", reviewer, "--agency", "Force A",
           db=db)
    hw("grade", "--md5", OTHER_MD5, "--sha256", SHA256, "--category", "B", "--reviewer", "r1", db=db)
    last = hw("grade", "--md5", OTHER_MD5, "--category", "C", "--reviewer", "r2", "--note", "second look", db=db)
    assert "uk-sentencing: disputed" in last.stdout
    lines = status(db)
    by_md5 = {line["md5"]: line for line in lines}
    assert set(by_md5) == {MD5, OTHER_MD5}
    confirmed, disputed = by_md5[MD5], by_md5[OTHER_MD5]
    assert CONTRACT <= set(confirmed) and "sha256" not in confirmed and "sha1" not in confirmed
    assert (confirmed["state"], confirmed["category"], confirmed["scheme"], confirmed["votes"]) == \
        ("confirmed", "A", "uk-sentencing", 3)
    assert confirmed["rule"] == "three-undisputed/1"
    assert confirmed["attributes"]["capture_device"] == {"state": "confirmed", "value": "webcam"}
    assert disputed["sha256"] == SHA256 and disputed["state"] == "disputed" and disputed["category"] is None
    assert {value: [v["reviewer"] for v in side] for value, side in disputed["sides"].items()} == \
        {"B": ["r1"], "C": ["r2"]}
    assert [line["md5"] for line in status(db, "--disputed")] == [OTHER_MD5]
    table = hw("grading", "status", db=db).stdout
    assert "confirmed" in table and "disputed" in table
    assert "audit log intact: 5 rows" in hw("audit", "verify", db=db).stdout
    assert "; 5 vote(s) match" in hw("audit", "verify", db=db).stdout


def test_a_new_vote_replaces_the_reviewers_last(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    hw("grade", MD5, "--category", "A", "--reviewer", "r1", db=db)
    again = hw("grade", MD5, "--category", "B", "--reviewer", "r1", db=db)
    assert "vote 2 recorded on md5:" + MD5 + " (replaces vote 1)" in again.stdout
    assert [(line["category"], line["votes"]) for line in status(db)] == [("B", 1)]


def test_refusals_name_the_field(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    cases = [
        (("grade", MD5, "--category", "D"), "GradingError: field category: 'D' is not a category of scheme "
                                            "uk-sentencing (A, B, C)"),
        (("grade", MD5, "--category", "1", "--scheme", "vics-us", "--age-band", "9"), "field age_band: '9'"),
        (("grade", "abc", "--category", "A"), "field hash: a hash of 3 characters"),
        (("grade", "--category", "A"), "field hash: a vote names its media by at least one hash"),
        (("grade", MD5, "--md5", OTHER_MD5, "--category", "A"), "field md5: HASH and --md5 name two"),
        (("grade", "--case", str(tmp_path), "--category", "A"), "field item: --case and --item go together"),
        (("grade", "--case", str(tmp_path), "--item", "a.jpg", "--category", "A"), "field case: no report.json"),
    ]
    for args, message in cases:
        refused = hw(*args, db=db, check=False)
        assert refused.returncode == 1 and message in refused.stderr, (args, refused.stderr)
    assert status(db) == []


@pytest.mark.heavy
def test_a_scan_item_is_graded_by_its_hashes(tmp_path: Path) -> None:
    save(scene(31), tmp_path / "ev" / "dir" / "a.jpg")
    db = tmp_path / "hw.db"
    hw("scan", str(tmp_path / "ev"), "--case", "C", "--out", str(tmp_path / "case"), "--quiet", "--allow-empty",
       db=db)
    item = json.loads((tmp_path / "case" / "report.json").read_text())["items"][0]
    hw("grade", "--case", str(tmp_path / "case"), "--item", "dir/a.jpg", "--category", "C", "--reviewer", "r1",
       db=db)
    hw("grade", item["md5"], "--category", "C", "--reviewer", "r2", db=db)  # the same media, by its md5 alone
    line, = status(db)
    assert {name: line[name] for name in ("md5", "sha1", "sha256", "pdq")} == \
        {name: item[name] for name in ("md5", "sha1", "sha256", "pdq")}
    assert line["media"] == f"sha256:{item['sha256']}" and line["votes"] == 2
    missing = hw("grade", "--case", str(tmp_path / "case"), "--item", "nope.jpg", "--category", "C", db=db,
                 check=False)
    assert missing.returncode == 1 and "field item: " in missing.stderr
