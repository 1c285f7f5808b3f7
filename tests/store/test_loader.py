"""The bulk loader on both backends (SQLite executemany, PostgreSQL COPY): identity and idempotence, provenance of
the first import, atomicity, the index rebuild path, and NSRL deltas applied to a set."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hashwarden.errors import FormatError
from hashwarden.store import create_set
from hashwarden.store.delta import apply_delta
from hashwarden.store.hashsets import get_set, iter_entries
from hashwarden.store.loader import import_list
from hashwarden.store.records import EntryRecord


def _md5(i: int) -> str:
    return hashlib.md5(b"%d" % i).hexdigest()


def _entries(engine, name: str) -> list[EntryRecord]:
    with engine.connect() as conn:
        return list(iter_entries(conn, get_set(conn, name).id))


def test_identity_idempotence_and_first_provenance(store_engine) -> None:
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert", category_scheme="vics-uk")
    records = [EntryRecord(md5=_md5(i), line=i, comments=f"n{i}") for i in range(1, 2001)]
    records += [EntryRecord(md5=_md5(5), line=9999),  # repeated in the file: one entry
                EntryRecord(md5=_md5(5), sha1="ab" * 20, line=10_000),  # other hashes: another identity
                EntryRecord(pdq="cd" * 32, pdq_quality=90, category="A", tags=["t"], attributes={"k": [1]},
                            line=10_001)]
    first = import_list(store_engine, "s", records, fmt="test", file="a")
    assert (first.rows, first.added, first.duplicates) == (2003, 2002, 1)
    again = import_list(store_engine, "s", records + [EntryRecord(sha256="ef" * 32, line=1)], fmt="test", file="b")
    assert (again.rows, again.added, again.duplicates) == (2004, 1, 2003)
    entries = _entries(store_engine, "s")
    assert len(entries) == 2003
    by_line = {e.line: e for e in entries}
    assert by_line[5].md5 == _md5(5) and 9999 not in by_line  # the first occurrence kept its provenance
    pdq = next(e for e in entries if e.pdq)
    assert (pdq.category, pdq.category_scheme, pdq.tags, pdq.attributes) == ("A", "vics-uk", ["t"], {"k": [1]})


def test_every_field_comes_back_as_stored(store_engine) -> None:
    """iter_entries builds records by position (store/hashsets.py): each field must come back in its own place,
    every value distinct so a swap of two columns cannot pass."""
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert", category_scheme="vics-uk")
    stored = EntryRecord(md5="01" * 16, sha1="02" * 20, sha256="03" * 32, pdq="04" * 32, pdq_quality=77,
                         media="image", size=12345, category="2", series="Series X", victim_identified=True,
                         offender_identified=False, is_distributed=True, tags=["tag"], comments="a comment",
                         date_updated="2026-01-02T03:04:05Z", category_scheme="vics-2", media_id="MID-9",
                         photodna="opaque-pdna", attributes={"Exif": {"Make": "X"}}, line=42,
                         provenance="list.csv:43")
    import_list(store_engine, "s", [stored], fmt="test", file="f")
    assert _entries(store_engine, "s") == [stored]


def test_failure_mid_file_imports_nothing(store_engine) -> None:
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert")

    def records():
        for i in range(120_000):  # past the first batch, so rows were already written when it fails
            yield EntryRecord(md5=_md5(i), line=i)
        raise FormatError("bad hash", "list.md5", 120_001, field="md5")

    with pytest.raises(FormatError, match="list.md5:120001"):
        import_list(store_engine, "s", records(), fmt="md5sum", file="list.md5")
    assert _entries(store_engine, "s") == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=60),
       st.lists(st.tuples(st.integers(0, 30), st.booleans()), max_size=60))
def test_two_imports_hold_each_identity_once(store_engine, first, second) -> None:
    """Whatever two lists hold, the set ends with exactly their distinct identities."""
    with store_engine.begin() as conn:
        name = f"p{abs(hash((tuple(first), tuple(second))))}"
        create_set(conn, name, "alert")
    as_records = lambda pairs: [EntryRecord(md5=_md5(i), sha1=("aa" * 20 if s else None)) for i, s in pairs]  # noqa: E731
    import_list(store_engine, name, as_records(first), fmt="t", file="1")
    import_list(store_engine, name, as_records(second), fmt="t", file="2")
    held = Counter((e.md5, e.sha1) for e in _entries(store_engine, name))
    assert set(held) == {(r.md5, r.sha1) for r in as_records(first + second)} and set(held.values()) <= {1}


def test_delta_ops_applied(store_engine) -> None:
    from hashwarden.formats.nsrl.delta import DeltaOp

    with store_engine.begin() as conn:
        create_set(conn, "nsrl", "ignorable")
    import_list(store_engine, "nsrl", [EntryRecord(sha1=hashlib.sha1(b"%d" % i).hexdigest(), size=i,
                                                   attributes={"file_name": f"f{i}"}) for i in range(10)],
                fmt="nsrl", file="rds")
    sha1 = lambda i: hashlib.sha1(b"%d" % i).hexdigest()  # noqa: E731
    ops = [DeltaOp("insert", "FILE", 1, record=EntryRecord(sha1=sha1(50))),
           DeltaOp("delete", "FILE", 2, key={"sha1": sha1(3)}),
           DeltaOp("update", "FILE", 3, key={"sha1": sha1(4)}, values={"file_name": "new", "size": 44}),
           DeltaOp("delete", "FILE", 4, key={"package_id": 7}),
           DeltaOp("insert", "PKG", 5, values={"package_id": 1})]
    warnings: list[str] = []
    ignored: Counter[str] = Counter()
    with store_engine.begin() as conn:
        result = apply_delta(conn, get_set(conn, "nsrl"), ops, file="delta.sql", warnings=warnings, ignored=ignored)
    assert (result.added, result.deleted, result.updated) == (1, 1, 1)
    assert warnings == ["line 4: FILE delete names no hash; not applied"] and ignored == {"PKG insert": 1}
    entries = {e.sha1: e for e in _entries(store_engine, "nsrl")}
    assert sha1(3) not in entries and sha1(50) in entries
    assert (entries[sha1(4)].size, entries[sha1(4)].attributes["file_name"]) == (44, "new")


def _video(seed: int, frames: int = 3) -> list:
    """A made-up frame list (benign: random PDQ codes), different for each seed."""
    from hashwarden.signals.vpdq import VpdqFrame

    return [VpdqFrame(n, 90, hashlib.sha256(b"%d/%d" % (seed, n)).hexdigest(), float(n)) for n in range(frames)]


def _frame_counts(engine, name: str) -> list[int]:
    """The number of stored frames of each entry of the set that has frames, in entry order."""
    from sqlalchemy import func, select

    from hashwarden.store.schema import entry, vpdq_frame

    with engine.connect() as conn:
        set_id = get_set(conn, name).id
        return list(conn.execute(select(func.count()).select_from(vpdq_frame).join(entry)
                                 .where(entry.c.set_id == set_id).group_by(entry.c.id).order_by(entry.c.id))
                    .scalars())


def test_vpdq_only_entries_are_identified_by_their_frames(store_engine) -> None:
    """A video known by its frames alone has no digest: two different ones are two entries, even into a set that
    holds entries already (the staging anti-join used to drop them as "duplicates"), and the same video imported
    again, or twice in one file, is one."""
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert")
    import_list(store_engine, "s", [EntryRecord(md5=_md5(1), line=1)], fmt="test", file="a")
    first = import_list(store_engine, "s", [EntryRecord(vpdq=_video(1), line=1), EntryRecord(vpdq=_video(2), line=2),
                                            EntryRecord(vpdq=_video(1), line=3)], fmt="test", file="b")
    assert (first.rows, first.added, first.duplicates) == (3, 2, 1)
    again = import_list(store_engine, "s", [EntryRecord(vpdq=_video(2), line=1), EntryRecord(vpdq=_video(3), line=2)],
                        fmt="test", file="c")
    assert (again.rows, again.added, again.duplicates) == (2, 1, 1)
    assert _frame_counts(store_engine, "s") == [3, 3, 3]
    assert len(_entries(store_engine, "s")) == 4


def test_vpdq_only_entries_into_an_empty_set(store_engine) -> None:
    """The direct path (no staging): repeats within the file are removed after the load, by the frames' identity."""
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert")
    result = import_list(store_engine, "s", [EntryRecord(vpdq=_video(1), line=1), EntryRecord(vpdq=_video(1), line=2),
                                             EntryRecord(vpdq=_video(2), line=3)], fmt="test", file="a")
    assert (result.rows, result.added, result.duplicates) == (3, 2, 1)
    assert _frame_counts(store_engine, "s") == [3, 3]


