"""A downloaded URL list or delta applied to the local URL list, through `store.urls` (issue 19).

Entries are matched by the publisher's public id, which a subscriber keeps: a line removed and added again under the
same id is the same entry with a new appeal state (`set_appeal`, the only field a publisher changes in place), any
other removal is `remove_entries` by expression hash, any other addition `add_entries` with the given id. Each is
the store's own change, audited, one local version each. Anything that does not fit the local copy (a removal of
an entry it does not hold, an addition it lists already) is refused: the list was changed here outside subscribe,
and guessing would make it neither the publisher's nor the operator's.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from hashwarden.errors import DistributionError, StoreError
from hashwarden.store.urls import NewUrlEntry, add_entries, iter_entries, remove_entries, set_appeal
from hashwarden.urls import expression_hash


@dataclass(frozen=True)
class UrlChange:
    """What one step did to the local list."""

    removed: int
    added: int
    appeals: int


def apply_full(conn: Connection, listed: list[NewUrlEntry], shown: str) -> UrlChange:
    """Make the local list the published full list `listed`: local entries it does not hold go, its entries not
    held here come, appeal states follow."""
    local = {entry.public_id: entry for entry in iter_entries(conn)}
    published = {entry.public_id for entry in listed}
    gone = [NewUrlEntry(entry.expression, entry.kind, public_id=public_id) for public_id, entry in local.items()
            if public_id not in published]
    kept = [entry for entry in listed if entry.public_id in local and local[entry.public_id].appeal != entry.appeal]
    return _apply(conn, gone + kept, [entry for entry in listed if entry.public_id not in local] + kept, shown)


def apply_delta(conn: Connection, removed: list[NewUrlEntry], added: list[NewUrlEntry], shown: str) -> UrlChange:
    """Apply a published delta's removals and additions to the local list."""
    return _apply(conn, removed, added, shown)


def _apply(conn: Connection, removed: list[NewUrlEntry], added: list[NewUrlEntry], shown: str) -> UrlChange:
    again = {entry.public_id for entry in removed} & {entry.public_id for entry in added}
    appeals = [entry for entry in added if entry.public_id in again]
    removals = [entry for entry in removed if entry.public_id not in again]
    additions = [entry for entry in added if entry.public_id not in again]
    if removals:
        _version, ids = remove_entries(conn, [expression_hash(entry.expression) for entry in removals],
                                       reason=f"subscribe: {shown}")
        if sorted(ids) != sorted(entry.public_id for entry in removals):
            raise _diverged(shown, f"removes {len(removals) - len(set(ids))} URL entries this database's list does "
                            "not hold")
    if additions:
        try:
            _version, answer = add_entries(conn, additions)
        except StoreError as exc:  # an id this database gave a removed entry: the list was changed here
            raise _diverged(shown, f"adds an entry whose id is taken ({exc})") from exc
        listed_before = sum(not added_now for _id, added_now in answer)
        if listed_before:
            raise _diverged(shown, f"adds {listed_before} URL entries this database's list holds already")
    for entry in appeals:
        if set_appeal(conn, entry.sha256, entry.appeal) != entry.public_id:
            raise _diverged(shown, "changes the appeal of a URL entry this database's list does not hold")
    return UrlChange(len(removals), len(additions), len(appeals))


def _diverged(shown: str, what: str) -> DistributionError:
    return DistributionError(f"the URL list: {shown} {what} (the list was changed here outside subscribe); "
                             "nothing was changed")
