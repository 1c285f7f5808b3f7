"""`GET /v1/sets`, `GET /v1/sets/{name}`: the hash sets, as `set list --json` and `set show --json` show them.

The answers are `HashSet.summary` and `describe_set`, the functions the CLI prints, so the API and the command
cannot drift apart. Imports stay on the CLI (issue 17): these routes only read.

Who: `analyst`, the role that manages sets and imports. Not `admin`: an administrator manages users and agencies
and reads no data (service/auth.py), and a set's import history names the files it came from. Not `examiner` or
`matcher`: they learn of a set only what a match says.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from hashwarden.errors import StoreError
from hashwarden.service.schema import ERROR_RESPONSES, StoredName
from hashwarden.service.auth import Caller, requires
from hashwarden.service.pages import DEFAULT_PAGE, Limit, page_body
from hashwarden.store import list_sets
from hashwarden.store.hashsets import describe_set

router = APIRouter(responses=ERROR_RESPONSES)

SET_ROLES = ("analyst",)


@router.get("/v1/sets")
def sets(request: Request, caller: Caller = requires(*SET_ROLES),
         limit: Limit = DEFAULT_PAGE,
         after: Annotated[str | None, Query(max_length=200)] = None) -> dict[str, Any]:
    """The sets by name (by code point on every backend), `limit` at a time after the set named `after`; `next`
    is the `after` of the next page (absent on the last). Sets are few (tens), so the page is cut from
    `list_sets`, the one listing query."""
    with request.app.state.engine.connect() as conn:  # sorted here: PostgreSQL's collation orders names otherwise
        found = sorted((s for s in list_sets(conn) if after is None or s.name > after), key=lambda s: s.name)
    body = page_body(found, limit, "sets", lambda s: s.summary(), lambda s: s.name)
    caller.counts.update(items=len(body["sets"]))
    return body


@router.get("/v1/sets/{name}")
def one_set(name: StoredName, request: Request, caller: Caller = requires(*SET_ROLES)) -> dict[str, Any]:
    """One set with its entry count and imports, oldest first (no such set: 404)."""
    try:
        with request.app.state.engine.connect() as conn:
            described = describe_set(conn, name)
    except StoreError as exc:
        raise HTTPException(404, "no such hash set") from exc
    caller.counts.update(items=1)
    return described
