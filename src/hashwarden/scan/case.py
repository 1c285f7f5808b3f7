"""The case database (`DIR/case.db`): a scan's state, written by one writer, so a killed scan can resume.

Plain sqlite3 rather than the SQLAlchemy store: it is always a local SQLite file owned by one process, and its
write rate (one row per item) is the scan's hot path. Rows are committed in small batches; after a SIGKILL the
uncommitted tail is simply hashed again on `--resume`, and nothing committed is lost.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashwarden.errors import ScanError

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS source (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, info TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS item (
    source INTEGER NOT NULL, key BLOB NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
    md5 TEXT, sha1 TEXT, sha256 TEXT, media TEXT NOT NULL, format TEXT,
    pdq TEXT, pdq_quality INTEGER, pdq_dihedral TEXT,
    status TEXT NOT NULL, error TEXT, note TEXT, matches TEXT NOT NULL, extra TEXT,
    PRIMARY KEY (source, key)
);
CREATE TABLE IF NOT EXISTS skipped (
    source INTEGER NOT NULL, key BLOB NOT NULL, path TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE TABLE IF NOT EXISTS run (
    id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, hashed INTEGER NOT NULL DEFAULT 0,
    command TEXT NOT NULL
);
"""

ITEM_COLUMNS = (
    "source", "key", "path", "size", "md5", "sha1", "sha256", "media", "format",
    "pdq", "pdq_quality", "pdq_dihedral", "status", "error", "note", "matches", "extra",
)


@dataclass(frozen=True)
class SourceRow:
    id: int
    path: str
    info: dict[str, Any]


class CaseLock:
    """An exclusive lock on a case directory for the duration of one scan (`DIR/case.lock`, flock'ed): a second
    scan or a `--resume` while the first still runs is refused in one line instead of colliding in case.db.
    The kernel drops the lock when the process ends, however it ends, so a killed scan never leaves it stale."""

    def __init__(self, out_dir: Path) -> None:
        import fcntl

        self._file = open(out_dir / "case.lock", "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            raise ScanError(f"{out_dir} is being scanned right now (by {holder}); wait for that scan to finish, or "
                            "stop it, before --resume") from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"process {os.getpid()}\n")
        self._file.flush()

    def release(self) -> None:
        self._file.close()

    def __enter__(self) -> "CaseLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class CaseDB:
    """One case directory's database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ScanError(f"{path}: not a usable case database ({exc})") from exc
        self.conn.execute("BEGIN")

    def close(self) -> None:
        self.commit()
        self.conn.close()

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    # meta -----------------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value, sort_keys=True)))

    # sources ----------------------------------------------------------------------------------------------------
    def add_source(self, source_id: int, path: str) -> None:
        self.conn.execute("INSERT INTO source (id, path) VALUES (?, ?)", (source_id, path))

    def update_source_info(self, source_id: int, info: dict[str, Any]) -> None:
        self.conn.execute("UPDATE source SET info = ? WHERE id = ?", (json.dumps(info, sort_keys=True), source_id))

    def sources(self) -> list[SourceRow]:
        rows = self.conn.execute("SELECT id, path, info FROM source ORDER BY id").fetchall()
        return [SourceRow(r[0], r[1], json.loads(r[2])) for r in rows]

    # items ------------------------------------------------------------------------------------------------------
    def recorded_keys(self) -> set[tuple[int, bytes]]:
        """(source, key) of every item and skipped entry already committed: what `--resume` does not redo."""
        keys = {(s, bytes(k)) for s, k in self.conn.execute("SELECT source, key FROM item")}
        keys.update((s, bytes(k)) for s, k in self.conn.execute("SELECT source, key FROM skipped"))
        return keys

    def add_item(self, row: dict[str, Any]) -> None:
        values = [row.get(c) for c in ITEM_COLUMNS]
        self.conn.execute(
            f"INSERT OR REPLACE INTO item ({', '.join(ITEM_COLUMNS)}) VALUES ({', '.join('?' * len(ITEM_COLUMNS))})",
            values,
        )

    def merge_extra(self, source: int, key: bytes, extra: dict[str, Any]) -> None:
        """Add report fields to an item already recorded (e.g. the verification of an E01 found after hashing)."""
        row = self.conn.execute("SELECT extra FROM item WHERE source = ? AND key = ?", (source, key)).fetchone()
        if row is not None:
            merged = {**(json.loads(row[0]) if row[0] else {}), **extra}
            self.conn.execute("UPDATE item SET extra = ? WHERE source = ? AND key = ?",
                              (json.dumps(merged, sort_keys=True), source, key))

    def add_skipped(self, source: int, key: bytes, path: str, reason: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO skipped VALUES (?, ?, ?, ?)", (source, key, path, reason))

    def items(self) -> Iterator[dict[str, Any]]:
        """Every item in a stable order (source, then path bytes), as dicts with JSON fields decoded."""
        cursor = self.conn.execute(f"SELECT {', '.join(ITEM_COLUMNS)} FROM item ORDER BY source, key")
        for values in cursor:
            row = dict(zip(ITEM_COLUMNS, values))
            row["key"] = bytes(row["key"])
            row["matches"] = json.loads(row["matches"])
            row["pdq_dihedral"] = json.loads(row["pdq_dihedral"]) if row["pdq_dihedral"] else None
            row["extra"] = json.loads(row["extra"]) if row["extra"] else {}
            yield row

    def skipped(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT source, path, reason FROM skipped ORDER BY source, key").fetchall()
        return [{"source": s, "path": p, "reason": r} for s, p, r in rows]

    # runs -------------------------------------------------------------------------------------------------------
    def start_run(self, started: str, command: list[str]) -> int:
        cursor = self.conn.execute("INSERT INTO run (started, command) VALUES (?, ?)", (started, json.dumps(command)))
        self.commit()
        return int(cursor.lastrowid)

    def count_hashed(self, run_id: int, count: int) -> None:
        self.conn.execute("UPDATE run SET hashed = hashed + ? WHERE id = ?", (count, run_id))

    def finish_run(self, run_id: int, finished: str) -> None:
        self.conn.execute("UPDATE run SET finished = ? WHERE id = ?", (finished, run_id))

    def runs(self) -> list[dict[str, Any]]:
        rows = self.conn.execute("SELECT id, started, finished, hashed, command FROM run ORDER BY id").fetchall()
        return [
            {"id": r[0], "started": r[1], "finished": r[2], "hashed": r[3], "command": json.loads(r[4])} for r in rows
        ]
