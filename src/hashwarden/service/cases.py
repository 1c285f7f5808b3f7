"""`POST /v1/cases`, `GET /v1/cases`, `GET /v1/cases/{id}`, `DELETE /v1/cases/{id}`: an agency's scan results;
`GET /v1/cases/items?md5=|sha1=|sha256=|pdq=`: the agency's case items with a hash (what links its cases);
`GET /v1/cases/{id}/leads`: the case's lead list, with the leads the store gives now (series, other cases).

An examiner (or analyst) submits a scan's report.json; it is kept under the caller's agency (store/cases.py) and
only that agency lists, reads or deletes it. Another agency's case answers 404 exactly as a missing one does, so
its existence is not revealed.

What is accepted is a report: hashes and metadata. The top level must have report.json's keys and no others; an
item's hashes must be hex of their length; and nowhere in the document may a key name image content (`data`,
`thumbnail`, `image`, ...) or a string be longer than MAX_CASE_STRING (longer than any path; a base64 image is not),
so no imagery can ride in under any name. The body limit (limits.BodyLimit, the route's own `max_case_bytes`)
bounds the whole.

A report of millions of items is read as it streams in (case_stream.py splits it into its header and its items):
the items are checked by the same model as before, CASE_BATCH_ITEMS at a time, and written in batches inside one
transaction committed only at the end, so a refused or interrupted submission leaves nothing and a 201 means all of
it is stored; memory does not grow with the item count. (On SQLite the items are staged in a TEMP table until the
report is complete, store/cases.py `CaseWriter`: a slow client must not hold the store's write lock.)
`GET /v1/cases/{id}` streams the report back the same way, a batch of items at a time.

Nothing of a case reaches the audit log but its id and counts (the store's `case.submit`/`case.delete` rows and the
request's row): paths can carry names.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

import anyio.from_thread
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from hashwarden.config import CASE_BATCH_ITEMS, MAX_CASE_HEADER_BYTES, MAX_CASE_ITEM_BYTES
from hashwarden.report.json_report import STATUSES
from hashwarden.service.case_stream import ITEMS, ReportSplitter
from hashwarden.service.schema import ERROR_RESPONSES, Closed, Md5, Pdq, RowCursor, RowId, Sha1, Sha256
from hashwarden.service.auth import Caller, requires
from hashwarden.service.pages import DEFAULT_PAGE, Limit, page_body
from hashwarden.leads.across import case_leads
from hashwarden.store.cases import (
    CaseWriter, case_head, case_items, delete_case, find_items, list_cases,
)
from hashwarden.store.identities import Identity

router = APIRouter(responses=ERROR_RESPONSES)
PATH = "/v1/cases"  # POST: its own body cap (app.py)

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

    @model_validator(mode="before")
    @classmethod
    def _no_imagery(cls, item: Any) -> Any:
        """The document-wide rules (no imagery key, no overlong string) on this item at any depth."""
        if isinstance(item, dict):
            _no_imagery_keys(item)
            _no_imagery_below(item.values())
        return item


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
        """Walk the document but its items (each item's own validator walks it) for imagery keys and overlong
        strings. The summary is counts only (its keys are media kinds and categories, `image` among them; its
        type says so), so it is left to its type."""
        if not isinstance(document, dict):
            return document
        _no_imagery_keys(document)
        _no_imagery_below(value for key, value in document.items() if key not in ("summary", ITEMS))
        return document


def _no_imagery_below(values: Any) -> None:
    """No imagery key and no string above MAX_CASE_STRING at any depth under `values` (iteratively: a deep
    document cannot exhaust the stack). The message names the rule, never the value."""
    pending = list(values)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            _no_imagery_keys(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, str) and len(node) > MAX_CASE_STRING:
            raise ValueError(f"a string longer than {MAX_CASE_STRING} characters (no path is that long)")


def _no_imagery_keys(node: dict[Any, Any]) -> None:
    refused = IMAGERY_KEYS.intersection(str(key).lower() for key in node)
    if refused:
        raise ValueError(f"a case holds hashes and metadata only, not {', '.join(sorted(refused))}")


_ITEM_LIST = TypeAdapter(list[CaseItem])


def _report_body() -> dict[str, Any]:
    """The route's request body for /openapi.json: the CaseReport schema (the route reads the body itself, so
    FastAPI does not declare it). Its nested models are `$defs` of the schema, referred to where they sit."""
    here = "#/paths/~1v1~1cases/post/requestBody/content/application~1json/schema/$defs/{model}"
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": CaseReport.model_json_schema(ref_template=here)}}}}


@router.post("/v1/cases", status_code=201, openapi_extra=_report_body())
async def submit(request: Request, caller: Caller = requires(*CASE_ROLES)) -> dict[str, int]:
    """Store the report under the caller's agency; 201 `{"id": …}` once all of it is committed. The body is
    read as it streams in, its items checked and written in batches (in a worker thread, off the event loop)."""
    chunks = request.stream()

    async def next_chunk() -> bytes | None:
        try:
            return await chunks.__anext__()
        except StopAsyncIteration:
            return None

    case_id, count = await run_in_threadpool(_store_streamed, request.app.state.engine, caller.identity,
                                             lambda: anyio.from_thread.run(next_chunk))
    caller.counts.update(case=case_id, items=count)
    return {"id": case_id}


def _store_streamed(engine: Engine, identity: Identity, next_chunk: Callable[[], bytes | None]) -> tuple[int, int]:
    """Read the report from `next_chunk` (None at its end), check and write its items a batch at a time and its
    header last, in one transaction; (case id, items).

    Raises:
        RequestValidationError: an item or the header breaks the report's rules (nothing is kept).
        HTTPException: the body is not JSON, its header too large, or the body limits refused it.
    """
    splitter = ReportSplitter(MAX_CASE_HEADER_BYTES, MAX_CASE_ITEM_BYTES)
    pending: list[Any] = []
    with engine.begin() as conn:
        writer = CaseWriter(conn, identity.agency, identity.user)
        while (chunk := next_chunk()) is not None:
            pending += splitter.feed(chunk)
            if len(pending) >= CASE_BATCH_ITEMS:
                writer.add(_checked_items(pending, writer.items))
                pending = []
        pending += splitter.close()
        writer.add(_checked_items(pending, writer.items))
        header = splitter.header
        try:
            CaseReport.model_validate({**header, ITEMS: []} if isinstance(header, dict) and splitter.has_items
                                      else header)
        except ValidationError as exc:
            raise _refusal(exc, ("body",)) from None
        case_id = writer.finish(header)
    return case_id, writer.items


def _checked_items(items: list[Any], first: int) -> list[dict[str, Any]]:
    """`items` (positions `first`, ...) checked by CaseItem, as sent (its extra keys kept).

    Raises:
        RequestValidationError: an item breaks the rules; its problems name its index in the report.
    """
    try:
        return _ITEM_LIST.dump_python(_ITEM_LIST.validate_python(items), exclude_unset=True)
    except ValidationError as exc:
        raise _refusal(exc, ("body", ITEMS), first) from None


def _refusal(exc: ValidationError, where: tuple[str, ...], first: int = 0) -> RequestValidationError:
    """The app's 422 for a streamed body's problems, located as FastAPI locates a parsed body's (`body.items.N`),
    without the values sent."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = list(error["loc"])
        if first and loc and isinstance(loc[0], int):
            loc[0] += first
        problems.append({"loc": (*where, *loc), "msg": error["msg"], "type": error["type"]})
    return RequestValidationError(problems)


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


