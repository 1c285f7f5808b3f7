"""`POST /v1/cases`, `GET /v1/cases`, `GET /v1/cases/{id}`, `DELETE /v1/cases/{id}`: an agency's scan results;
`GET /v1/cases/items?md5=|sha1=|sha256=|pdq=`: the agency's case items with a hash (what links its cases).

An examiner (or analyst) submits a scan's report.json; it is kept under the caller's agency (store/cases.py) and
only that agency lists, reads or deletes it. Another agency's case answers 404 exactly as a missing one does, so
its existence is not revealed.

What is accepted is a report: hashes and metadata. The top level must have report.json's keys and no others; an
item's hashes must be hex of their length; and nowhere in the document may a key name image content (`data`,
`thumbnail`, `image`, ...) or a string be longer than MAX_CASE_STRING (longer than any path; a base64 image is not),
so no imagery can ride in under any name. The body limit (limits.BodyLimit) bounds the whole.

Nothing of a case reaches the audit log but its id and counts (the store's `case.submit`/`case.delete` rows and the
request's row): paths can carry names.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hashwarden.report.json_report import STATUSES
from hashwarden.service.schema import ERROR_RESPONSES, Closed, Md5, Pdq, RowCursor, RowId, Sha1, Sha256
from hashwarden.service.auth import Caller, requires
from hashwarden.service.pages import DEFAULT_PAGE, Limit, page_body
from hashwarden.store.cases import delete_case, find_items, get_case, list_cases, save_case

router = APIRouter(responses=ERROR_RESPONSES)

CASE_ROLES = ("examiner", "analyst")
MAX_CASE_STRING = 4096  # PATH_MAX on Linux: no path is longer
# Keys that would carry file content or a picture of it; refused anywhere in a submitted report.
# (Not `bytes`: report.json's summary counts bytes under that key. Content under it would be a long string.)
IMAGERY_KEYS = frozenset({"data", "content", "contents", "image", "imagery", "thumbnail", "thumb",
                          "preview", "pixels", "base64", "blob", "raw", "body", "file_data"})

# report.json's summary: counts, and tables of counts by a short name (`by_media`, `by_category`).
_Summary = dict[str, int | dict[Annotated[str, Field(max_length=200)], int]]


class CaseItem(BaseModel):
    """One item of report.json. Its hashes are checked; the rest (path, size, media, matches, container chain,
    notes, ...) is metadata the scan adds to over time, so other keys are kept, within the document-wide rules."""

    model_config = ConfigDict(extra="allow")
    md5: Md5 | None = None
    sha1: Sha1 | None = None
    sha256: Sha256 | None = None
    pdq: Pdq | None = None
    pdq_quality: Annotated[int | None, Field(ge=0, le=100)] = None
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]
    matches: list[dict[str, Any]] = []


class CaseReport(Closed):
    """A scan's report.json (report/json_report.py builds it)."""

    case: Annotated[str, Field(max_length=200)]
    tool: dict[str, Any]
    sources: list[dict[str, Any]]
    summary: _Summary
    items: list[CaseItem]
    skipped: list[dict[str, Any]] = []

    @model_validator(mode="before")
    @classmethod
    def _no_imagery(cls, document: Any) -> Any:
        """Walk the whole document (iteratively: a deep one cannot exhaust the stack) for imagery keys and
        overlong strings. The summary is counts only (its keys are media kinds and categories, `image` among
        them; its type says so), so it is left to its type. The message names the rule, never the value."""
        if not isinstance(document, dict):
            return document
        pending = [value for key, value in document.items() if key != "summary"]
        _no_imagery_keys(document)
        while pending:
            node = pending.pop()
            if isinstance(node, dict):
                _no_imagery_keys(node)
                pending.extend(node.values())
            elif isinstance(node, list):
                pending.extend(node)
            elif isinstance(node, str) and len(node) > MAX_CASE_STRING:
                raise ValueError(f"a string longer than {MAX_CASE_STRING} characters (no path is that long)")
        return document


