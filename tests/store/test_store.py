"""The hash store: sets, entries, migrations, and the tamper-evident audit chain."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, delete, insert, select, text, update

from hashwarden.errors import FormatError, StoreError
from hashwarden.store import create_set, get_set, list_sets, open_store
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store import audit
from hashwarden.store.db import HEAD_REVISION, head_revision, resolve_url, stored_revision
from hashwarden.store.schema import audit as audit_table
from hashwarden.store.schema import entry

MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def test_create_list_and_errors(store_engine) -> None:
    with store_engine.begin() as conn:
        created = create_set(conn, "caid", "alert", source="CAID", category_scheme="uk-sentencing", version="7")
        create_set(conn, "nsrl", "ignorable", source="NSRL")
        assert get_set(conn, "caid") == created
        with pytest.raises(StoreError, match="already exists"):
            create_set(conn, "caid", "alert")
        with pytest.raises(StoreError, match="kind"):
            create_set(conn, "x", "other")
        with pytest.raises(StoreError, match="no hash set named"):
            get_set(conn, "missing")
        assert [s.name for s in list_sets(conn)] == ["caid", "nsrl"]


def test_a_set_adopts_a_declared_scheme_only_when_it_has_none(store_engine) -> None:
    from hashwarden.store.hashsets import adopt_category_scheme, count_entries

    with store_engine.begin() as conn:
        bare = create_set(conn, "bare", "alert")
        graded = create_set(conn, "graded", "alert", category_scheme="uk-sentencing")
        adopt_category_scheme(conn, bare, "vics-us")
        adopt_category_scheme(conn, graded, "vics-us")
        adopt_category_scheme(conn, create_set(conn, "none", "alert"), None)
        assert get_set(conn, "bare").category_scheme == "vics-us"
        assert get_set(conn, "graded").category_scheme == "uk-sentencing"
        assert get_set(conn, "none").category_scheme is None
        assert count_entries(conn, bare.id) == 0
    assert import_entries(store_engine, "bare", [EntryRecord(md5=MD5), EntryRecord(sha1="00" * 20)], {}) == 2
    with store_engine.connect() as conn:
        assert count_entries(conn, bare.id) == 2
        assert count_entries(conn, graded.id) == 0


def test_import_stores_binary_hashes_and_metadata(store_engine) -> None:
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert", category_scheme="vics-us")
    record = EntryRecord(md5=MD5, pdq="ab" * 32, pdq_quality=90, category="1", series="S1", tags=["t"])
    assert import_entries(store_engine, "s", [record], {"file": "f"}) == 1
    with store_engine.connect() as conn:
        row = conn.execute(select(entry)).one()
        assert row.md5 == bytes.fromhex(MD5) and len(row.pdq) == 32
        assert (row.category, row.category_scheme, row.series, row.tags) == ("1", "vics-us", "S1", '["t"]')
        assert list_sets(conn)[0].entries == 1


def test_import_is_all_or_nothing(store_engine) -> None:
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert")

    def records():
        yield EntryRecord(md5=MD5)
        raise FormatError("bad line", "list.txt", 2)

    with pytest.raises(FormatError):
        import_entries(store_engine, "s", records(), {"file": "list.txt"})
    with store_engine.connect() as conn:
        assert conn.execute(select(entry)).all() == []
        assert audit.verify(conn).rows == 1  # only the set creation


def test_reopen_is_migrated_once(store_url) -> None:
    with open_store(store_url).begin() as conn:
        create_set(conn, "s", "alert")
    with open_store(store_url).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision()
        assert [s.name for s in list_sets(conn)] == ["s"]


def test_the_shortcut_s_head_is_alembic_s_head() -> None:
    """`migrate` skips Alembic for a database at HEAD_REVISION: it must be the head the migration scripts define
    (a new migration fails here until the constant follows it)."""
    assert HEAD_REVISION == head_revision()


def test_a_database_at_another_revision_still_goes_to_alembic(store_url) -> None:
    """Older: migrated (tests/store/test_backends.py); unknown to this hashwarden (a newer one's): refused, left
    as it is. Only the exact head takes the shortcut."""
    engine = open_store(store_url)
    assert stored_revision(engine) == HEAD_REVISION
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    from alembic.util import CommandError

    with pytest.raises(CommandError, match="9999"):  # as before the shortcut: Alembic cannot locate the revision
        open_store(store_url)
    reopened = create_engine(resolve_url(store_url))
    assert stored_revision(reopened) == "9999"
    reopened.dispose()


def _three_events(engine) -> None:
    with engine.begin() as conn:
        for index in range(3):
            audit.append(conn, "test", {"n": index}, actor="tester")


def test_audit_chain_verifies(store_engine) -> None:
    _three_events(store_engine)
    with store_engine.connect() as conn:
        result = audit.verify(conn)
        assert result.ok and result.rows == 3
        assert audit.head(conn) == (3, result.head_hash)


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (lambda c: c.execute(update(audit_table).where(audit_table.c.id == 2).values(details='{"n":9}')), "edited"),
        (lambda c: c.execute(update(audit_table).where(audit_table.c.id == 1).values(actor="other")), "edited"),
        (lambda c: c.execute(delete(audit_table).where(audit_table.c.id == 2)), "missing"),
        (lambda c: c.execute(delete(audit_table).where(audit_table.c.id == 3)), "rows removed"),
        (lambda c: c.execute(delete(audit_table)), "rows removed"),
    ],
)
def test_audit_tamper_detected(store_engine, tamper, expected) -> None:
    _three_events(store_engine)
    with store_engine.begin() as conn:
        tamper(conn)
    with store_engine.connect() as conn:
        result = audit.verify(conn)
    assert not result.ok
    assert any(expected in problem for problem in result.problems), result.problems


def test_audit_rewritten_row_with_recomputed_hash_breaks_the_link(store_engine) -> None:
    """An attacker who recomputes the edited row's own hash still breaks the next row's link."""
    _three_events(store_engine)
    with store_engine.begin() as conn:
        row = conn.execute(select(audit_table).where(audit_table.c.id == 2)).one()
        forged = audit.row_hash(2, row.ts, row.actor, row.action, '{"n":9}', row.prev_hash)
        conn.execute(update(audit_table).where(audit_table.c.id == 2).values(details='{"n":9}', row_hash=forged))
    with store_engine.connect() as conn:
        problems = audit.verify(conn).problems
    assert any("row 3" in p and "link" in p for p in problems)


def test_audit_inserted_row_detected(store_engine) -> None:
    _three_events(store_engine)
    with store_engine.begin() as conn:
        conn.execute(insert(audit_table).values(id=4, ts="x", actor="a", action="b", details="{}",
                                               prev_hash="0" * 64, row_hash="0" * 64))
    with store_engine.connect() as conn:
        assert not audit.verify(conn).ok
