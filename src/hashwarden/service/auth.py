"""Who is calling, whether their role may use a route, how often, and the audit record of what they did.

One dependency declares it, so that no route can forget it: `requires(*roles)`. Its checks run in `Gatekeeper`, an
ASGI middleware, because FastAPI reads and parses a route's JSON body before it solves the route's dependencies:
checked there, a caller without a key could make the server parse 16 MiB. The gatekeeper finds the route's
`RoleCheck` in the route table (remembered per method and path: `RoleChecks`), authenticates the Bearer key (no key,
a malformed, unknown or revoked one: 401), spends a token of the key's rate limit (none left: 429 with Retry-After),
checks the role (403), all before a byte of the body is read. A 401 spends a token of the client address's
failed-authentication bucket; an address with none left gets 429 before its key is even looked at, so guessing keys
or flooding bad ones cannot make the server run PBKDF2 and a query without limit (behind a proxy every client shares
its address: set the limit for that). The dependency then hands the route a `Caller` to note how many items it
answered and matched, and after the route appends one audit row (who, agency, endpoint, counts; never the hashes
asked about, so the log is not a copy of a platform's traffic). The row is committed before the answer leaves: an
answer the audit log does not hold is never given. Concurrent requests' rows share one transaction and one
worker-thread hand-off (`AuditGroup`, service/audit_group.py): one transaction per request made the audit a global
lock. The lean path of small lookups (service/fast_lookup.py) writes the same row (`record_request`).

The analysts' pages (service/web/, under `UI_PREFIX`) are checked the same way, with the key also taken from the
`KEY_COOKIE` cookie the login form sets, on those paths only: a browser sends a cookie on its own, so a cookie must
never authenticate an API call (CSRF). A page refused is answered as a page (`service.web.html.refusal`): no key,
or a bad one, a redirect to the login form; a wrong role a 403 page.

Each request reads the user's row afresh (one indexed query), so a revoked key stops working at once, in every
process sharing the store; only the PBKDF2 of a key the process has verified before is skipped (`VerifiedKeys`).
On SQLite (`driver_reads`) a key verified before is checked on the event loop (`authenticate_verified`: the row
read straight on the driver, no PBKDF2); any other key, and every key on PostgreSQL, in a worker thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from hashwarden.service.limits import TokenBucket
from hashwarden.service.web.html import KEY_COOKIE, UI_PREFIX, refusal
from hashwarden.store.identities import ROLES, Identity, VerifiedKeys, authenticate, authenticate_verified

_bearer = HTTPBearer(auto_error=False, description="An API key from `hashwarden user create`.")

# Who may look hashes up: every role that works with data. `admin` manages users and agencies and verifies the
# audit log; it reads no data, so an administrator's key is worth nothing to someone who wants the lists.
LOOKUP_ROLES = ("matcher", "examiner", "analyst")


@dataclass
class Caller:
    """The authenticated caller of one request, and what the route reports for the audit row."""

    identity: Identity
    endpoint: str
    counts: dict[str, Any] = field(default_factory=dict)


class RoleCheck:
    """The dependency `requires` returns; `roles` is public so that tests can read each route's rule from the
    route table (a new route cannot escape the 401/403 matrix)."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise ValueError(f"roles must be some of {ROLES}, not {roles!r}")
        self.roles = roles

    async def __call__(self, request: Request, _scheme: Any = Depends(_bearer)) -> AsyncIterator[Caller]:
        """The caller `Gatekeeper` admitted (`_scheme` only declares the Bearer scheme in /openapi.json).

        Async, so that no thread is entered but the audit group's (a sync generator dependency costs two thread
        hand-offs per request, enter and exit, each a wait for the GIL under load: bench/service.py)."""
        identity = admitted_identity(request.scope)
        if identity is None:
            raise RuntimeError("a data route was reached without the Gatekeeper middleware")
        route = request.scope.get("route")
        caller = Caller(identity, f"{request.method} {getattr(route, 'path', request.url.path)}")
        outcome = "error"
        try:
            yield caller
            outcome = "ok"
        finally:
            await record_request(request.app.state, identity, caller.endpoint, outcome, caller.counts)


async def record_request(state: Any, identity: Identity, endpoint: str, outcome: str, counts: dict[str, Any]) -> None:
    """Append a request's audit row (`state.audit`, the app's `AuditGroup`), returning once it is committed: who,
    agency, role, endpoint, outcome and what the route counted (`RoleCheck`'s and the lean lookup's one row).

    Raises:
        Exception: the row's commit failed (the request must then fail: the app answers 500).
    """
    await state.audit.append("service.request", {
        "agency": identity.agency, "role": identity.role, "endpoint": endpoint, "outcome": outcome, **counts},
        actor=identity.user)


def admitted_identity(scope: Scope) -> Identity | None:
    """The identity `Gatekeeper` admitted to this request's route (None: it did not run or let it through)."""
    identity = scope.get("state", {}).get(_ADMITTED)
    return identity if isinstance(identity, Identity) else None


