"""The lean path of `POST /v1/lookup`: a plainly well-formed lookup (up to LEAN_LOOKUP_ITEMS items) answered without
FastAPI's routing, dependency solving and pydantic validation, which cost several times the lookup's own work on a
one-item request (bench/service.py: the single lookup at 0.31 of the bare framework's requests/s).

`FastLookup` is an ASGI middleware inside the gatekeeper and the body limits (service/app.py), so everything outside
the route is as before: no key, a revoked one, the rate limit or the role refuse the request before its body is
read, and the body's size, time and depth limits apply to the bytes read here. It answers a request only when it is
certain the route would give the same answer: a JSON body (`Content-Type: application/json`, at most MAX_BODY_BYTES)
of the form `{"items": [...]}` with 1 to LEAN_LOOKUP_ITEMS items (matched on the event loop up to
INLINE_LOOKUP_ITEMS, as the route does on SQLite, else in a worker thread, so a batch does not hold up the loop),
each item an object of md5, sha1, sha256, pdq (hex strings of their lengths) and `quality` (an integer 0-100, with a
pdq). The answer is the route's own (`lookup.answer_lines`: the same checks, the same matcher, the same encoding)
and the audit row the route's (`auth.record_request`: committed before the answer leaves; a failed commit fails the
request with 500, as in the route).

Anything else goes to the route, with the body bytes already read handed on unchanged: a malformed or unusual body
(any validation failure, vpdq frames, pdq_dihedral, null fields, other content types, larger batches or bodies), a
hash the matcher's checks refuse, an empty store (503), PostgreSQL (the route matches in a worker thread there), a
body the limits cut short. So the route's error messages, statuses and /openapi.json stay the contract, and the lean
path is only a faster way to the answers it is sure of.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from starlette.concurrency import run_in_threadpool

from hashwarden.config import INLINE_LOOKUP_ITEMS, LEAN_LOOKUP_ITEMS
from hashwarden.service.auth import admitted_identity, record_request
from hashwarden.service.index_refresh import serving_matcher
from hashwarden.service.lookup import answer_lines

PATH = "/v1/lookup"
ENDPOINT = f"POST {PATH}"  # the audit row's endpoint, as the route's RoleCheck names it
# The longest body this path parses: LEAN_LOOKUP_ITEMS items of every hash and a quality, with room for spacing.
# A longer one (a batch of more items) goes to the route unparsed: parsed here too, it was parsed twice.
MAX_BODY_BYTES = LEAN_LOOKUP_ITEMS * 512
_HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}  # hex digits (the route's schema.Md5 etc.)
_ITEM_KEYS = frozenset((*_HASH_LENGTHS, "quality"))
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class FastLookup:
    """ASGI middleware: `POST /v1/lookup` answered here when the body is one the route would surely answer 200."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        identity = admitted_identity(scope)
        if identity is None or not state.local_reads or state.empty_store or not _json_body_within_limit(scope):
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        try:
            body = await _read_body(receive, received)
        except Exception as exc:  # noqa: BLE001 - a limit's refusal (HTTPException): the route raises it again
            await self.app(scope, _replaying(received, receive, exc), send)
            return
        lines = _hash_lines(body) if body is not None and len(body) <= MAX_BODY_BYTES else None
        answer = None
        if lines is not None:
            try:  # the matcher as the route takes it (`serving_matcher`: 503 for a store emptied meanwhile)
                matcher = serving_matcher(state)
                answer = (answer_lines(lines, matcher) if len(lines) <= INLINE_LOOKUP_ITEMS
                          else await run_in_threadpool(answer_lines, lines, matcher))
            except Exception:  # noqa: BLE001 - a hash the checks refuse (422), a 503, a failure: the route answers
                answer = None
        if answer is None:
            await self.app(scope, _replaying(received, receive), send)
            return
        response, matched = answer
        await record_request(state, identity, ENDPOINT, "ok", {"items": len(lines), "matches": matched})
        await response(scope, receive, send)


def _json_body_within_limit(scope: Scope) -> bool:
    """Whether the request says its body is JSON, in the one spelling clients send (others: the route decides), and
    does not say it is longer than MAX_BODY_BYTES (a chunked one is measured once read)."""
    headers = Headers(scope=scope)
    declared = headers.get("content-length", "0")
    return (headers.get("content-type", "").strip().lower() == "application/json"
            and (not declared.isdigit() or int(declared) <= MAX_BODY_BYTES))


async def _read_body(receive: Receive, received: list[Message]) -> bytes | None:
    """The whole body, every message read kept in `received`; None if the client left before its end."""
    chunks = []
    while True:
        message = await receive()
        received.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(received: list[Message], receive: Receive, failure: Exception | None = None) -> Receive:
    """`receive` for the route: the messages already read, then what reading them further raised (`failure`), or
    the client's next messages."""
    pending = list(reversed(received))

    async def replay() -> Message:
        if pending:
            return pending.pop()
        if failure is not None:
            raise failure
        return await receive()

    return replay


def _hash_lines(body: bytes) -> list[dict[str, Any]] | None:
    """The body's items as lines of `hashwarden hash` output (what `answer_lines` takes), exactly as the route
    makes them of its validated model (`lookup._as_hash_line`); None for any body this path is not sure of."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if type(document) is not dict or len(document) != 1:
        return None
    items = document.get("items")
    if type(items) is not list or not 0 < len(items) <= LEAN_LOOKUP_ITEMS:
        return None
    lines = []
    for item in items:
        if type(item) is not dict or not _ITEM_KEYS.issuperset(item):
            return None
        line: dict[str, Any] = {}
        for name, length in _HASH_LENGTHS.items():
            if name in item:
                value = item[name]
                if type(value) is not str or len(value) != length or not _HEX_DIGITS.issuperset(value):
                    return None
                line[name] = value
        if not line:
            return None
        if "quality" in item:
            quality = item["quality"]
            if type(quality) is not int or not 0 <= quality <= 100 or "pdq" not in line:
                return None
            line["pdq_quality"] = quality
        lines.append(line)
    return lines
