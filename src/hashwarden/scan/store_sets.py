"""What a scan asks the store about its hash sets before matching anything: whether the store can say "known" at
all, and which sets it holds (for the custody record).

Kept apart from the matcher (its indexes, NumPy) so a scan can ask this, and refuse, before its workers start,
without loading what matching needs: the scan builds its matcher while the workers hash.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Engine

from hashwarden.errors import ScanError
from hashwarden.store.hashsets import list_sets


def require_alert_entries(conn: Connection, database: str) -> None:
    """Refuse to match against a database that holds no alert entry: every item would come out "unknown", a
    result that looks like a clean one (a mistyped `--db`, an import that went to another database). The caller
    passes `allow_empty` to skip this, for a run that only lists and hashes evidence.

    Raises:
        ScanError: no alert set, or only empty ones.
    """
    alert = [s for s in list_sets(conn) if s.kind == "alert"]
    if any(s.entries for s in alert):
        return
    found = f"{len(alert)} alert set(s), all empty" if alert else "no alert set"
    raise ScanError(f"{database} holds {found}: every item would be reported unknown. Import a hash set first, "
                    "or pass --allow-empty to hash and list the evidence without matching")


def refuse_empty_store(engine: Engine) -> None:
    """`require_alert_entries` for the store behind `engine`, named by its URL without the password.

    Raises:
        ScanError: no alert set, or only empty ones.
    """
    with engine.connect() as conn:
        require_alert_entries(conn, engine.url.render_as_string(hide_password=True))


def sets_in_use(conn: Connection) -> list[dict[str, Any]]:
    """The hash sets a scan matched against, with versions and sizes, for the custody record."""
    return [
        {"name": s.name, "kind": s.kind, "source": s.source, "version": s.version,
         "category_scheme": s.category_scheme, "entries": s.entries}
        for s in list_sets(conn)
    ]
