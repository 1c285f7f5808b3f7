"""`POST /v1/urls/check`, `GET /v1/urls/prefixes`, `POST /v1/urls/full-hashes`: the URL list for platforms (issue 19).

A check canonicalizes each URL, hashes its at most 30 expressions and looks them up in the list held in memory
(`urllist.checker.UrlChecker`: hashes and opaque entry ids only). The answer says listed or not, with the entry's
opaque id, **never the entry's text**; and a listed URL and an unlisted one cost the same steps and give answers of
the same length: each result is written padded to one width (`_RESULT_WIDTH`), so neither the time nor the
Content-Length tells a client more than the answer itself (tests/service/test_urls_routes.py measures both).

The prefix API is Safe Browsing's update model: `GET /v1/urls/prefixes` gives every listed expression hash's first
4 bytes and the list's version; with `?since=V`, the prefixes added and removed since version V. A client checks
locally and asks `POST /v1/urls/full-hashes` for the full hashes of the prefixes it hit.

Who: every role that looks hashes up (`matcher`, `examiner`, `analyst`); the list itself stays with analysts (CLI).
An empty list is 503: "not listed" from an empty list would look like a clean answer. Each process re-reads the
list when its version moved, at most every `index_refresh_seconds`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from hashwarden.service.auth import Caller, requires
from hashwarden.service.schema import ERROR_RESPONSES, Closed, ErrorBody
from hashwarden.store.urls import current_hashes, hashes_at, list_version
from hashwarden.urllist.checker import UrlChecker
from hashwarden.urllist.prefixes import PREFIX_BYTES, full_hashes, prefix_delta, prefixes

router = APIRouter(responses={**ERROR_RESPONSES, 503: {
    "description": "The URL list is empty: nothing to check against.", "model": ErrorBody}})

URL_ROLES = ("matcher", "examiner", "analyst")
MAX_CHECK_URLS = 1000
MAX_CHECK_URL_CHARS = 8192  # a URL longer than any browser sends; the canonicalizer has its own bound
MAX_PREFIXES_ASKED = 1000
_ID_CHARS = 32  # an entry's public id: 32 hex digits


class UrlCheckRequest(Closed):
    urls: Annotated[list[Annotated[str, Field(max_length=MAX_CHECK_URL_CHARS)]],
                    Field(min_length=1, max_length=MAX_CHECK_URLS)]


class FullHashRequest(Closed):
    prefixes: Annotated[list[Annotated[str, Field(pattern=r"^([0-9a-f]{2}){4,32}$")]],
                        Field(min_length=1, max_length=MAX_PREFIXES_ASKED)]


async def _checker(request: Request) -> UrlChecker:
    checker = await run_in_threadpool(request.app.state.url_list.get, request.app.state.engine)
    if not len(checker):
        raise HTTPException(503, "the URL list is empty: no URL can be checked against it")
    return checker


@router.post("/v1/urls/check", response_class=Response,
             responses={200: {"description": "One result per URL, in order, each padded to one width.",
                              "content": {"application/json": {"schema": {"type": "object"}}}}})
async def check_urls(body: UrlCheckRequest, request: Request,
                     caller: Caller = requires(*URL_ROLES)) -> Response:
    """Whether each URL is listed: `{"version", "results": [{"index", "listed", "entry", "error"?}]}`, `entry`
    the listed entry's opaque id (null when not listed); a URL that does not canonicalize is not listed, with
    the reason in `error`."""
    checker = await _checker(request)
    verdicts = await run_in_threadpool(lambda: [checker.check(url) for url in body.urls])
    results = [_result(index, verdict.listed, verdict.entry, verdict.error) for index, verdict in enumerate(verdicts)]
    caller.counts.update(items=len(body.urls), matches=sum(1 for verdict in verdicts if verdict.listed))
    text = '{"version": %d, "results": [%s]}' % (checker.version, ", ".join(results))
    return Response(text.encode(), media_type="application/json")


@router.get("/v1/urls/prefixes")
def url_prefixes(request: Request, caller: Caller = requires(*URL_ROLES),
                 since: Annotated[int | None, Query(ge=0, le=2**31 - 1)] = None) -> dict[str, Any]:
    """The 4-byte SHA-256 prefixes of every listed expression (hex, sorted) and the list's version; with `since`,
    only `added` and `removed` since that version (a `since` above the version: 422)."""
    with request.app.state.engine.connect() as conn:
        version = list_version(conn)
        now = current_hashes(conn)
        if not now:
            raise HTTPException(503, "the URL list is empty")
        if since is None:
            found = [prefix.hex() for prefix in prefixes(now)]
            caller.counts.update(items=len(found))
            return {"version": version, "prefix_bytes": PREFIX_BYTES, "prefixes": found}
        if since > version:
            raise HTTPException(422, f"since {since} is after the list's version {version}")
        added, removed = prefix_delta(hashes_at(conn, since), now)
    caller.counts.update(items=len(added) + len(removed))
    return {"version": version, "since": since, "prefix_bytes": PREFIX_BYTES,
            "added": [prefix.hex() for prefix in added], "removed": [prefix.hex() for prefix in removed]}


@router.post("/v1/urls/full-hashes")
async def url_full_hashes(body: FullHashRequest, request: Request,
                          caller: Caller = requires(*URL_ROLES)) -> dict[str, Any]:
    """The full SHA-256 hashes of listed expressions that start with any of the prefixes asked (hex, sorted)."""
    checker = await _checker(request)
    found = full_hashes(checker.hashes(), (bytes.fromhex(prefix) for prefix in body.prefixes))
    caller.counts.update(items=len(body.prefixes), matches=len(found))
    return {"version": checker.version, "hashes": [digest.hex() for digest in found]}


def _result(index: int, listed: bool, entry: str | None, error: str | None) -> str:
    """One result as JSON padded to one width: a listed and an unlisted URL's answers are the same length."""
    text = '{"index": %d, "listed": %s, "entry": %s' % (index, "true" if listed else "false",
                                                         json.dumps(entry) if entry else "null")
    if error is not None:
        return text + ', "error": ' + json.dumps(error) + "}"
    return text + " " * (_RESULT_WIDTH + len(str(index)) - len(text)) + "}"


# `{"index": , "listed": false, "entry": "<32 hex>"` without the index: the widest result; narrower ones are padded.
_RESULT_WIDTH = len('{"index": , "listed": false, "entry": ""') + _ID_CHARS