def _no_imagery_keys(node: dict[Any, Any]) -> None:
    refused = IMAGERY_KEYS.intersection(str(key).lower() for key in node)
    if refused:
        raise ValueError(f"a case holds hashes and metadata only, not {', '.join(sorted(refused))}")


@router.post("/v1/cases", status_code=201)
def submit(body: CaseReport, request: Request, caller: Caller = requires(*CASE_ROLES)) -> dict[str, int]:
    """Store the report under the caller's agency; 201 `{"id": …}` once it is committed."""
    report = body.model_dump(exclude_unset=True)  # items with their extra keys, as sent
    with request.app.state.engine.begin() as conn:
        case_id = save_case(conn, caller.identity.agency, caller.identity.user, report)
    caller.counts.update(case=case_id, items=len(body.items))
    return {"id": case_id}


@router.get("/v1/cases")
def cases(request: Request, caller: Caller = requires(*CASE_ROLES),
          limit: Limit = DEFAULT_PAGE,
          after: RowCursor = None) -> dict[str, Any]:
    """The agency's cases by id, `limit` at a time after the id `after`; `next` is the `after` of the next page
    (absent on the last)."""
    with request.app.state.engine.connect() as conn:
        found = list_cases(conn, caller.identity.agency, limit + 1, after)
    body = page_body(found, limit, "cases", lambda case: case.public(), lambda case: case.id)
    caller.counts.update(items=len(body["cases"]))
    return body


@router.get("/v1/cases/items")
def items_by_hash(request: Request, caller: Caller = requires(*CASE_ROLES),
                  md5: Annotated[Md5 | None, Query()] = None, sha1: Annotated[Sha1 | None, Query()] = None,
                  sha256: Annotated[Sha256 | None, Query()] = None, pdq: Annotated[Pdq | None, Query()] = None,
                  limit: Limit = DEFAULT_PAGE, after: RowCursor = None) -> dict[str, Any]:
    """The agency's case items with any of the hashes given (PDQ matched exactly; none given: none):
    `{"items": [{"case", "position", "path"}], "next"?}`, paged by `after` like every list. Declared before
    `/v1/cases/{id}`, which would take `items` for an id."""
    given = {name: bytes.fromhex(value) for name, value in
             (("md5", md5), ("sha1", sha1), ("sha256", sha256), ("pdq", pdq)) if value is not None}
    with request.app.state.engine.connect() as conn:
        found = find_items(conn, caller.identity.agency, given, limit + 1, after)
    body = page_body(found, limit, "items", lambda hit: hit.public(), lambda hit: hit.id)
    caller.counts.update(items=len(body["items"]))
    return body


@router.get("/v1/cases/{id}")
def one_case(id: RowId, request: Request, caller: Caller = requires(*CASE_ROLES)) -> dict[str, Any]:  # noqa: A002
    """The case with its report as submitted; 404 when the agency has no case of that id."""
    with request.app.state.engine.connect() as conn:
        found = get_case(conn, caller.identity.agency, id)
    caller.counts.update(case=id)
    if found is None:
        raise HTTPException(404, "no such case")
    caller.counts.update(items=len(found["report"]["items"]))
    return found


@router.delete("/v1/cases/{id}")
def remove(id: RowId, request: Request, caller: Caller = requires(*CASE_ROLES)) -> dict[str, Any]:  # noqa: A002
    """Delete the agency's case (audited with its id and item count); 404 when the agency has none of that id."""
    with request.app.state.engine.begin() as conn:
        removed = delete_case(conn, caller.identity.agency, id, caller.identity.user)
    caller.counts.update(case=id)
    if removed is None:
        raise HTTPException(404, "no such case")
    caller.counts.update(items=removed)
    return {"id": id, "deleted": True, "items": removed}
