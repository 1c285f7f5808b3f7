"""A case's lead list: its unknown items, in the report's order, with what points at where they came from.

One function, `case_lead_rows`, reads it, so that leads computed from the store (a `series` lead: the item shares a
hash with media linked to a series; `cross_case`: another case of the agency holds it) join the ones the scan wrote
(`cluster`, `device`, leads/clusters.py) in one place: every lead is `{"kind", ...evidence}` and the page shows
any kind as its fields (service/web/pages.py), so a new kind needs no change there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from hashwarden.store.cases import HASH_COLUMNS, case_head, case_items

READ_BATCH = 500  # items read a query at a time while looking for the unknown ones


@dataclass(frozen=True)
class LeadRow:
    """An unknown item of a case as the lead list shows it: where it is in the report, its hashes and leads."""

    position: int  # in the report's items, from 0: the page cursor
    path: str | None
    media: str | None  # image, video, other
    hashes: dict[str, str]
    cluster: str | None = None
    leads: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def case_lead_rows(conn: Connection, case_id: int, agency: str, after: int = -1) -> Iterator[LeadRow] | None:
    """The unknown items of the agency's case `case_id` past position `after`, in the report's order, read lazily
    (a batch at a time while the caller iterates, on `conn`); None when the agency has no such case (another
    agency's case is not told apart from a missing one). `agency` is the agency's name, as store/cases.py takes it.
    """
    if case_head(conn, agency, case_id) is None:
        return None
    return _rows(conn, case_id, after)


def _rows(conn: Connection, case_id: int, after: int) -> Iterator[LeadRow]:
    position = after
    for batch in case_items(conn, case_id, READ_BATCH, after):
        for item in batch:
            position += 1  # positions are 0 .. items - 1, as the items were sent (store/cases.py)
            if item.get("status") == "unknown":
                yield _row(position, item)


def _row(position: int, item: dict[str, Any]) -> LeadRow:
    leads = item.get("leads")
    metadata = item.get("metadata")
    cluster = item.get("cluster")
    return LeadRow(position, _str(item.get("path")), _str(item.get("media")),
                   {name: item[name] for name in HASH_COLUMNS if item.get(name)},
                   _str(cluster), [lead for lead in leads if isinstance(lead, dict)] if isinstance(leads, list) else [],
                   metadata if isinstance(metadata, dict) else {})


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
