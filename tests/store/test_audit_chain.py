"""The audit chain unit by unit (issue 16, mutation testing): the row hash is recomputable by hand, each kind of
tampering is named in its own words, the head is checked both ways, and who acted is recorded as configured.
`verify` saying "intact" of a log that is not is a wrong verdict about the evidence of every case since."""

from __future__ import annotations

import hashlib
import socket
import threading

import pytest
from sqlalchemy import delete, func, select, update

from hashwarden import config
from hashwarden.errors import StoreError
from hashwarden.store import audit, create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord, canonical_json
from hashwarden.store.schema import MAX_ACTOR
from hashwarden.store.schema import audit as audit_table
from hashwarden.store.schema import audit_head, entry, hash_set


def rows(engine) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(audit_table).order_by(audit_table.c.id)))


def verify(engine, data: bool = True) -> audit.AuditVerification:
    with engine.connect() as conn:
        return audit.verify(conn, data=data)


def three(engine) -> list[str]:
    with engine.begin() as conn:
        return [audit.append(conn, "test", {"n": n, "é": "ü"}, actor="tester") for n in range(3)]


def test_row_hash_is_sha256_of_unit_separated_fields_and_host_only_when_recorded() -> None:
    fields = ["7", "2026-01-01T00:00:00Z", "ann", "import", '{"a":1}', "p" * 64]
    assert audit.row_hash(7, *fields[1:]) == hashlib.sha256("\x1f".join(fields).encode()).hexdigest()
    assert audit.row_hash(7, *fields[1:], host="hé") == hashlib.sha256(
        "\x1f".join([*fields, "hé"]).encode("utf-8")).hexdigest()
    assert audit.GENESIS == "0" * 64


def test_canonical_json_is_sorted_compact_and_keeps_non_ascii() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'


def test_the_actor_is_the_examiner_else_the_os_user_marked_as_such(monkeypatch) -> None:
    monkeypatch.setenv(config.ENV_EXAMINER, "  Det. Ann  ")
    assert audit.default_actor() == "Det. Ann"
    monkeypatch.delenv(config.ENV_EXAMINER)
    monkeypatch.setattr(audit.getpass, "getuser", lambda: "root")
    assert audit.default_actor() == f"root ({config.OS_USER_NOTE})"

    def no_user() -> str:
        raise OSError("no user in this container")
    monkeypatch.setattr(audit.getpass, "getuser", no_user)
    assert audit.default_actor() == f"unknown ({config.OS_USER_NOTE})"


def test_append_chains_from_genesis_and_moves_the_head(fresh_store) -> None:
    hashes = three(fresh_store)
    stored = rows(fresh_store)
    assert [r.id for r in stored] == [1, 2, 3]
    assert [r.prev_hash for r in stored] == [audit.GENESIS, *hashes[:2]]
    assert [r.row_hash for r in stored] == hashes
    first = stored[0]
    assert (first.actor, first.action, first.details, first.host) == ("tester", "test", '{"n":0,"é":"ü"}',
                                                                      socket.gethostname())
    assert hashes[0] == audit.row_hash(1, first.ts, "tester", "test", '{"n":0,"é":"ü"}', audit.GENESIS,
                                       socket.gethostname())
    with fresh_store.connect() as conn:
        assert audit.head(conn) == (3, hashes[2])
        assert [tuple(r) for r in conn.execute(select(audit_head))] == [(1, 3, hashes[2])]  # one head row, id 1


def test_an_empty_log_verifies_and_its_head_is_genesis(fresh_store) -> None:
    with fresh_store.connect() as conn:
        assert audit.head(conn) == (0, audit.GENESIS)
    result = verify(fresh_store)
    assert (result.ok, result.rows, result.head_hash, result.problems) == (True, 0, audit.GENESIS, [])


def test_examiner_names_up_to_200_characters_are_recorded(fresh_store, monkeypatch) -> None:
    assert MAX_ACTOR == 200
    monkeypatch.setenv(config.ENV_EXAMINER, "E" * 200)
    with fresh_store.begin() as conn:
        audit.append(conn, "test", {})
    with fresh_store.begin() as conn:
        with pytest.raises(StoreError) as info:
            audit.append(conn, "test", {}, actor="x" * 201)
    assert str(info.value) == f"examiner name longer than 200 characters: {'x' * 40!r}..."
    assert [r.actor for r in rows(fresh_store)] == ["E" * 200]


