"""The hash database: hash sets, entries and the audit log (SQLAlchemy Core; SQLite default, PostgreSQL-ready)."""

from hashwarden.store.db import open_store
from hashwarden.store.hashsets import EntryRecord, HashSet, create_set, get_set, import_entries, list_sets

__all__ = ["EntryRecord", "HashSet", "create_set", "get_set", "import_entries", "list_sets", "open_store"]
