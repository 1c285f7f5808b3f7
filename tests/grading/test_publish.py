"""Grades published as an alert set: next version per change, none without one, disputed grades taken out, the
audit still verifying; and end to end, votes -> consensus -> publish -> `hashwarden match` knows the media."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hashwarden.demo.synthetic import save, scene, variant
from hashwarden.errors import GradingError
from hashwarden.grading.publish import publish
from hashwarden.grading.votes import cast_votes
from hashwarden.store import audit, create_set, get_set
from hashwarden.store.hashsets import iter_entries
from hashwarden.store.schema import import_run
from hashwarden.store.votes import Vote
from tests.test_cli import hw

MD5S = ["0" * 31 + str(n) for n in range(1, 4)]


def votes(md5: str, category: str, reviewers: str) -> list[Vote]:
    return [Vote(scheme="uk-sentencing", category=category, reviewer=r, md5=md5) for r in reviewers]


def counts(conn) -> tuple[int, int]:  # noqa: ANN001
    return (conn.execute(select(func.count()).select_from(import_run)).scalar(), audit.head(conn)[0])


def test_publish_versions_follow_the_grades(store_engine) -> None:
    with store_engine.begin() as conn:
        cast_votes(conn, votes(MD5S[0], "A", "abc") + votes(MD5S[1], "B", "abc") + votes(MD5S[2], "C", "ab"))
    with store_engine.begin() as conn:
        first = publish(conn, "graded", "uk-sentencing")
    assert (first.version, first.added, first.removed, first.entries) == ("1", 2, 0, 2)
    with store_engine.connect() as conn:
        entries = {e.md5: e for e in iter_entries(conn, get_set(conn, "graded").id)}
        before = counts(conn)
    assert {md5: e.category for md5, e in entries.items()} == {MD5S[0]: "A", MD5S[1]: "B"}
    assert entries[MD5S[0]].tags == ["consensus:confirmed"]
    assert entries[MD5S[0]].provenance.startswith(f"grading three-undisputed/1 confirmed: md5:{MD5S[0]} votes ")
    with store_engine.begin() as conn:
        again = publish(conn, "graded", "uk-sentencing")
    with store_engine.connect() as conn:
        assert counts(conn) == before and get_set(conn, "graded").version == "1"
    assert (again.changed, again.version, again.entries) == (False, "1", 2)
    with store_engine.begin() as conn:  # the first becomes disputed, the third confirmed
        cast_votes(conn, votes(MD5S[0], "B", "d") + votes(MD5S[2], "C", "c"))
    with store_engine.begin() as conn:
        second = publish(conn, "graded", "uk-sentencing")
    assert (second.version, second.added, second.removed, second.entries) == ("2", 1, 1, 2)
    with store_engine.begin() as conn:
        indicative = publish(conn, "graded", "uk-sentencing", status="indicative")
    assert indicative.changed is False  # the disputed one stays out at any status
    with store_engine.connect() as conn:
        assert sorted(e.md5 for e in iter_entries(conn, get_set(conn, "graded").id)) == [MD5S[1], MD5S[2]]
        result = audit.verify(conn)
    assert result.ok and result.sets == 1, result.problems


def test_publish_refuses_sets_grading_did_not_make(store_engine) -> None:
    with store_engine.begin() as conn:
        cast_votes(conn, votes(MD5S[0], "A", "abc"))
        create_set(conn, "caid", "alert", source="CAID", category_scheme="uk-sentencing")
        publish(conn, "graded", "uk-sentencing")
    for name, scheme, status, field in (("caid", "uk-sentencing", "confirmed", "set"),
                                        ("graded", "vics-us", "confirmed", "set"),
                                        ("graded", "no-such", "confirmed", "scheme"),
                                        ("graded", "uk-sentencing", "disputed", "status")):
        with pytest.raises(GradingError) as caught:
            with store_engine.begin() as conn:
                publish(conn, name, scheme, status)
        assert caught.value.field == field
    with store_engine.begin() as conn:
        nothing = publish(conn, "empty", "vics-us")
    assert (nothing.changed, nothing.version) == (False, None)


@pytest.mark.heavy
def test_votes_consensus_publish_then_match_knows_the_media(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    save(scene(41), tmp_path / "ev" / "graded.jpg")
    save(scene(42), tmp_path / "ev" / "twice.jpg")
    hw("scan", str(tmp_path / "ev"), "--case", "C", "--out", str(tmp_path / "case"), "--quiet", "--allow-empty",
       db=db)
    for reviewer in ("r1", "r2", "r3"):
        hw("grade", "--case", str(tmp_path / "case"), "--item", "graded.jpg", "--category", "B", "--reviewer",
           reviewer, db=db)
    for reviewer in ("r1", "r2"):
        hw("grade", "--case", str(tmp_path / "case"), "--item", "twice.jpg", "--category", "A", "--reviewer",
           reviewer, db=db)
    assert "version 1: 1 added" in hw("grading", "publish", "--set", "graded-uk", "--scheme", "uk-sentencing",
                                      db=db).stdout
    assert "no change, version 1" in hw("grading", "publish", "--set", "graded-uk", "--scheme", "uk-sentencing",
                                        db=db).stdout
    save(scene(41), tmp_path / "up" / "same.jpg")
    save(variant(scene(41), "rot90"), tmp_path / "up" / "turned.jpg")
    save(scene(42), tmp_path / "up" / "indicative.jpg")
    (tmp_path / "up.jsonl").write_text(hw("hash", "--dihedral", str(tmp_path / "up"), db=db).stdout)
    hw("match", str(tmp_path / "up.jsonl"), "-o", str(tmp_path / "out.jsonl"), db=db)
    lines = {Path(r["path"]).name: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert {name: r["status"] for name, r in lines.items()} == {
        "same.jpg": "known", "turned.jpg": "known", "indicative.jpg": "unknown"}
    match = lines["turned.jpg"]["matches"][0]
    assert (match["set"], match["method"], match["category"], match["scheme"]) == \
        ("graded-uk", "pdq", "B", "uk-sentencing")
    assert "audit log intact" in hw("audit", "verify", db=db).stdout