def test_verify_reports_the_chain_it_checked(fresh_store) -> None:
    hashes = three(fresh_store)
    result = verify(fresh_store)
    assert (result.ok, result.rows, result.head_hash, result.problems) == (True, 3, hashes[2], [])
    assert result.chain == {1: hashes[0], 2: hashes[1], 3: hashes[2]}


def test_a_removed_middle_row_is_named_and_the_count_continues_from_the_next(fresh_store) -> None:
    three(fresh_store)
    with fresh_store.begin() as conn:
        conn.execute(delete(audit_table).where(audit_table.c.id == 2))
    assert verify(fresh_store).problems == [
        "row 2 is missing (next row is 3)",
        "row 3: previous-hash link broken (a row before it was changed or removed)",
        "head records 3 rows but 2 are present (rows removed)",
    ]


def test_an_edited_row_is_named_alone_when_its_hash_was_not_recomputed(fresh_store) -> None:
    three(fresh_store)
    with fresh_store.begin() as conn:
        conn.execute(update(audit_table).where(audit_table.c.id == 3).values(action="other"))
    assert verify(fresh_store).problems == ["row 3: contents do not match its hash (edited)"]


def test_the_head_is_checked_for_its_count_and_its_hash(fresh_store) -> None:
    hashes = three(fresh_store)
    with fresh_store.begin() as conn:
        conn.execute(update(audit_head).where(audit_head.c.id == 1).values(head_hash=hashes[1]))
    assert verify(fresh_store).problems == [
        "head hash differs from the last row's hash (last rows changed or removed)"]
    with fresh_store.begin() as conn:
        conn.execute(delete(audit_head))
    assert verify(fresh_store).problems == ["audit head record is missing"]
    with fresh_store.begin() as conn:
        conn.execute(delete(audit_table))
    assert verify(fresh_store).ok  # no rows and no head: a new log


def test_recorded_content_is_the_latest_for_that_set(store_engine) -> None:
    """On both backends: PostgreSQL's LIKE is case-sensitive, SQLite's is not."""
    with store_engine.begin() as conn:
        create_set(conn, "a", "alert")
        create_set(conn, "b", "alert")
    import_entries(store_engine, "a", [EntryRecord(md5="1" * 32)], {"file": "t"})
    import_entries(store_engine, "b", [EntryRecord(md5="2" * 32)], {"file": "t"})
    import_entries(store_engine, "a", [EntryRecord(md5="3" * 32)], {"file": "t"})
    with store_engine.connect() as conn:
        ids = {r.name: r.id for r in conn.execute(select(hash_set))}
        latest_a = audit.recorded_content(conn, ids["a"])
        assert (latest_a.name, latest_a.entries) == ("a", 2)
        assert audit.recorded_content(conn, ids["b"]).entries == 1
        assert audit.recorded_content(conn, 999) is None
    assert audit._content_of('{"content": "not a dict"}') is None
    assert audit._content_of("not json") is None
    assert audit._content_of('{"content": {"set_id": 1}}') is None


def test_data_verification_counts_matching_sets_and_names_each_difference(fresh_store) -> None:
    with fresh_store.begin() as conn:
        create_set(conn, "a", "alert")
        create_set(conn, "b", "ignorable")
    import_entries(fresh_store, "a", [EntryRecord(md5="1" * 32), EntryRecord(md5="2" * 32)], {"file": "t"})
    import_entries(fresh_store, "b", [EntryRecord(md5="3" * 32)], {"file": "t"})
    result = verify(fresh_store)
    assert (result.ok, result.sets, result.notes) == (True, 2, [])
    assert verify(fresh_store, data=False).sets == 0

    with fresh_store.begin() as conn:
        conn.execute(update(hash_set).where(hash_set.c.name == "b").values(kind="alert"))
        conn.execute(update(entry).where(entry.c.md5 == bytes.fromhex("2" * 32)).values(md5=bytes.fromhex("4" * 32)))
    result = verify(fresh_store)
    assert result.sets == 0
    assert [p.split(" since ")[0] for p in result.problems] == ["set 'a': entries changed outside hashwarden",
                                                               "set 'b': entries changed outside hashwarden"]
    assert result.problems[0].endswith("; entries differ)") and result.problems[1].endswith("; kind differ)")
    assert "(the last recorded change, audit row 3;" in result.problems[0]  # create a, create b, import a

    with fresh_store.begin() as conn:
        conn.execute(delete(entry).where(entry.c.md5 == bytes.fromhex("4" * 32)))
    assert "2 entries recorded, 1 present" in verify(fresh_store).problems[0]