_CASE_ANSWER = {200: {"description": "The case with its report as submitted.",
                       "content": {"application/json": {"schema": {"type": "object"}}}}}


@router.get("/v1/cases/{id}", response_model=None, responses=_CASE_ANSWER)
def one_case(id: RowId, request: Request, caller: Caller = requires(*CASE_ROLES)) -> StreamingResponse:  # noqa: A002
    """The case with its report as submitted; 404 when the agency has no case of that id. Streamed: its items
    are read and sent CASE_BATCH_ITEMS at a time, so a case of millions of items is not built in memory."""
    engine = request.app.state.engine
    with engine.connect() as conn:
        head = case_head(conn, caller.identity.agency, id)
    caller.counts.update(case=id)
    if head is None:
        raise HTTPException(404, "no such case")
    caller.counts.update(items=head.pop("items"))
    return StreamingResponse(_case_json(engine, head), media_type="application/json")


def _case_json(engine: Engine, head: dict[str, Any]) -> Iterator[bytes]:
    """`head` (the case with its report's header) as JSON, with the report's `items` written in batches as they
    are read. Starlette runs this generator in a worker thread."""
    report = head["report"]
    case = json.dumps({key: value for key, value in head.items() if key != "report"}, ensure_ascii=False)
    header = json.dumps(report, ensure_ascii=False)  # the report last, whatever the order of `head`'s keys
    yield (case[:-1] + ', "report": ' + header[:-1] + (", " if report else "") + '"items": [').encode()
    first = True
    with engine.connect() as conn:
        for batch in case_items(conn, head["id"], CASE_BATCH_ITEMS):
            text = ", ".join(json.dumps(item, ensure_ascii=False) for item in batch)
            yield (text if first else ", " + text).encode()
            first = False
    yield b"]}}"


@router.get("/v1/cases/{id}/leads")
def case_lead_list(id: RowId, request: Request, caller: Caller = requires(*CASE_ROLES),  # noqa: A002
                   limit: Limit = DEFAULT_PAGE, after: RowCursor = None) -> dict[str, Any]:
    """The case's lead list, a page at a time: its unknown items by position after `after`, each with the leads
    its report carried and those the store gives now (`leads.across.case_leads`: media of a series near it, other
    cases with near copies or items of its device, another agency's case named by its id, name and agency only);
    `next` is the `after` of the next page. 404 when the agency has no case of that id."""
    caller.counts.update(case=id)
    with request.app.state.engine.connect() as conn:
        rows = case_leads(conn, id, caller.identity.agency, limit + 1, -1 if after is None else after,
                          codes=request.app.state.case_codes.get(conn))
    if rows is None:
        raise HTTPException(404, "no such case")
    body = {"case": id, **page_body(rows, limit, "items", lambda row: row, lambda row: row["position"])}
    caller.counts.update(items=len(body["items"]))
    return body


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
