"""Big imports into SQLite run with the rollback journal when they have the database to itself
(`store.db.rollback_journal`): written once instead of twice through the WAL. What must hold either way: the
import is atomic (also when the process dies half-way, pages already written to the file), other users of the
database are never locked out by the switch (it is not made while they are connected), and the database is back
in WAL afterwards.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest

from hashwarden.errors import FormatError
from hashwarden.store import loader
from hashwarden.formats.exchange import import_file
from hashwarden.store import open_store
from hashwarden.store.db import rollback_journal
from tests.test_cli import hw


def _listing(path: Path, count: int, bad_line: int | None = None) -> Path:
    lines = [f"{hashlib.md5(b'journal %d' % i).hexdigest()}  dir/f{i}.jpg\n" for i in range(count)]
    if bad_line is not None:
        lines[bad_line - 1] = "not-a-hash  dir/bad.jpg\n"
    path.write_text("".join(lines))
    return path


def _mode(db: Path) -> str:
    """The journal mode stored in the file, seen by a plain connection (hashwarden's own would set WAL)."""
    with sqlite3.connect(db) as conn:
        return conn.execute("PRAGMA journal_mode").fetchone()[0]


def _entries(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM entry").fetchone()[0]


def test_switches_when_alone_and_returns_to_wal(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")
    with engine.connect() as conn, rollback_journal(conn) as switched:
        assert switched
        assert conn.connection.driver_connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert conn.connection.driver_connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    engine.dispose()
    assert _mode(tmp_path / "hw.db") == "wal"


def test_another_connection_keeps_wal_without_waiting(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    other = sqlite3.connect(db, timeout=30)  # a reader (another examiner's scan): the switch must not wait for it
    other.execute("SELECT count(*) FROM entry").fetchone()
    with engine.connect() as conn, rollback_journal(conn) as switched:
        assert not switched
        assert conn.connection.driver_connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    engine.dispose()


def test_postgresql_is_left_alone(store_engine) -> None:
    with store_engine.connect() as conn, rollback_journal(conn) as switched:
        assert switched is (store_engine.dialect.name == "sqlite")


def test_big_import_switches_and_stays_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same import through both journals stores the same; a failure in either leaves nothing behind."""
    monkeypatch.setattr(loader, "BULK_JOURNAL_BYTES", 1)
    listing = _listing(tmp_path / "list.md5", 120_000)
    seen: list[bool] = []
    real = loader.rollback_journal

    @contextmanager
    def watched(conn):  # noqa: ANN001, ANN202
        with real(conn) as switched:
            seen.append(switched)
            yield switched

    monkeypatch.setattr(loader, "rollback_journal", watched)
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")
    result, _ = import_file(engine, "md5sum", listing, "big")
    (tmp_path / "bad").mkdir()
    with pytest.raises(FormatError, match="110000"):
        import_file(engine, "md5sum", _listing(tmp_path / "bad" / "list.md5", 120_000, bad_line=110_000), "broken")
    engine.dispose()
    assert seen == [True, True] and result.added == 120_000
    assert _entries(tmp_path / "hw.db") == 120_000 and _mode(tmp_path / "hw.db") == "wal"
    assert "audit log intact" in hw("audit", "verify", db=tmp_path / "hw.db").stdout


CRASH = textwrap.dedent("""
    import os, sys
    from hashwarden.formats import exchange, md5sum
    from hashwarden.store import db, loader

    loader.BULK_JOURNAL_BYTES = 1
    pragmas = db._sqlite_pragmas

    def small_cache(connection, record):  # pages spill into the database file long before the commit
        pragmas(connection, record)
        connection.execute("PRAGMA cache_size = 50")

    db._sqlite_pragmas = small_cache
    read_rows = md5sum.read_rows

    def dying(*args, **kwargs):
        for number, batch in enumerate(read_rows(*args, **kwargs)):
            if number == 3:
                sys.stdout.write(str(os.path.getsize(sys.argv[1])))
                sys.stdout.flush()
                os._exit(9)  # no rollback, no cleanup: as a power cut or kill -9 leaves it
            yield batch

    exchange.row_reader = lambda fmt: dying
    engine = db.open_store("sqlite:///" + sys.argv[1])
    exchange.import_file(engine, "md5sum", sys.argv[2], "dies")
""")


def test_process_killed_mid_import_leaves_the_database_as_it_was(tmp_path: Path) -> None:
    """Killed after the import had written pages into the database file: the next open rolls the hot journal
    back, the set it was creating does not exist, the audit chain verifies, and WAL is back."""
    db = tmp_path / "hw.db"
    hw("import", "md5sum", str(_listing(tmp_path / "first.md5", 1000)), "--set", "kept", db=db)
    size_before = db.stat().st_size
    listing = _listing(tmp_path / "list.md5", 400_000)
    done = subprocess.run([sys.executable, "-c", CRASH, str(db), str(listing)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 9, done.stderr
    assert int(done.stdout) > size_before  # the import had reached the file itself
    assert Path(f"{db}-journal").exists()  # hot journal left behind
    listed = hw("set", "list", db=db).stdout
    assert "kept" in listed and "dies" not in listed
    assert _entries(db) == 1000 and db.stat().st_size == size_before
    assert "audit log intact" in hw("audit", "verify", db=db).stdout
    assert _mode(db) == "wal" and not Path(f"{db}-journal").exists()