def test_a_set_removed_outside_hashwarden_is_named_and_one_without_a_digest_is_noted(fresh_store) -> None:
    with fresh_store.begin() as conn:
        create_set(conn, "gone", "alert")
    import_entries(fresh_store, "gone", [EntryRecord(md5="1" * 32)], {"file": "t"})
    with fresh_store.begin() as conn:
        conn.execute(delete(entry))
        conn.execute(delete(hash_set))
        conn.execute(hash_set.insert().values(id=50, name="old", kind="alert", source="local", created_at="x",
                                                   updated_at="x"))
    result = verify(fresh_store)
    assert len(result.problems) == 1
    assert result.problems[0].startswith("set 'gone' (id 1) was removed outside hashwarden since ")
    assert result.problems[0].endswith("(audit row 2)")  # create, then the import that recorded its content
    assert result.notes == ["set 'old': no content digest recorded yet (created before hashwarden recorded them); "
                            "its next import records one"]


def test_verify_checks_the_data_by_default_and_records_each_content_for_checkpoints(fresh_store) -> None:
    with fresh_store.begin() as conn:
        create_set(conn, "a", "alert")
    import_entries(fresh_store, "a", [EntryRecord(md5="1" * 32)], {"file": "t"})
    with fresh_store.connect() as conn:
        result = audit.verify(conn)
        set_id = conn.execute(select(hash_set.c.id)).scalar()
    assert result.sets == 1
    assert sorted(result.contents) == [1, 2]  # the create and the import each recorded the set's content
    assert [(row, list(contents), contents[set_id].entries) for row, contents in sorted(result.contents.items())] == [
        (1, [set_id], 0), (2, [set_id], 1)]
    with fresh_store.begin() as conn:
        conn.execute(delete(entry))
    with fresh_store.connect() as conn:
        assert not audit.verify(conn).ok


def test_a_set_deleted_through_hashwarden_is_not_reported_removed(fresh_store) -> None:
    from hashwarden.store.hashsets import delete_set

    with fresh_store.begin() as conn:
        create_set(conn, "a", "alert")
        create_set(conn, "b", "alert")
    import_entries(fresh_store, "a", [EntryRecord(md5="1" * 32)], {"file": "t"})
    with fresh_store.begin() as conn:
        delete_set(conn, "a")
        audit.append(conn, "set.delete", {"deleted_set": 99, "name": "never recorded"})  # no content to drop
    result = verify(fresh_store)
    assert (result.ok, result.sets, result.problems) == (True, 1, [])


def test_rows_are_verified_in_id_order_whatever_order_the_database_keeps_them(store_engine) -> None:
    """PostgreSQL returns a re-inserted row last unless asked for an order; the chain is by id."""
    three(store_engine)
    with store_engine.begin() as conn:
        second = conn.execute(select(audit_table).where(audit_table.c.id == 2)).one()
        conn.execute(delete(audit_table).where(audit_table.c.id == 2))
        conn.execute(audit_table.insert().values(**second._asdict()))
    assert verify(store_engine).problems == []


def test_an_empty_set_verifies_and_differences_are_named_in_set_name_order(fresh_store) -> None:
    with fresh_store.begin() as conn:
        create_set(conn, "zulu", "alert")
        create_set(conn, "alpha", "alert")
        create_set(conn, "empty", "alert")
    import_entries(fresh_store, "zulu", [EntryRecord(md5="1" * 32)], {"file": "t"})
    import_entries(fresh_store, "alpha", [EntryRecord(md5="2" * 32)], {"file": "t"})
    result = verify(fresh_store)
    assert (result.ok, result.sets) == (True, 3)  # "empty" has no entries: (0 entries, digest 0) as recorded
    with fresh_store.begin() as conn:
        conn.execute(update(hash_set).where(hash_set.c.name == "zulu").values(name="yankee", category_scheme="x"))
        conn.execute(update(hash_set).where(hash_set.c.name == "alpha").values(category_scheme="vics-us"))
    problems = verify(fresh_store).problems
    assert [p.split(":")[0] for p in problems] == ["set 'alpha'", "set 'yankee'"]
    assert problems[0].endswith("; category scheme differ)")
    assert problems[1].endswith("; name, category scheme differ)")


