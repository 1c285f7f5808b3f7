"""Opening the hash database: SQLite by default, any SQLAlchemy URL (PostgreSQL) for shared deployments.

The schema is brought to the newest Alembic revision on open, so a database made by an older hashwarden is
migrated in place, and a fresh path becomes a ready database.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, create_engine
from sqlalchemy.exc import SQLAlchemyError

from hashwarden.errors import StoreError

_MIGRATIONS = Path(__file__).with_name("migrations")


def utc_now() -> str:
    """The store's timestamp form: ISO-8601 UTC with microseconds, identical text on every backend."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DBAPI types
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def open_store(url: str) -> Engine:
    """Connect to the database at `url` and migrate it to the newest schema.

    Raises:
        StoreError: the database cannot be opened or migrated.
    """
    try:
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        migrate(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open hash database {url}: {exc.__class__.__name__}: {exc}") from exc
    return engine


def migrate(engine: Engine) -> None:
    """Upgrade the schema to head when it is behind (a no-op costing one query otherwise)."""
    config = _alembic_config()
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.begin() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
        if current == head:
            return
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