_ADMITTED = "hashwarden.identity"  # where Gatekeeper leaves the identity for RoleCheck (the scope's state)


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused before its route: the status, the message and headers (`Retry-After` ...)."""

    status: int
    message: str
    headers: dict[str, str] | None = None

    def answer(self, scope: Scope) -> Response:
        """The API's JSON error, or on the pages' paths the page (service/web/html.py)."""
        if scope["path"].startswith(UI_PREFIX):
            return refusal(self.status, self.message, self.headers, had_key=bool(_cookie_key(scope)))
        return JSONResponse({"error": self.message}, status_code=self.status, headers=self.headers)


_UNAUTHENTICATED = Refusal(401, "a valid API key is required (Authorization: Bearer <key>)",
                           {"WWW-Authenticate": "Bearer"})


class Gatekeeper:
    """ASGI middleware: the checks of `requires`, made before the route reads the request body."""

    def __init__(self, app: ASGIApp, rate_limit: TokenBucket, failed_auth: TokenBucket) -> None:
        self.app = app
        self.rate_limit = rate_limit
        self.failed_auth = failed_auth
        self.role_checks = RoleChecks()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        check = self.role_checks.of(scope) if scope["type"] == "http" else None
        if check is not None:
            refused = await self._admit(scope, check)
            if refused is not None:
                await refused.answer(scope)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _admit(self, scope: Scope, check: RoleCheck) -> Refusal | None:
        """None when the caller may go on (its identity left in the scope), else why it is refused."""
        key = request_key(scope)
        if not key and scope["path"].startswith(UI_PREFIX):
            return _UNAUTHENTICATED  # a browser before its login: nothing was tried, no failed-auth token spent
        identity = await authenticate_key(scope, key, self.failed_auth)
        if isinstance(identity, Refusal):
            return identity
        wait = self.rate_limit.take(identity.user)
        if wait is not None:
            return _too_many(self.rate_limit, "requests", wait)
        if identity.role not in check.roles:
            return Refusal(403, f"role {identity.role!r} may not use this endpoint")
        scope.setdefault("state", {})[_ADMITTED] = identity
        return None


def request_key(scope: Scope) -> str:
    """The key a request carries: its Bearer key, else on the pages' paths (only) the login cookie's; "" if none."""
    scheme, _, key = Headers(scope=scope).get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    return _cookie_key(scope) if scope["path"].startswith(UI_PREFIX) else ""


def _cookie_key(scope: Scope) -> str:
    return cookie_parser(Headers(scope=scope).get("cookie", "")).get(KEY_COOKIE, "").strip()


async def authenticate_key(scope: Scope, key: str, failed_auth: TokenBucket) -> Identity | Refusal:
    """The identity of `key` (a valid, unrevoked key), or the refusal: 429 when the client's address has no
    failed-authentication token left (the key is not even looked at), else 401, spending one of its tokens.
    The gatekeeper's check and the login form's (service/web/session.py), so that both are limited alike."""
    address = (scope.get("client") or ("unknown",))[0]
    wait = failed_auth.wait(address)
    if wait is not None:
        return _too_many(failed_auth, "failed authentications from this address", wait)
    identity = None
    if key:
        state = scope["app"].state
        if state.driver_reads is not None:  # a key verified before, on the loop: no thread hand-off
            identity = authenticate_verified(state.driver_reads, key, state.verified_keys)
        if identity is None:
            identity = await run_in_threadpool(_authenticate, state.engine, key, state.verified_keys)
    if identity is None:
        failed_auth.take(address)
        return _UNAUTHENTICATED
    return identity


def _too_many(bucket: TokenBucket, what: str, wait: int) -> Refusal:
    return Refusal(429, f"rate limit of {bucket.rate:g} {what}/s (burst {bucket.burst}) reached; retry in {wait} s",
                  {"Retry-After": str(wait)})


def _authenticate(engine: Any, key: str, verified: VerifiedKeys) -> Identity | None:
    with engine.connect() as conn:
        return authenticate(conn, key, verified)


class RoleChecks:
    """`_role_check` remembered per method and path: the walk of the route table cost more than a route's own
    work on every request of a small lookup (bench/service.py).

    Which route a request reaches depends on its method and path (with the root path) and on the route table
    alone (the app has no Host routes), so a remembered answer is the walk's answer while the table is the one it
    was walked over: a table of another identity or length (a route added after requests were served) starts
    afresh. At most `size` paths are kept (paths with parameters are many): past that, the memory starts again."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._table: tuple[int, int] | None = None  # (id, length) of the route list the checks were found in
        self._checks: dict[tuple[str, str, str], RoleCheck | None] = {}

    def of(self, scope: Scope) -> RoleCheck | None:
        """The `RoleCheck` of the route `scope` asks for (None: a route without a key, or no route)."""
        routes = scope["app"].routes
        key = (scope["method"], scope.get("root_path", ""), scope["path"])
        if self._table == (id(routes), len(routes)):
            try:
                return self._checks[key]
            except KeyError:
                pass
        else:
            self._table, self._checks = (id(routes), len(routes)), {}
        check = _role_check(scope)
        if len(self._checks) >= self._size:
            self._checks = {}
        self._checks[key] = check
        return check


def _role_check(scope: Scope) -> RoleCheck | None:
    """The `RoleCheck` among the dependencies of the route `scope` asks for (None: a route without a key).

    Matched as the router will match it, over the same walk of the route table the matrix test makes
    (`iter_route_contexts`: FastAPI keeps an included router as one entry of `app.routes`)."""
    for context in iter_route_contexts(scope["app"].routes):
        match, _ = context.matches(scope)
        if match == Match.FULL:
            dependant = getattr(context, "dependant", None)
            return _find_check(dependant) if dependant is not None else None
    return None


def _find_check(dependant: Dependant) -> RoleCheck | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, RoleCheck):
            return sub.call
        found = _find_check(sub)
        if found is not None:
            return found
    return None


def requires(*roles: str) -> Any:
    """The dependency of a data route: the caller must hold one of `roles` (use as `Depends(requires(...))`)."""
    return Depends(RoleCheck(roles), scope="function")
