"""`GET/POST /v1/series`, `GET/POST /v1/victims` and their links: series and victims by code and flag, as
`hashwarden series|victim create|list|link` make and show them (issue 18).

Each route calls the function its command calls (store/series.py, grading/series.py), so the API and the CLI
cannot drift apart: the same checks, the same audit rows (`series.create`, `victim.link` ...), the objects
`series list --json` and `victim list --json` print. Codes and flags only: a victim has no field for a name or any
other particular, and the models take no other key. A code no series, victim or set has is 404; creating a code
that exists is 409; any other refusal is 422 naming the field.

Who: `analyst`, the role that manages the reference data (sets, imports, grades).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import Field
from sqlalchemy.engine import Connection

from hashwarden.errors import GradingError, SeriesError
from hashwarden.grading.series import link_series, link_victim
from hashwarden.service.auth import Caller, requires
from hashwarden.service.pages import DEFAULT_PAGE, Limit, page_body
from hashwarden.service.schema import ERROR_RESPONSES, Closed, Md5, Pdq, Sha1, Sha256
from hashwarden.store.schema import MAX_ACTOR
from hashwarden.store.series import (
    CODE, MAX_NOTES, create_series, create_victim, list_series, list_victims,
)

router = APIRouter(responses=ERROR_RESPONSES)
T = TypeVar("T")

SERIES_ROLES = ("analyst",)
_EXISTS = {409: {"description": "A series or victim of that code exists",
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}}
_STATUS = {SeriesError.INVALID: 422, SeriesError.UNKNOWN: 404, SeriesError.EXISTS: 409}
# A code as a path parameter may hold `/` (CODE allows it), hence `{code:path}` in the routes.
Code = Annotated[str, Path(max_length=64, pattern=f"^{CODE.pattern}$")]
_CodeField = Annotated[str, Field(max_length=64)]  # checked by `check_code`, which names the rule
Cursor = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]
_Actor = Annotated[str | None, Field(max_length=MAX_ACTOR)]


class SeriesBody(Closed):
    """A series: its code, the name investigators know it by, the agency that keeps it, notes (no personal data)."""

    code: _CodeField
    name: _Actor = None
    agency: _Actor = None
    notes: Annotated[str | None, Field(max_length=MAX_NOTES)] = None


class VictimBody(Closed):
    """A victim by code and flag; the identifying agency and date (YYYY-MM-DD) only for an identified victim."""

    code: _CodeField
    identified: bool = False
    agency: _Actor = None
    date: Annotated[str | None, Field(max_length=10)] = None


class Hashes(Closed):
    """Media named by its hashes (at least one)."""

    md5: Md5 | None = None
    sha1: Sha1 | None = None
    sha256: Sha256 | None = None
    pdq: Pdq | None = None

    def given(self) -> dict[str, str | None]:
        return {"md5": self.md5, "sha1": self.sha1, "sha256": self.sha256, "pdq": self.pdq}


class SeriesLinkBody(Hashes):
    """Media by its hashes, or with `set` the entries of that hash set sharing one of them (every entry of the set
    without hashes), each linked by all its hashes."""

    set: Annotated[str | None, Field(max_length=200)] = None


class VictimLinkBody(Hashes):
    """A series (its code) or media by its hashes: one of them."""

    series: _CodeField | None = None


def _listed(request: Request, caller: Caller, lister: Any, name: str, limit: int, after: str | None) -> dict[str, Any]:
    """A page of what `lister` lists (series or victims, as their `list --json` objects), by code after `after`."""
    with request.app.state.engine.connect() as conn:
        found = records_after(lister(conn), after)
    body = page_body(found, limit, name, lambda record: record.as_json(), lambda record: record.code)
    caller.counts.update(items=len(body[name]))
    return body


@router.get("/v1/series")
def series(request: Request, caller: Caller = requires(*SERIES_ROLES), limit: Limit = DEFAULT_PAGE,
           after: Cursor = None) -> dict[str, Any]:
    """Every series (`series list --json`'s objects) by code, `limit` at a time after the code `after`."""
    return _listed(request, caller, list_series, "series", limit, after)


@router.post("/v1/series", status_code=201, responses=_EXISTS)
def new_series(body: SeriesBody, request: Request, caller: Caller = requires(*SERIES_ROLES)) -> dict[str, Any]:
    """Record a series (audited): 201 with the series as listed."""
    made = _run(request, lambda conn: create_series(conn, body.code, body.name, body.agency, body.notes))
    caller.counts.update(items=1)
    return made.as_json()


@router.post("/v1/series/{code:path}/links")
def series_links(code: Code, body: SeriesLinkBody, request: Request,
                 caller: Caller = requires(*SERIES_ROLES)) -> dict[str, Any]:
    """Link media, or entries of a set, to the series (audited per link): `{"linked": [{"media", "new"}]}`, `new`
    false for a link that existed (linking twice writes nothing)."""
    linked = _run(request, lambda conn: link_series(conn, code, body.given(), body.set))
    caller.counts.update(items=len(linked))
    return {"linked": [{"media": media, "new": new} for media, new in linked]}


@router.get("/v1/victims")
def victims(request: Request, caller: Caller = requires(*SERIES_ROLES), limit: Limit = DEFAULT_PAGE,
            after: Cursor = None) -> dict[str, Any]:
    """Every victim (`victim list --json`'s objects) by code, `limit` at a time after the code `after`."""
    return _listed(request, caller, list_victims, "victims", limit, after)


@router.post("/v1/victims", status_code=201, responses=_EXISTS)
def new_victim(body: VictimBody, request: Request, caller: Caller = requires(*SERIES_ROLES)) -> dict[str, Any]:
    """Record a victim by code and flag (audited): 201 with the victim as listed."""
    made = _run(request, lambda conn: create_victim(conn, body.code, body.identified, body.agency, body.date))
    caller.counts.update(items=1)
    return made.as_json()


@router.post("/v1/victims/{code:path}/links")
def victim_links(code: Code, body: VictimLinkBody, request: Request,
                 caller: Caller = requires(*SERIES_ROLES)) -> dict[str, Any]:
    """Link the victim to a series or to media (audited): `{"series" or "media": …, "new"}`."""
    linked, new = _run(request, lambda conn: link_victim(conn, code, body.series, body.given()))
    caller.counts.update(items=1)
    return {"series" if body.series is not None else "media": linked, "new": new}


def _run(request: Request, write: Callable[[Connection], T]) -> T:
    """`write(conn)` in a transaction of its own, its refusals as the API answers them. (Sync routes, in worker
    threads: on SQLite a transaction waits for the write lock, which the audit group's commits take too.)"""
    try:
        with request.app.state.engine.begin() as conn:
            return write(conn)
    except SeriesError as exc:
        raise HTTPException(_STATUS[exc.kind], str(exc)) from None
    except GradingError as exc:  # a malformed hash (grading.votes.check_hashes)
        raise HTTPException(422, str(exc)) from None


def records_after(records: list[Any], after: str | None) -> list[Any]:
    """The records past the code `after`, by code point (PostgreSQL's collation may order codes otherwise)."""
    return sorted((record for record in records if after is None or record.code > after),
                  key=lambda record: record.code)

