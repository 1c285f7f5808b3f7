"""Series and victims: records by code and flag, refusals, links to media and series, each an audit row; the flags
links give entries in matches (`describe_entries`), exports (VICS) and publications; and the CLI contract."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from hashwarden.errors import GradingError, SeriesError
from hashwarden.grading.publish import publish
from hashwarden.grading.series import link_series, link_victim
from hashwarden.grading.votes import cast_votes
from hashwarden.store import audit, create_set, get_set
from hashwarden.store.hashsets import describe_entries, iter_entries
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store.schema import audit as audit_table
from hashwarden.store.schema import entry
from hashwarden.store.series import create_series, create_victim, list_series, list_victims
from hashwarden.store.votes import Vote
from tests.test_cli import hw

MD5 = ["%032x" % n for n in range(1, 6)]
SHA256 = "ab" * 32


def actions(conn) -> list[str]:  # noqa: ANN001
    return list(conn.execute(select(audit_table.c.action).order_by(audit_table.c.id)).scalars())


def test_create_list_link_and_refusals(store_engine) -> None:
    with store_engine.begin() as conn:
        create_series(conn, "S-1", name="Blue room", agency="NCA", notes="from op X")
        create_series(conn, "S-2")
        create_victim(conn, "V-1", identified=True, agency="NCA", identified_on="2026-03-01")
        create_victim(conn, "V-2")
        assert link_series(conn, "S-1", {"md5": MD5[0].upper()}) == [(f"md5:{MD5[0]}", True)]
        assert link_series(conn, "S-1", {"md5": MD5[0]}) == [(f"md5:{MD5[0]}", False)]  # twice: no error, no row
        link_victim(conn, "V-1", "S-1", {})
        assert link_victim(conn, "V-1", "S-1", {}) == ("S-1", False)
        link_victim(conn, "V-2", None, {"md5": MD5[1]})
    refused = [
        (lambda c: create_series(c, "S-1"), "code", "exists"),
        (lambda c: create_series(c, "bad code"), "code", "is not 1-64"),
        (lambda c: create_series(c, ""), "code", "is not 1-64"),
        (lambda c: create_victim(c, "V-1"), "code", "exists"),
        (lambda c: create_victim(c, "V-3", True, identified_on="2026-02-30"), "date", "not a date"),
        (lambda c: create_victim(c, "V-3", True, identified_on="1/2/2026"), "date", "not a date"),
        (lambda c: create_victim(c, "V-3", True, identified_on="2999-01-01"), "date", "in the future"),
        (lambda c: create_victim(c, "V-3", False, identified_on="2026-01-01"), "identified", "--identified"),
        (lambda c: link_series(c, "S-9", {"md5": MD5[0]}), "series", "no series with code 'S-9'"),
        (lambda c: link_series(c, "S-1", {}), "hash", "names its media by at least one hash"),
        (lambda c: link_series(c, "S-1", {"md5": "xyz"}), "md5", "md5"),
        (lambda c: link_victim(c, "V-9", "S-1", {}), "victim", "no victim with code 'V-9'"),
        (lambda c: link_victim(c, "V-1", "S-9", {}), "series", "no series"),
        (lambda c: link_victim(c, "V-1", None, {}), "series", "one of them"),
        (lambda c: link_victim(c, "V-1", "S-1", {"md5": MD5[0]}), "series", "one of them"),
    ]
    for call, field, text in refused:
        with pytest.raises(GradingError) as caught:
            with store_engine.begin() as conn:
                call(conn)
        assert caught.value.field == field and text in str(caught.value), (field, str(caught.value))
        assert isinstance(caught.value, SeriesError) or field in ("hash", "md5")
    with store_engine.connect() as conn:
        assert [s.as_json() | {"created": None} for s in list_series(conn)] == [
            {"code": "S-1", "name": "Blue room", "agency": "NCA", "notes": "from op X", "created": None, "media": 1,
             "victims": ["V-1"]},
            {"code": "S-2", "name": None, "agency": None, "notes": None, "created": None, "media": 0, "victims": []}]
        assert [v.as_json() | {"created": None} for v in list_victims(conn)] == [
            {"code": "V-1", "identified": True, "agency": "NCA", "date": "2026-03-01", "created": None,
             "series": ["S-1"], "media": 0},
            {"code": "V-2", "identified": False, "agency": None, "date": None, "created": None, "series": [],
             "media": 1}]
        assert actions(conn) == ["series.create", "series.create", "victim.create", "victim.create", "series.link",
                                 "victim.link", "victim.link"]
        result = audit.verify(conn)
    assert result.ok, result.problems


def test_links_are_keyed_as_votes_key_media(store_engine) -> None:
    """Media graded by sha256 and md5 is one media: a link naming its md5 alone gets the votes' key, and a link
    whose hashes contradict the votes' is refused as a vote would be."""
    with store_engine.begin() as conn:
        cast_votes(conn, [Vote(scheme="uk-sentencing", category="A", reviewer="r", md5=MD5[0], sha256=SHA256)])
        create_series(conn, "S-1")
        assert link_series(conn, "S-1", {"md5": MD5[0]}) == [(f"sha256:{SHA256}", True)]
    with pytest.raises(GradingError) as caught:
        with store_engine.begin() as conn:
            link_series(conn, "S-1", {"md5": MD5[1], "sha256": SHA256})
    assert caught.value.field == "md5"


