"""Opening the hash database: SQLite by default, any SQLAlchemy URL (PostgreSQL) for shared deployments.

The schema is brought to the newest Alembic revision on open, so a database made by an older hashwarden is
migrated in place, and a fresh path becomes a ready database. A database already at the newest revision (every
open but the first after an upgrade) is recognised by one query against `HEAD_REVISION`, without loading Alembic
(its import and the reading of the migration scripts were a third of a one-file scan's start-up, issue 21).

PostgreSQL goes through psycopg 3 (a dependency), so a plain `postgresql://` URL, which SQLAlchemy would hand to
psycopg2, is read as `postgresql+psycopg://`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from typing import TYPE_CHECKING

from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from hashwarden.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

_MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant: the key of the PostgreSQL advisory lock that lets one client at a time migrate a shared database.
_MIGRATION_LOCK = 0x68617368  # "hash"
# The newest revision in migrations/versions: a database recording it needs no migration, which `migrate` sees
# without Alembic. tests/store/test_store.py holds it equal to Alembic's head, so a migration added without
# raising it fails there (and, were it stale, a database at the true head would only take Alembic's path).
HEAD_REVISION = "0017"


TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # of UTC times: text that sorts as the times do


def utc_now() -> str:
    """The store's timestamp form: ISO-8601 UTC with microseconds, identical text on every backend."""
    return datetime.now(timezone.utc).strftime(TIMESTAMP_FORMAT)


def driver_sql(conn: Connection, sql: str) -> str:
    """`sql`, written with `?` placeholders, in the placeholder style of `conn`'s driver (sqlite3: `?`, psycopg:
    `%s`), for `conn.exec_driver_sql`.

    For the statements a service request runs on every call (its key's user row, its audit row): SQLAlchemy Core
    builds, caches and compiles a statement on each execution, five times the cost of the query itself
    (bench/service.py); SQL written once and handed to the driver skips all of it. The rest of the store keeps
    Core. Only for SQL with no `?` or `%` other than placeholders."""
    return _placeholders(conn.dialect.paramstyle, sql)


@lru_cache(maxsize=64)
def _placeholders(paramstyle: str, sql: str) -> str:
    return sql if paramstyle == "qmark" else sql.replace("?", "%s")


def local_reads(engine: Engine) -> bool:
    """Whether a short indexed read of `engine` is a read of a local file (SQLite: no network round trip, and in
    WAL mode no wait for a writer), cheap enough for the service to make on its event loop; a PostgreSQL read
    waits for a server, so the service makes it in a worker thread."""
    return engine.dialect.name == "sqlite"


class DriverReads:
    """Short indexed reads of a SQLite store in a file, straight on sqlite3 connections of their own (one per thread
    asking), for the reads the service makes on its event loop on every request (a key's user row).

    Why: SQLAlchemy's checkout of a pooled connection, its BEGIN, result wrapping and rollback cost ten times the
    read itself (a key's user row: 50 us against 4 us, bench/service.py). Each connection is in autocommit mode, so
    every statement is a read transaction of its own and sees every commit made before it, by any process: a key
    revoked is refused from the next request on, as with a fresh pooled connection. The connections are read-only
    (`query_only`): nothing is ever written past the store's own code.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()

    def first(self, sql: str, parameters: tuple[object, ...]) -> tuple[object, ...] | None:
        """The first row of `sql` (`?` placeholders), or None."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only = ON")
        return conn.execute(sql, parameters).fetchone()


def driver_reads(engine: Engine) -> DriverReads | None:
    """`DriverReads` of `engine`'s store when it is a SQLite file (else None: a PostgreSQL read waits for a server,
    and a new connection to an in-memory SQLite database would open another, empty one)."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return DriverReads(database)


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
    # The sqlite3 module's own transaction handling does not BEGIN before a SAVEPOINT, so a savepoint opened
    # first became the transaction and its RELEASE committed it: a failed import kept the set it had created.
    # The driver is put in autocommit mode and SQLAlchemy's "begin" event emits BEGIN (SQLAlchemy's recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # 16 KiB pages (only takes effect on a new database): fewer, fuller B-tree pages for tables of millions of
    # 16-32 byte keys; bulk import and index builds ran ~1.6x faster than with 4 KiB. A 256 MiB page cache (the
    # default is 2 MiB) bounds memory while keeping an index build's working set cached.
    cursor.execute("PRAGMA page_size=16384")
    cursor.execute("PRAGMA cache_size=-262144")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def page_cache(conn: Connection, kib: int) -> Iterator[None]:
    """Run the block with SQLite's page cache at `kib` KiB on this connection, then back to what it was (a pooled
    connection keeps its cache: a raised one would stay allocated). A no-op on PostgreSQL, whose buffers are the
    server's.

    Why: a change of 100k random keys in a 10M-entry set dirties most pages of the md5 and PDQ indexes (~700 MB
    at 16 KiB a page); with the store's 256 MiB cache they are spilled and read again mid-transaction."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
    conn.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {before}")


