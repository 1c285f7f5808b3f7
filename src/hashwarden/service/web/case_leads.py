"""A case's lead list as the analysts' page shows it: `leads.across.case_leads` (what `GET /v1/cases/{id}/leads`
answers: the case's unknown items in the report's order with the leads the scan wrote, `cluster` and `device`, and
those the store gives now, `series` and `cross_case`) as typed rows. Every lead is `{"kind", ...evidence}` and the
page shows any kind as its fields (service/web/pages.py), so a new kind needs no change there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from hashwarden.leads.across import CaseCodes, case_leads
from hashwarden.store.cases import HASH_COLUMNS


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


def case_lead_rows(conn: Connection, case_id: int, agency: str, limit: int, after: int = -1,
                   codes: CaseCodes | None = None) -> list[LeadRow] | None:
    """At most `limit` unknown items of the agency's case `case_id` past position `after`; None when the agency
    (its name) has no such case (another agency's case is not told apart from a missing one)."""
    rows = case_leads(conn, case_id, agency, limit, after, codes)
    return None if rows is None else [_row(row) for row in rows]


def _row(row: dict[str, Any]) -> LeadRow:
    leads, metadata = row.get("leads"), row.get("metadata")
    return LeadRow(row["position"], _str(row.get("path")), _str(row.get("media")),
                   {name: row[name] for name in HASH_COLUMNS if row.get(name)}, _str(row.get("cluster")),
                   [lead for lead in leads if isinstance(lead, dict)] if isinstance(leads, list) else [],
                   metadata if isinstance(metadata, dict) else {})


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
