"""Request limits: body size and body-read time (`BodyLimit`), and the per-key rate (`TokenBucket`).

A body above `max_bytes` is refused with 413, before it is read when its Content-Length says so, else as soon as
the bytes received pass the limit (a chunked body cannot get round it). The body-read deadline is a minimum
transfer rate: the time spent waiting for the client's bytes may reach `timeout` plus one second per `min_rate`
bytes received; past it the request is refused with 408 and the connection closed. So a small body must arrive
within `timeout`, a large one over a slow but steady link is not cut off at a fixed total (a 4 GiB case), and a
client sending a byte a second holds a connection for a bounded time (uvicorn has no such bound; its keep-alive
timeout covers idle connections only). Time the route spends on what it has read (a streamed case writing its
items) is not the client's and is not counted.
Starlette's own body limit answers in plain text; every error of this API is `{"error": message}`.
A JSON body (or one without a content type, which FastAPI parses as JSON) nesting deeper than `max_depth` is
refused with 422 as the byte passing it arrives (formats' `DepthGuard`, the importers' one count of nesting): Python's
json would recurse into 100k `[` and spend its stack; no request of this API is more than a few levels deep.

The rate limits are checked by `auth.Gatekeeper` before the body is read: per key once the key is known, and per
client address for failed authentications (each costs the server a PBKDF2 and a query; a client that has spent
its failure budget is refused before either runs).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hashwarden.formats._jsonstream import DepthGuard, TooDeep


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body (`path_limits[path]` for the paths it names: the
    media upload's and the case submission's own, larger caps, which open no other route to them), waited for at
    most `timeout` seconds plus one per `min_rate` bytes received, a JSON one at most `max_depth` deep."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float, max_depth: int,
                 path_limits: Mapping[str, int] | None = None, min_rate: float = math.inf) -> None:
        self.app = app
        self.min_rate = min_rate
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.max_depth = max_depth
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_limits.get(scope["path"], self.max_bytes)
        too_large = f"request body above {max_bytes} bytes"
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            await JSONResponse({"error": too_large}, status_code=413)(scope, receive, send)
            return
        received = 0
        complete = False
        waited = 0.0  # seconds spent waiting for the client's bytes
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        depth = DepthGuard(self.max_depth) if not media_type or media_type.endswith("json") else None

        async def limited() -> Message:
            nonlocal received, complete, waited
            if complete:  # after the body, receive() waits for the disconnect: no deadline on that
                return await receive()
            allowed = self.timeout + received / self.min_rate - waited
            started = time.monotonic()
            try:
                message = await asyncio.wait_for(receive(), max(allowed, 0))
            except TimeoutError:  # raised inside the route: the app's handler answers in JSON
                raise HTTPException(408, f"request body not received in time: {received:,} bytes after "
                                    f"{waited + time.monotonic() - started:.1f} s of waiting ({self._allowance()})",
                                    headers={"Connection": "close"}) from None
            waited += time.monotonic() - started
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                received += len(chunk)
                complete = not message.get("more_body", False)
                if received > max_bytes:
                    raise HTTPException(413, too_large)
                if depth is not None:
                    try:
                        depth.feed(chunk, received - len(chunk))
                    except TooDeep as exc:
                        raise HTTPException(422, f"the JSON nests more than {exc.limit} levels deep (at byte "
                                                 f"{exc.offset}); refused before parsing it") from None
            return message

        await self.app(scope, limited, send)

    def _allowance(self) -> str:
        """The deadline as the 408 states it: the time it allowed depends on what was received, not a fixed total."""
        if math.isinf(self.min_rate):
            return f"allowed: {self.timeout:g} s"
        return f"allowed: {self.timeout:g} s plus 1 s per {self.min_rate:,.0f} bytes received"


class TokenBucket:
    """Per-key token buckets: each key may make `burst` requests at once, refilled at `rate` a second.

    One process's buckets (a worker's memory); `clock` is injectable so tests drive time without sleeping.
    Buckets of keys idle long enough to be full again are dropped, so memory grows with the active keys only.
    """

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)

    def take(self, key: str) -> int | None:
        """Spend one token of `key`'s bucket: None when there was one, else the whole seconds until there is."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return self._wait(tokens)
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > 10_000:
            self._forget_full(now)
        return None

    def wait(self, key: str) -> int | None:
        """What `take` would answer, without spending: lets a caller refuse before doing the work a token pays
        for (the gatekeeper's failed-authentication limit)."""
        tokens = self._tokens(key, self.clock())
        return None if tokens >= 1 else self._wait(tokens)

    def _tokens(self, key: str, now: float) -> float:
        tokens, then = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - then) * self.rate)

    def _wait(self, tokens: float) -> int:
        return max(1, math.ceil((1 - tokens) / self.rate))

    def _forget_full(self, now: float) -> None:
        for key, (tokens, then) in list(self._buckets.items()):
            if tokens + (now - then) * self.rate >= self.burst:
                del self._buckets[key]