@contextmanager
def rollback_journal(conn: Connection) -> Iterator[bool]:
    """Run what the block does on `conn` (outside any transaction) with SQLite's rollback journal instead of WAL,
    when no other connection has the database open; yields whether it did. A no-op on PostgreSQL.

    Why, for a big import: in WAL mode every page a transaction writes goes to the WAL and, at commit, is copied
    into the database, written and synced twice (a 5M-row NSRL import: 1.5 GB twice, 7.7 s in the commit's
    checkpoint), and the WAL grows to the size of the whole import (tens of GB for a full NSRL release). With the
    rollback journal, pages added past the database's old end are not journaled: each is written once. The
    transaction stays atomic (a crash leaves a hot journal that the next open rolls back), and `synchronous` is
    FULL meanwhile, which the rollback journal needs to survive a power cut (NORMAL is safe only with WAL).

    The cost: while it runs, other processes cannot open the database (their switch to WAL is refused: "database
    is locked"). SQLite refuses to leave WAL while another connection is open, so a database in use by others is
    left in WAL (the import is then slower, nobody is disturbed); the refusal is immediate, not a timed wait.
    Afterwards the connection goes back to the journal mode and `synchronous` it had (WAL, as `_sqlite_pragmas`
    sets them).
    """
    if conn.dialect.name != "sqlite" or conn.in_transaction():
        yield False
        return
    driver = conn.connection.driver_connection
    mode, synchronous, timeout = (driver.execute(f"PRAGMA {name}").fetchone()[0]
                                  for name in ("journal_mode", "synchronous", "busy_timeout"))
    driver.execute("PRAGMA busy_timeout = 0")
    try:
        switched = driver.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    except sqlite3.OperationalError:  # another connection has it open
        switched = False
    if switched:
        driver.execute("PRAGMA synchronous = FULL")
    driver.execute(f"PRAGMA busy_timeout = {int(timeout)}")
    try:
        yield switched
    finally:
        if switched:
            try:
                driver.execute(f"PRAGMA journal_mode = {mode}")
            except sqlite3.OperationalError:  # someone opened it meanwhile: the next connection's hook sets WAL
                pass
            driver.execute(f"PRAGMA synchronous = {int(synchronous)}")


def resolve_url(url: str) -> URL:
    """`url` with the driver hashwarden uses: psycopg 3 for PostgreSQL (also for the `postgres://` spelling).

    Raises:
        StoreError: not a database URL.
    """
    try:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1) if url.startswith("postgres://") else url)
    except ArgumentError as exc:
        raise StoreError(f"not a database URL: {url!r}") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def open_store(url: str, create: bool = True) -> Engine:
    """Connect to the database at `url` and migrate it to the newest schema.

    With `create` false (commands that only read or check: scan, match, export, list, verify), a database that does
    not exist yet is refused instead of made: a mistyped `--db` must not become a new, empty database against which
    every item looks unknown.

    Raises:
        StoreError: the database cannot be opened or migrated, or (without `create`) does not exist; the message
            never shows a password.
    """
    parsed = resolve_url(url)
    if not create:
        _require_existing(parsed)
    try:
        engine = create_engine(parsed)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        migrate(engine)
    except (SQLAlchemyError, ImportError) as exc:
        shown = parsed.render_as_string(hide_password=True)
        raise StoreError(f"cannot open hash database {shown}: {exc.__class__.__name__}: {exc}") from exc
    return engine


def _require_existing(parsed: URL) -> None:
    """Refuse a database that is not there (SQLite: no file; PostgreSQL: no hashwarden schema)."""
    shown = parsed.render_as_string(hide_password=True)
    hint = "check --db or $HASHWARDEN_DB (import a hash set to create a database)"
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            raise StoreError(f"no hash database at {database or shown}: {hint}")
        return
    try:
        engine = create_engine(parsed)
        with engine.connect() as conn:
            from alembic.runtime.migration import MigrationContext

            current = MigrationContext.configure(conn).get_current_revision()
        engine.dispose()
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot open hash database {shown}: {exc.__class__.__name__}: {exc}") from exc
    if current is None:
        raise StoreError(f"{shown} holds no hashwarden database: {hint}")


def head_revision() -> str:
    """The newest schema revision this hashwarden knows, as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def stored_revision(engine: Engine) -> str | None:
    """The one revision the database's `alembic_version` table records, read without Alembic; None when there is
    no such table (a new database) or it does not hold exactly one row (Alembic then decides what it means)."""
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
    except SQLAlchemyError:
        return None
    return rows[0][0] if len(rows) == 1 else None


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head when it is behind (a no-op costing one query otherwise).

    At `HEAD_REVISION`, the common case, nothing else runs; any other state (new, older, unknown or newer revision)
    goes to Alembic, under the migration lock, exactly as before the shortcut."""
    if stored_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = _alembic_config()
    head = head_revision()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Clients opening a shared database at once: the second waits, then finds it migrated.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def serialise_writers(conn: Connection, lock_key: int, table: str) -> None:
    """Make the caller's transaction the only writer of its kind until it ends, before it reads what it will
    change (votes superseding votes, URL list versions): on PostgreSQL the transaction-scoped advisory lock
    `lock_key` (a constant per kind of writer); on SQLite a write of no row to `table`, which takes the database's
    write lock at once."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(lock_key)})")
    else:
        conn.exec_driver_sql(f"UPDATE {table} SET id = id WHERE id = 0")
