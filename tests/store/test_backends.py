"""What must hold the same on SQLite and PostgreSQL: the audit chain's text, locking, migrations, types, URLs."""

from __future__ import annotations

import threading

import pytest
from alembic import command
from sqlalchemy import inspect, insert, select

from hashwarden.errors import StoreError
from hashwarden.store import create_set, open_store
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store import audit
from hashwarden.store.db import _alembic_config, head_revision
from hashwarden.store.hashsets import describe_entries, iter_match_rows
from hashwarden.store.schema import audit as audit_table
from hashwarden.store.schema import entry
from hashwarden.store.records import canonical_json

FIXED_TS = "2024-01-02T03:04:05.000006Z"
# Text a backend could alter: non-ASCII, astral plane, quotes, backslash, control characters, trailing spaces.
AWKWARD = {"name": "Ünïcødé ✓ 🙂", "quote": "it's \"q\" \\ back", "ws": "tab\there\nline  ", "n": 10**15}
ACTOR = "analyst Ünï"
HOST = "höst-01"
# sha256 chain over the three events below (host in its own field), computed once in Python: any backend must
# give exactly this.
EXPECTED_HEAD = "90169a822ca5d8f769a305b69a83a7edc3cd6a139ee89122cdf29a23ed1a931f"


def _run_at_once(targets: list, deadlock: str) -> None:
    """Run each target in its own thread and wait (60 s each); a thread still running is a deadlock."""
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), deadlock


def _expected_chain() -> str:
    prev = audit.GENESIS
    for row_id in (1, 2, 3):
        prev = audit.row_hash(row_id, FIXED_TS, ACTOR, "test", canonical_json({**AWKWARD, "i": row_id}), prev,
                              HOST)
    return prev


def test_audit_chain_hashes_identical_text_on_every_backend(store_engine, monkeypatch) -> None:
    monkeypatch.setattr(audit, "utc_now", lambda: FIXED_TS)
    monkeypatch.setattr(audit.socket, "gethostname", lambda: HOST)
    with store_engine.begin() as conn:
        for row_id in (1, 2, 3):
            audit.append(conn, "test", {**AWKWARD, "i": row_id}, actor=ACTOR)
    with store_engine.connect() as conn:
        result = audit.verify(conn)
        stored = conn.execute(select(audit_table.c.details).order_by(audit_table.c.id)).scalars().all()
        assert audit.head(conn) == (3, result.head_hash)
    assert result.ok, result.problems
    assert result.head_hash == _expected_chain() == EXPECTED_HEAD
    assert stored[0] == canonical_json({**AWKWARD, "i": 1})


def test_concurrent_appenders_make_one_chain(store_engine) -> None:
    """Writers that all start on an empty log: none may fail or fork the chain (row lock / SQLite write lock)."""
    writers, events = 4, 10
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for index in range(events):
                with store_engine.begin() as conn:
                    conn.execute(select(1))
                    if index == 0:
                        barrier.wait(timeout=30)  # every writer inside its transaction before the first append
                    audit.append(conn, "test", {"worker": worker, "i": index}, actor="tester")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    _run_at_once([lambda worker=worker: write(worker) for worker in range(writers)], "appenders deadlocked")
    assert errors == []
    with store_engine.connect() as conn:
        result = audit.verify(conn)
    assert result.ok and result.rows == writers * events, result.problems


def test_downgrade_to_0001_and_up_again_keeps_entries(store_url) -> None:
    """0002's downgrade rebuilds the table on SQLite (batch) and is plain ALTERs on PostgreSQL; rows survive."""
    engine = open_store(store_url)
    with engine.begin() as conn:
        create_set(conn, "s", "alert")
    import_entries(engine, "s", [EntryRecord(md5="00" * 16, series="S")], {"file": "f"})
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    with engine.connect() as conn:
        columns = {column["name"] for column in inspect(conn).get_columns("entry")}
        assert "media_id" not in columns and not inspect(conn).has_table("import_run")
        assert conn.execute(select(entry.c.md5, entry.c.series)).all() == [(b"\0" * 16, "S")]
    engine.dispose()
    engine = open_store(store_url)  # migrates up again
    with engine.connect() as conn:
        assert conn.execute(select(entry.c.series, entry.c.media_id)).all() == [("S", None)]
        assert inspect(conn).has_table("import_run")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("entry")
    engine.dispose()


def test_entry_ids_are_64_bit(store_engine) -> None:
    with store_engine.begin() as conn:
        target = create_set(conn, "s", "alert")
        conn.execute(insert(entry).values(id=2**40, set_id=target.id, md5=b"\1" * 16, created_at="t"))
    import_entries(store_engine, "s", [EntryRecord(md5="02" * 16)], {"file": "f"})
    with store_engine.connect() as conn:
        assert 2**40 in conn.execute(select(entry.c.id)).scalars().all()


def test_match_rows_come_back_as_bytes(store_engine) -> None:
    """The matchers key dicts on these values: bytes on both backends (never memoryview, which is unhashable)."""
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert", category_scheme="vics-us")
    records = [EntryRecord(md5=f"{i:032x}", sha1=f"{i:040x}", pdq=f"{i:064x}", pdq_quality=80, category="1")
               for i in range(1, 4)]
    import_entries(store_engine, "s", records, {"file": "f"})
    with store_engine.connect() as conn:
        rows = list(iter_match_rows(conn))
        described = describe_entries(conn, [row.entry_id for row in rows])
    assert sorted(row.md5 for row in rows) == [bytes.fromhex(f"{i:032x}") for i in range(1, 4)]
    assert all(type(row.md5) is bytes and type(row.pdq) is bytes and row.sha256 is None for row in rows)
    assert {d["set"] for d in described.values()} == {"s"} and len(described) == 3