def _set_with(engine, name: str, records: list[EntryRecord]) -> list[int]:  # noqa: ANN001
    with engine.begin() as conn:
        target = create_set(conn, name, "alert", category_scheme="vics-us")
    import_entries(engine, name, [replace(r, line=n) for n, r in enumerate(records, 1)], {"file": name})
    with engine.connect() as conn:
        return list(conn.execute(select(entry.c.id).where(entry.c.set_id == target.id).order_by(entry.c.id))
                    .scalars())


def test_matches_resolve_links_and_keep_the_lists_own_flags(store_engine) -> None:
    """A match reports the entry's own series text with its linked codes added, and victim_identified true only
    when every linked victim is identified; an entry imported after the link is linked too; the entry's row is
    never rewritten."""
    ids = _set_with(store_engine, "vics", [
        EntryRecord(md5=MD5[0], category="1", series="Vicky, S-1", victim_identified=False),
        EntryRecord(md5=MD5[1], category="1", series="Tara"),
        EntryRecord(md5=MD5[2], category="2"),
        EntryRecord(md5=MD5[3], category="2", victim_identified=True),
    ])
    with store_engine.begin() as conn:
        create_series(conn, "S-1")
        create_series(conn, "S-2")
        create_victim(conn, "V-ok", identified=True)
        create_victim(conn, "V-open")
        for md5 in MD5[:3]:
            link_series(conn, "S-1", {"md5": md5})
        link_series(conn, "S-2", {"md5": MD5[1]})
        link_victim(conn, "V-ok", "S-1", {})
        link_victim(conn, "V-open", None, {"md5": MD5[2]})
        described = describe_entries(conn, ids, flags=True)
        plain = describe_entries(conn, ids)
    later = _set_with(store_engine, "later", [EntryRecord(md5=MD5[1], category="1")])
    with store_engine.connect() as conn:
        again = describe_entries(conn, later, flags=True)
        rows = conn.execute(select(entry.c.series, entry.c.victim_identified).where(entry.c.id.in_(ids))
                            .order_by(entry.c.id)).all()
    first, second, third, fourth = (described[i] for i in ids)
    assert (first["series"], first["victim_identified"]) == ("Vicky, S-1", False)  # the list said not identified
    assert (second["series"], second["victim_identified"]) == ("Tara, S-1, S-2", True)
    assert (third["series"], third["victim_identified"]) == ("S-1", False)  # one victim still to be found
    assert "series" not in fourth and fourth["victim_identified"] is True  # no links: the list's own flag
    assert all("series" not in found and "victim_identified" not in found for found in plain.values())
    assert (again[later[0]]["series"], again[later[0]]["victim_identified"]) == ("S-1, S-2", True)
    assert [tuple(row) for row in rows] == [("Vicky, S-1", False), ("Tara", None), (None, None), (None, True)]


