"""Who is calling, whether their role may use a route, and the audit record of what they did.

One dependency does all three, so that no route can forget one: `requires(*roles)` authenticates the Bearer key
(no key, a malformed, unknown or revoked one: 401), checks the role (403), hands the route a `Caller` to note how
many items it answered and matched, and after the route appends one audit row (who, agency, endpoint, counts; never
the hashes asked about, so the log is not a copy of a platform's traffic). The row is written before the answer
leaves: an answer the audit log does not hold is never given.

Each request reads the user's row afresh (one indexed query), so a revoked key stops working at once, in every
process sharing the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hashwarden.store import audit
from hashwarden.store.identities import ROLES, Identity, authenticate

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

    def __call__(self, request: Request,
                 credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> Iterator[Caller]:
        engine = request.app.state.engine
        identity = None
        if credentials is not None:
            with engine.connect() as conn:
                identity = authenticate(conn, credentials.credentials)
        if identity is None:
            raise HTTPException(401, "a valid API key is required (Authorization: Bearer <key>)",
                                headers={"WWW-Authenticate": "Bearer"})
        if identity.role not in self.roles:
            raise HTTPException(403, f"role {identity.role!r} may not use this endpoint")
        route = request.scope.get("route")
        caller = Caller(identity, f"{request.method} {getattr(route, 'path', request.url.path)}")
        outcome = "error"
        try:
            yield caller
            outcome = "ok"
        finally:
            with engine.begin() as conn:
                audit.append(conn, "service.request", {
                    "agency": identity.agency, "role": identity.role, "endpoint": caller.endpoint,
                    "outcome": outcome, **caller.counts}, actor=identity.user)


def requires(*roles: str) -> Any:
    """The dependency of a data route: the caller must hold one of `roles` (use as `Depends(requires(...))`)."""
    return Depends(RoleCheck(roles), scope="function")