def test_a_set_without_a_digest_does_not_end_the_check_of_the_sets_after_it(fresh_store) -> None:
    """A set with no recorded content (made before digests were recorded) is noted and the check goes on: a set
    after it in name order that was changed outside hashwarden is still named."""
    with fresh_store.begin() as conn:
        create_set(conn, "zzz", "alert")
    import_entries(fresh_store, "zzz", [EntryRecord(md5="1" * 32), EntryRecord(md5="2" * 32)], {"file": "t"})
    with fresh_store.begin() as conn:
        conn.execute(hash_set.insert().values(id=50, name="aaa-old", kind="alert", source="local", created_at="x",
                                               updated_at="x"))
        conn.execute(delete(entry).where(entry.c.md5 == bytes.fromhex("2" * 32)))
    result = verify(fresh_store)
    assert result.notes == ["set 'aaa-old': no content digest recorded yet (created before hashwarden recorded "
                            "them); its next import records one"]
    assert [p.split(" since ")[0] for p in result.problems] == ["set 'zzz': entries changed outside hashwarden"]
    with fresh_store.connect() as conn:  # the import's row: the last change recorded for zzz, named with its time
        last = conn.execute(select(audit_table.c.id, audit_table.c.ts).order_by(audit_table.c.id.desc())).first()
    assert f" since {last.ts} (the last recorded change, audit row {last.id}; 2 entries recorded, 1 present)" in \
        result.problems[0]


_INCREMENTAL: dict[object, audit.RecordedContents] = {}


def _generation(engine) -> str:
    """`recorded_generation`, read from the whole log; and checked against the same log read incrementally by one
    `RecordedContents` kept per engine across the calls of a test (what a service process's poll does)."""
    with engine.connect() as conn:
        whole = audit.recorded_generation(conn)
        incremental = _INCREMENTAL.setdefault(engine, audit.RecordedContents()).generation(conn)
    assert incremental == whole
    return whole


def _generation_of_the_tables(engine, set_names: list[str]) -> str:
    """The generation computed from the data itself (digest.current of each named set, by id): what the log's
    generation must equal when every change went through hashwarden."""
    from hashwarden.store import digest, get_set

    with engine.connect() as conn:
        contents = sorted((digest.current(conn, get_set(conn, name).id) for name in set_names),
                          key=lambda content: content.set_id)
    return hashlib.sha256("\n".join(c.fingerprint() for c in contents).encode("ascii")).hexdigest()


def test_the_generation_is_the_recorded_content_of_the_sets_and_moves_only_with_them(store_engine) -> None:
    """The index generation the service reports: the SHA-256 of each set's latest recorded content (set id order),
    equal to the same digest over the tables; an import, a rename and a deletion move it; audit rows that change
    no set (an export, a request) do not; a deleted set takes no part; the empty store has the digest of nothing.
    On both backends (PostgreSQL's LIKE is case-sensitive, and its heap order is not the id order)."""
    from hashwarden.store.hashsets import delete_set, rename_set

    fresh_store = store_engine

    assert _generation(fresh_store) == hashlib.sha256(b"").hexdigest()
    with fresh_store.begin() as conn:
        create_set(conn, "b", "alert")
        create_set(conn, "a", "ignorable")
    import_entries(fresh_store, "b", [EntryRecord(md5="1" * 32)], {"file": "t"})
    import_entries(fresh_store, "a", [EntryRecord(md5="2" * 32), EntryRecord(sha1="3" * 40)], {"file": "t"})
    two = _generation(fresh_store)
    assert two == _generation_of_the_tables(fresh_store, ["a", "b"])
    with fresh_store.begin() as conn:
        audit.append(conn, "export", {"set": "a", "format": "md5sum", "file": "x"})
        audit.append(conn, "service.request", {"endpoint": "POST /v1/lookup", "items": 3})
    assert _generation(fresh_store) == two
    import_entries(fresh_store, "b", [EntryRecord(md5="4" * 32)], {"file": "t"})
    grown = _generation(fresh_store)
    assert grown != two and grown == _generation_of_the_tables(fresh_store, ["a", "b"])
    with fresh_store.begin() as conn:  # on PostgreSQL this moves b's first import row to the end of the heap
        first = conn.execute(select(func.min(audit_table.c.id)).where(audit_table.c.action == "import")).scalar_one()
        assert first is not None
        conn.execute(update(audit_table).where(audit_table.c.id == first).values(details=audit_table.c.details))
    assert _generation(fresh_store) == grown  # rows are folded in id order, not the order storage returns them
    with fresh_store.begin() as conn:
        rename_set(conn, "a", "a2")
    renamed = _generation(fresh_store)
    assert renamed not in (two, grown) and renamed == _generation_of_the_tables(fresh_store, ["a2", "b"])
    with fresh_store.begin() as conn:
        delete_set(conn, "a2")
    assert _generation(fresh_store) == _generation_of_the_tables(fresh_store, ["b"])
    with fresh_store.begin() as conn:  # a new set may take the deleted one's id: its own content counts again
        create_set(conn, "c", "alert")
    import_entries(fresh_store, "c", [EntryRecord(md5="5" * 32)], {"file": "t"})
    assert _generation(fresh_store) == _generation_of_the_tables(fresh_store, ["b", "c"])


