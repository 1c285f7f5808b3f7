"""The hash database: hash sets, entries and the audit log (SQLAlchemy Core; SQLite default, PostgreSQL-ready).

Record types live in `store.records` and the loader in `store.loader` (`import_entries`, `import_list`), each
imported from there: one home per name, and opening the store does not load the loader's NumPy.
"""

from hashwarden.store.db import open_store
from hashwarden.store.hashsets import create_set, get_set, list_sets

__all__ = ["create_set", "get_set", "list_sets", "open_store"]
