"""`hashwarden import vics|icse FILE --as-votes`: a viewer's graded export becomes votes of the named reviewer and
agency (grading/imported.py), all or nothing, each vote naming the file and record it came from. Made-up hashes."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from hashwarden.store import open_store
from hashwarden.store.schema import hash_set, vote
from tests.formats.test_exchange import VICS
from tests.formats.test_icse import HEADER, row
from tests.test_cli import hw


def _md5(i: int) -> str:
    return f"{i:032x}"


def _sha1(i: int) -> str:
    return f"{i:040x}"


def _graded_vics(path: Path, categories: list[int | None]) -> Path:
    media = [{"MediaID": i, "MD5": _md5(i).upper(), **({"Category": c} if c is not None else {})}
             for i, c in enumerate(categories, 1)]
    path.write_text(json.dumps({"@odata.context": VICS, "value": media}))
    return path


def test_a_graded_vics_case_becomes_votes_and_three_reviewers_confirm(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    export = _graded_vics(tmp_path / "case.json", [1, 2, None])
    for n, agency in enumerate(["Force A", "Force B", "Hotline C"]):
        printed = hw("import", "vics", str(export), "--as-votes", "--reviewer", f"examiner-{n}", "--agency", agency,
                     db=db).stdout
        assert "recorded 2 votes" in printed and "1 records without a category left out" in printed
    grades = {json.loads(line)["md5"]: json.loads(line)
              for line in hw("grading", "status", "--json", db=db).stdout.splitlines()}
    assert set(grades) == {_md5(1), _md5(2)}
    assert {(g["state"], g["scheme"], g["category"], g["votes"]) for g in grades.values()} == {
        ("confirmed", "vics-us", "1", 3), ("confirmed", "vics-us", "2", 3)}
    engine = open_store(f"sqlite:///{db}", create=False)
    with engine.connect() as conn:
        votes = conn.execute(select(vote.c.reviewer, vote.c.agency, vote.c.source, vote.c.note)).all()
        assert conn.execute(select(hash_set.c.name)).all() == []  # votes, not a set
    assert {(v.reviewer, v.agency, v.source) for v in votes} == {
        ("examiner-0", "Force A", "vics"), ("examiner-1", "Force B", "vics"), ("examiner-2", "Hotline C", "vics")}
    assert all(v.note.startswith("imported from case.json, record ") for v in votes)


def test_an_icse_export_needs_a_scheme_and_one_bad_record_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    export = tmp_path / "icse.csv"
    first = row(md5=_md5(1), sha1=_sha1(1), flags="Y;N;")
    export.write_text(f"{HEADER};Category\n{first};A\n{row(md5=_md5(2), sha1=_sha1(2), flags='N;N;')};Z\n")
    refused = hw("import", "icse", str(export), "--as-votes", "--reviewer", "r", db=db, check=False)
    assert refused.returncode != 0 and "give --scheme" in refused.stderr
    refused = hw("import", "icse", str(export), "--as-votes", "--scheme", "uk-sentencing", "--reviewer", "r", db=db,
                 check=False)
    assert refused.returncode != 0
    assert "field category" in refused.stderr and "record 3" in refused.stderr and "'Z'" in refused.stderr
    assert hw("grading", "status", "--json", db=db).stdout == ""  # the first, valid record was not kept either
    export.write_text(f"{HEADER};Category\n{first};A\n{row(md5=_md5(2), sha1=_sha1(2), flags=';N;')};B\n")
    hw("import", "icse", str(export), "--as-votes", "--scheme", "uk-sentencing", "--reviewer", "r", "--agency", "X",
       db=db)
    grades = {json.loads(line)["md5"]: json.loads(line)
              for line in hw("grading", "status", "--json", db=db).stdout.splitlines()}
    assert (grades[_md5(1)]["category"], grades[_md5(2)]["category"]) == ("A", "B")
    assert grades[_md5(1)]["attributes"]["redistributed"]["value"] == "yes"  # ICSE's "Is distributed"
    assert grades[_md5(2)]["attributes"]["redistributed"]["value"] == "unknown"


def test_set_and_as_votes_are_one_or_the_other(tmp_path: Path) -> None:
    export = _graded_vics(tmp_path / "case.json", [1])
    for extra in (["--set", "s", "--as-votes"], []):
        refused = hw("import", "vics", str(export), *extra, db=tmp_path / "hw.db", check=False)
        assert refused.returncode != 0 and "exactly one of --set and --as-votes" in refused.stderr