def test_recorded_contents_reads_only_the_rows_appended_since_and_starts_over_on_another_log(store_engine) -> None:
    """A poll must not fold the whole log again (it grows by a row per service request): after a first read, an
    old row changed behind its back is not read again (the whole-log fold sees it); new rows are. A log that is not
    the one read (the row last read has another hash: a database replaced under the same URL) is read afresh."""
    with store_engine.begin() as conn:
        create_set(conn, "b", "alert")
    import_entries(store_engine, "b", [EntryRecord(md5="1" * 32)], {"file": "t"})
    contents = audit.RecordedContents()
    with store_engine.connect() as conn:
        first = contents.generation(conn)
    with store_engine.begin() as conn:  # the import's row, rewritten: only a fold of the whole log sees it
        row = conn.execute(select(audit_table.c.id, audit_table.c.details).where(
            audit_table.c.details.like('%"content":%')).order_by(audit_table.c.id.desc())).first()
        conn.execute(update(audit_table).where(audit_table.c.id == row.id).values(
            details=row.details.replace('"content":', '"was_content":')))
    with store_engine.connect() as conn:
        assert contents.generation(conn) == first
        assert audit.recorded_generation(conn) != first
    import_entries(store_engine, "b", [EntryRecord(md5="2" * 32)], {"file": "t"})
    with store_engine.connect() as conn:
        grown = contents.generation(conn)
        assert grown != first and grown == audit.recorded_generation(conn)  # the new import's row was read
    with store_engine.begin() as conn:  # another log under the same URL: the last row read has another hash, and
        newest = conn.execute(select(func.max(audit_table.c.id))).scalar_one()  # the second import is not in it
        conn.execute(update(audit_table).where(audit_table.c.id == newest).values(row_hash="0" * 64))
        conn.execute(update(audit_table).where(audit_table.c.id == row.id).values(details=row.details))
        second = conn.execute(select(audit_table.c.id, audit_table.c.details).where(
            audit_table.c.details.like('%"content":%')).order_by(audit_table.c.id.desc())).first()
        assert second.id > row.id
        conn.execute(update(audit_table).where(audit_table.c.id == second.id).values(
            details=second.details.replace('"content":', '"was_content":')))
    with store_engine.connect() as conn:
        assert contents.generation(conn) == audit.recorded_generation(conn) != grown


def test_concurrent_appenders_from_an_empty_log_write_one_unbroken_chain(store_engine) -> None:
    """Appenders racing from the genesis on, each in transactions of its own (as the service's processes append):
    the head upsert must serialise them, or two read the same head and one fails on the row number (or the chain
    forks). Every append must succeed: an audit row that fails is an answer the service refuses."""
    threads, each = 4, 15
    barrier = threading.Barrier(threads)
    failures: list[BaseException] = []

    def appender(n: int) -> None:
        barrier.wait()
        try:
            for i in range(each):
                with store_engine.begin() as conn:
                    audit.append(conn, "race", {"thread": n, "i": i}, actor="tester")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    workers = [threading.Thread(target=appender, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    result = verify(store_engine)
    assert result.ok and result.rows == threads * each
    assert [r.id for r in rows(store_engine)] == list(range(1, threads * each + 1))