def test_video_with_digests_keeps_its_digest_identity(store_engine) -> None:
    """Frames do not enter the identity of an entry that has a digest: the same MD5 with other frames is the entry
    already held (its first frames kept), as before."""
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert")
    import_list(store_engine, "s", [EntryRecord(md5=_md5(1), vpdq=_video(1), line=1)], fmt="test", file="a")
    again = import_list(store_engine, "s", [EntryRecord(md5=_md5(1), vpdq=_video(2, frames=5), line=1),
                                            EntryRecord(md5=_md5(2), vpdq=_video(1), line=2)], fmt="test", file="b")
    assert (again.added, again.duplicates) == (1, 1)
    assert _frame_counts(store_engine, "s") == [3, 3]


def test_a_delta_into_a_big_set_groups_only_its_own_rows(tmp_path) -> None:
    """The duplicate check after a load into a set with entries reads the import's id range, not the whole
    database through a digest index (which took ~10 s a digest for a 100k delta into a 10M-entry set): every
    GROUP BY it runs is planned on the rowid range."""
    from sqlalchemy import event

    from hashwarden.store import open_store

    engine = open_store(f"sqlite:///{tmp_path / 'big.db'}")
    with engine.begin() as conn:
        create_set(conn, "s", "alert")
    import_list(engine, "s", [EntryRecord(md5=_md5(i), pdq=f"{i:064x}", line=i) for i in range(2000)], fmt="t",
                file="a")
    grouped: list[str] = []

    def note(_conn, _cursor, statement, *_rest) -> None:  # noqa: ANN001
        if "GROUP BY" in statement:
            grouped.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    # repeats within the file and of the set: the check must still find them
    delta = [EntryRecord(md5=_md5(i), pdq=f"{i:064x}", line=i) for i in (1, 5000, 5000, 5001)]
    result = import_list(engine, "s", delta, fmt="t", file="b")
    assert (result.rows, result.added) == (4, 2)
    event.remove(engine, "before_cursor_execute", note)
    assert grouped
    with engine.connect() as conn:
        for statement in grouped:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + statement.replace("?", "0")))
            assert "INTEGER PRIMARY KEY" in plan and "USING INDEX ix_entry" not in plan, (statement, plan)
    engine.dispose()