def test_linking_entries_of_a_set(store_engine) -> None:
    """`--set`: the entries of a set with a hash, or all of them, each linked by every hash it has, so a match by
    its sha256 alone finds the link made by its md5; a hash the set lacks, or an unknown set, is refused."""
    ids = _set_with(store_engine, "series-list", [EntryRecord(md5=MD5[0], sha256=SHA256, category="1"),
                                                  EntryRecord(md5=MD5[1], category="1"),
                                                  EntryRecord(md5=MD5[2], category="1")])
    other = _set_with(store_engine, "by-sha256", [EntryRecord(sha256=SHA256, category="1")])
    with store_engine.begin() as conn:
        create_series(conn, "S-1")
        create_series(conn, "S-2")
        assert link_series(conn, "S-1", {"md5": MD5[0]}, "series-list") == [(f"sha256:{SHA256}", True)]
        assert link_series(conn, "S-2", {}, "series-list") == [
            (f"sha256:{SHA256}", True), (f"md5:{MD5[1]}", True), (f"md5:{MD5[2]}", True)]
        described = describe_entries(conn, ids + other, flags=True)
    assert [described[i]["series"] for i in ids + other] == ["S-1, S-2", "S-2", "S-2", "S-1, S-2"]
    for hashes, set_name, field in (({"md5": MD5[3]}, "series-list", "hash"), ({}, "no-such", "set")):
        with pytest.raises(SeriesError) as caught:
            with store_engine.begin() as conn:
                link_series(conn, "S-1", hashes, set_name)
        assert caught.value.field == field


def test_vics_export_and_publication_carry_the_links(store_engine, tmp_path: Path) -> None:
    _set_with(store_engine, "vics", [EntryRecord(md5=MD5[0], category="1"), EntryRecord(md5=MD5[1], category="2")])
    with store_engine.begin() as conn:
        create_series(conn, "S-1")
        create_victim(conn, "V-1", identified=True, agency="NCA", identified_on="2026-01-02")
        link_series(conn, "S-1", {"md5": MD5[0]})
        link_victim(conn, "V-1", "S-1", {})
        cast_votes(conn, [Vote(scheme="uk-sentencing", category="A", reviewer=r, md5=MD5[0]) for r in "abc"])
        publish(conn, "graded", "uk-sentencing")
        published = list(iter_entries(conn, get_set(conn, "graded").id))
    assert [(e.md5, e.series, e.victim_identified) for e in published] == [(MD5[0], "S-1", True)]
    from hashwarden.formats.exchange import export_set

    for version in ("1.3", "2.0"):
        out = tmp_path / f"vics-{version}.json"
        export_set(store_engine, "vics", "vics", out, version=version, region=None, shape="media")
        text = out.read_text()
        media = json.loads(text)["value"]  # --shape media: one object per media
        flags = {m["MD5"].lower(): (m.get("Category"), m.get("Series"), m.get("VictimIdentified")) for m in media}
        assert flags == {MD5[0]: (1, "S-1", "true"), MD5[1]: (2, None, None)}, version