def test_alembic_version_is_head(store_engine) -> None:
    with store_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head_revision()


@pytest.mark.postgresql
@pytest.mark.parametrize("scheme", ["postgresql://", "postgres://"])
def test_plain_postgresql_url_uses_psycopg(pg_url: str, scheme: str) -> None:
    engine = open_store(pg_url.replace("postgresql+psycopg://", scheme))
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


@pytest.mark.postgresql
def test_open_error_hides_the_password(pg_url: str, pg_cluster) -> None:
    wrong = pg_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreError, match="no_such_database") as caught:
        open_store(wrong)
    assert pg_cluster.password not in str(caught.value) and "***" in str(caught.value)


@pytest.mark.postgresql
def test_clients_opening_a_new_database_at_once_migrate_it_once(pg_url: str) -> None:
    """A shared database: the advisory lock makes the second client wait, then find the schema at head."""
    clients = 4
    barrier = threading.Barrier(clients)
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            barrier.wait(timeout=30)
            open_store(pg_url).dispose()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    _run_at_once([open_it] * clients, "clients deadlocked while migrating")
    assert errors == []


def test_0009_gives_existing_frames_only_videos_their_identity(store_url) -> None:
    """An entry a store made before 0009 (frames, no digest, no `vpdq_sha256`) gets the identity the loader gives
    the same frames now, so importing that video again adds nothing."""
    from hashwarden.signals.vpdq import VpdqFrame

    frames = [VpdqFrame(n, 90, f"{n:02x}" * 32, n / 3) for n in range(4)]
    engine = open_store(store_url)
    with engine.begin() as conn:
        create_set(conn, "s", "alert")
    import_entries(engine, "s", [EntryRecord(md5="00" * 16, line=1), EntryRecord(vpdq=frames, line=2)], {})
    config = _alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0008")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.connect() as conn:
        assert conn.execute(select(entry.c.vpdq_sha256).where(entry.c.md5.is_(None))).scalar_one() is not None
    assert import_entries(engine, "s", [EntryRecord(vpdq=frames, line=1)], {}) == 0
    assert import_entries(engine, "s", [EntryRecord(vpdq=frames[:3], line=1)], {}) == 1
    engine.dispose()


def test_0010_votes_down_and_up(store_url) -> None:
    """0010 adds the `vote` table with its partial unique index of current votes; its downgrade drops it, and the
    upgrade makes it again, the index enforcing one current vote per reviewer."""
    from sqlalchemy.exc import IntegrityError

    from hashwarden.store.schema import vote

    engine = open_store(store_url)
    config = _alembic_config()
    row = {"media": "md5:00", "md5": b"\0" * 16, "scheme": "uk-sentencing", "category": "A", "age_band": "unknown",
           "sex": "unknown", "self_generated": "unknown", "capture_device": "unknown", "redistributed": "unknown",
           "reviewer": "r", "agency": "", "source": "cli", "voted_at": FIXED_TS}
    with engine.begin() as conn:
        conn.execute(insert(vote).values(row))
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("vote") and inspect(conn).has_table("entry")
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.begin() as conn:
        assert {index["name"] for index in inspect(conn).get_indexes("vote")} >= {
            "ux_vote_current", "ix_vote_media", "ix_vote_md5", "ix_vote_sha1", "ix_vote_sha256", "ix_vote_pdq"}
        conn.execute(insert(vote).values(row))
        conn.execute(insert(vote).values({**row, "superseded_at": FIXED_TS}))  # history is not unique
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            conn.execute(insert(vote).values(row))
    engine.dispose()


def test_0011_series_down_and_up(store_url) -> None:
    """0011 adds `series`, `victim` and `series_link`; its downgrade drops them (0010's votes stay), and the upgrade
    makes them again: codes unique, a link joining exactly two ends, each kind of link once."""
    from sqlalchemy.exc import IntegrityError

    from hashwarden.store.schema import series, series_link, victim

    engine = open_store(store_url)
    config = _alembic_config()
    with engine.begin() as conn:
        conn.execute(insert(series).values(code="S-1", created_at=FIXED_TS))
        config.attributes["connection"] = conn
        command.downgrade(config, "0010")
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert not tables & {"series", "victim", "series_link"} and "vote" in tables
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    with engine.begin() as conn:
        assert {index["name"] for index in inspect(conn).get_indexes("series_link")} >= {
            "ux_series_link_media", "ux_series_link_victim", "ux_series_link_victim_media", "ix_series_link_md5",
            "ix_series_link_sha1", "ix_series_link_sha256", "ix_series_link_pdq"}
        series_id = conn.execute(insert(series).values(code="S-1", created_at=FIXED_TS)).inserted_primary_key[0]
        victim_id = conn.execute(insert(victim).values(code="V-1", identified=False, created_at=FIXED_TS)
                                 ).inserted_primary_key[0]
        conn.execute(insert(series_link).values(series_id=series_id, media="md5:00", md5=b"\0" * 16,
                                                linked_at=FIXED_TS))
        conn.execute(insert(series_link).values(series_id=series_id, victim_id=victim_id, linked_at=FIXED_TS))
    for row in ({"table": series, "code": "S-1"},
                {"table": series_link, "series_id": series_id, "media": "md5:00"},
                {"table": series_link, "series_id": series_id, "victim_id": victim_id},
                {"table": series_link, "series_id": series_id},
                {"table": series_link, "series_id": series_id, "victim_id": victim_id, "media": "md5:01"}):
        table = row.pop("table")
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:
                conn.execute(insert(table).values({**row, **({"created_at": FIXED_TS} if table is series else
                                                             {"linked_at": FIXED_TS})}))
    engine.dispose()