def test_indexes_an_import_drops_come_back_partial(store_engine, monkeypatch) -> None:
    """An import into a small table drops the digest indexes it fills and builds them again at its end
    (store.indexes): on every backend they come back as the migrations made them, holding non-null rows only. The
    schema gives PostgreSQL its clause only when asked (`schema.attach_postgresql_where`, so that an SQLite store
    never loads that dialect); built without it, they came back whole on PostgreSQL."""
    from sqlalchemy import text

    from hashwarden.store import indexes

    built: list[str] = []
    create = indexes.create_indexes
    monkeypatch.setattr(indexes, "create_indexes", lambda conn, made: (built.extend(i.name for i in made),
                                                                      create(conn, made))[-1])
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert")
    import_list(store_engine, "s", [EntryRecord(md5=_md5(i), sha1=f"{i:040x}", line=i) for i in range(1, 501)],
                fmt="test", file="a")
    assert {"ix_entry_md5", "ix_entry_sha1"} <= set(built)  # dropped and built again
    query = ("SELECT sql FROM sqlite_master WHERE name = :name" if store_engine.dialect.name == "sqlite" else
             "SELECT indexdef FROM pg_indexes WHERE indexname = :name")
    with store_engine.connect() as conn:
        for name in ("ix_entry_md5", "ix_entry_sha1"):
            made = conn.execute(text(query), {"name": name}).scalar_one()
            assert "WHERE" in made.upper() and "IS NOT NULL" in made.upper(), made
    assert len(_entries(store_engine, "s")) == 500