@pytest.mark.heavy
def test_cli_series_and_victims_in_match_output(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    lines = [{"path": f"f{n}.jpg", "md5": md5, "category": "1"} for n, md5 in enumerate(MD5[:2])]
    (tmp_path / "known.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    hw("set", "create", "known", "--kind", "alert", "--scheme", "vics-us", db=db)
    hw("import", "hashes", str(tmp_path / "known.jsonl"), "--set", "known", db=db)
    assert "series S-1 created" in hw("series", "create", "S-1", "--name", "Blue", "--agency", "NCA", db=db).stdout
    assert "victim V-1 created (not identified)" in hw("victim", "create", "V-1", db=db).stdout
    hw("victim", "create", "V-2", "--identified", "--agency", "NCA", "--date", "2026-01-02", db=db)
    assert f"md5:{MD5[0]} linked to series S-1" in hw("series", "link", "S-1", MD5[0], db=db).stdout
    assert "victim V-1 linked to series S-1" in hw("victim", "link", "V-1", "--series", "S-1", db=db).stdout
    hw("victim", "link", "V-2", "--md5", MD5[1], db=db)
    hw("series", "create", "S-2", db=db)
    assert "2 media of set known linked to series S-2 (2 new)" in hw("series", "link", "S-2", "--set", "known",
                                                                     db=db).stdout
    for args, field, text in ((("series", "create", "S-1"), "code", "exists"),
                              (("series", "link", "S-9", MD5[0]), "series", "no series"),
                              (("victim", "create", "V-3", "--identified", "--date", "2026-13-01"), "date", "YYYY"),
                              (("victim", "link", "V-9", "--series", "S-1"), "victim", "no victim")):
        failed = hw(*args, db=db, check=False)
        assert failed.returncode == 1 and f"SeriesError: field {field}:" in failed.stderr and text in failed.stderr
    listed = [json.loads(line) for line in hw("series", "list", "--json", db=db).stdout.splitlines()]
    assert [(s["code"], s["name"], s["media"], s["victims"]) for s in listed] == [("S-1", "Blue", 1, ["V-1"]),
                                                                                  ("S-2", None, 2, [])]
    victims = [json.loads(line) for line in hw("victim", "list", "--json", db=db).stdout.splitlines()]
    assert [(v["code"], v["identified"], v["date"]) for v in victims] == [("V-1", False, None),
                                                                       ("V-2", True, "2026-01-02")]
    (tmp_path / "up.jsonl").write_text("".join(json.dumps({"path": line["path"], "md5": line["md5"]}) + "\n"
                                               for line in lines))
    hw("match", str(tmp_path / "up.jsonl"), "-o", str(tmp_path / "out.jsonl"), db=db)
    out = {r["path"]: r["matches"][0] for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert (out["f0.jpg"]["series"], out["f0.jpg"]["victim_identified"]) == ("S-1, S-2", False)
    assert (out["f1.jpg"]["series"], out["f1.jpg"]["victim_identified"]) == ("S-2", True)
    assert "audit log intact" in hw("audit", "verify", db=db).stdout


def test_audit_verify_finds_series_victims_and_links_changed_behind_its_back(store_engine) -> None:
    """A victim marked identified, a link inserted or one deleted in SQL is reported by `audit verify`."""
    from sqlalchemy import delete, insert, update

    from hashwarden.store.schema import series_link, victim

    with store_engine.begin() as conn:
        create_series(conn, "S-1")
        create_victim(conn, "V-1")
        link_series(conn, "S-1", {"md5": MD5[0]})
        link_victim(conn, "V-1", "S-1", {})
    with store_engine.connect() as conn:
        assert audit.verify(conn).ok
    with store_engine.begin() as conn:
        conn.execute(update(victim).where(victim.c.code == "V-1").values(identified=True))
    with store_engine.connect() as conn:
        problems = audit.verify(conn).problems
    assert any(p.startswith("victim V-1 True: no audit row") for p in problems), problems
    assert any("victim recorded by audit row" in p for p in problems), problems
    with store_engine.begin() as conn:
        conn.execute(update(victim).where(victim.c.code == "V-1").values(identified=False))
        conn.execute(delete(series_link).where(series_link.c.victim_id.is_not(None)))
        series_id = conn.execute(select(series_link.c.series_id)).scalar()
        conn.execute(insert(series_link).values(series_id=series_id, media=f"md5:{MD5[4]}", md5=bytes.fromhex(MD5[4]),
                                                linked_at="2026-01-01T00:00:00.000000Z"))
    with store_engine.connect() as conn:
        problems = audit.verify(conn).problems
    assert len(problems) == 2, problems
    assert any(f"link S-1 md5:{MD5[4]}: no audit row" in p for p in problems)
    assert any("link recorded by audit row" in p for p in problems)
