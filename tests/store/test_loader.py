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
