"""The 401/403 matrix over the app's own route table: every route, every role, no key, a malformed key, a revoked
key. A route is public only when listed here; one added without the auth dependency fails the first test, and
every protected one is tried by the second without being named."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select

from hashwarden.service.auth import RoleCheck, RoleChecks, _role_check, requires
from hashwarden.store.identities import ROLES, revoke_user, rotate_user
from hashwarden.store.schema import audit
from tests.service.conftest import Service

PUBLIC = {("GET", "/v1/health"), ("GET", "/openapi.json"), ("HEAD", "/openapi.json"), ("GET", "/docs"),
          ("GET", "/ui/login"), ("POST", "/ui/login"), ("POST", "/ui/logout"),  # the pages' login form
          ("GET", "/blocked"),  # the block page, for anyone a blocked domain's DNS answer sends there
          # victim self-reporting: the page and the report, for a young person, who has no key (issue 20)
          ("GET", "/selfhash"), ("GET", "/selfhash/"), ("GET", "/selfhash/{name}"),
          ("GET", "/v1/self-reports/challenge"), ("POST", "/v1/self-reports")}
# The analysts' pages: their own matrix (redirect to the login form, 403 page) is tests/service/test_web_pages.py.
PAGES = {"/ui/": ("matcher", "examiner", "analyst", "admin"), "/ui/stats": ("analyst",),
         "/ui/grades/disputed": ("analyst",), "/ui/series": ("analyst",), "/ui/series/{code:path}": ("analyst",),
         "/ui/victims": ("analyst",), "/ui/victims/{code:path}": ("analyst",), "/ui/cases": ("examiner", "analyst"),
         "/ui/cases/1": ("examiner", "analyst")}


def role_check(route: APIRoute) -> RoleCheck | None:
    """The route's RoleCheck, found anywhere among its dependencies."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, RoleCheck):
            return dependant.call
        pending.extend(dependant.dependencies)
    return None


def protected_routes(service: Service) -> list[tuple[str, str, RoleCheck]]:
    """(method, path, its RoleCheck) of every route the app serves, routers included (FastAPI keeps an included
    router as one entry of `app.routes`; `iter_route_contexts` walks into it)."""
    found = []
    for context in iter_route_contexts(service.client.app.routes):
        route = context.original_route
        for method in sorted(getattr(route, "methods", None) or ()):
            check = role_check(route) if isinstance(route, APIRoute) else None
            if check is None:
                assert (method, context.path) in PUBLIC, f"{method} {context.path} has no role check, is not public"
            else:
                found.append((method, context.path.replace("{id}", "1"), check))
    return found


def call(service: Service, method: str, path: str, key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return service.client.request(method, path, headers=headers, json={} if method in ("POST", "PUT") else None)


def test_every_route_is_public_by_name_or_checks_roles(service: Service) -> None:
    rules = {path: check.roles for _, path, check in protected_routes(service)}
    assert rules == {"/v1/lookup": ("matcher", "examiner", "analyst"),  # grows with the API; admin reads no data
                     "/v1/media": ("matcher", "examiner", "analyst"),
                     "/v1/sets": ("analyst",), "/v1/sets/{name}": ("analyst",),
                     "/v1/cases": ("examiner", "analyst"), "/v1/cases/1": ("examiner", "analyst"),
                     "/v1/cases/items": ("examiner", "analyst"), "/v1/stats": ("analyst",),
                     "/v1/cases/1/leads": ("examiner", "analyst"),
                     "/v1/urls/check": ("matcher", "examiner", "analyst"),
                     "/v1/urls/prefixes": ("matcher", "examiner", "analyst"),
                     "/v1/urls/full-hashes": ("matcher", "examiner", "analyst"),
                     "/v1/votes": ("examiner", "analyst"), "/v1/grades": ("analyst",),
                     "/v1/series": ("analyst",), "/v1/series/{code:path}/links": ("analyst",),
                     "/v1/victims": ("analyst",), "/v1/victims/{code:path}/links": ("analyst",),
                     "/v1/self-reports": ("analyst",), "/v1/self-reports/{reference}": ("analyst",),
                     "/v1/self-reports/{reference}/confirm": ("analyst",),
                     "/v1/self-reports/{reference}/reject": ("analyst",), **PAGES}
    served = {path for context in iter_route_contexts(service.client.app.routes) if (path := context.path)}
    assert served == {"/v1/health", "/v1/lookup", "/v1/sets", "/v1/sets/{name}", "/v1/cases", "/v1/cases/{id}",
                      "/v1/media", "/v1/cases/items", "/v1/stats", "/openapi.json", "/docs", "/docs/assets",
                      "/v1/votes", "/v1/grades", "/v1/series", "/v1/series/{code:path}/links", "/v1/victims",
                      "/v1/victims/{code:path}/links", "/v1/cases/{id}/leads", "/v1/urls/check",
                      "/v1/urls/prefixes", "/v1/urls/full-hashes", "/ui/login", "/ui/logout", "/blocked",
                      "/selfhash", "/selfhash/", "/selfhash/{name}", "/v1/self-reports/challenge", "/v1/self-reports",
                      "/v1/self-reports/{reference}", "/v1/self-reports/{reference}/confirm",
                      "/v1/self-reports/{reference}/reject",
                      *(path.replace("/1", "/{id}") for path in PAGES)}  # the walk sees every route the app has


def test_the_matrix(service: Service) -> None:
    service.client.app.state.failed_auth.rate = 1e6  # seven refusals a route: past the burst of failed keys by now
    for method, path, check in protected_routes(service):
        if path.startswith("/ui/"):
            continue  # pages answer as pages (test_web_pages.py)
        for key in (None, "", "hw_000000000000_x", "not-a-key", *service.revoked.values(),
                    service.keys["matcher"][:-1] + "A" if not service.keys["matcher"].endswith("A") else
                    service.keys["matcher"][:-1] + "B"):
            response = call(service, method, path, key)
            assert response.status_code == 401, (method, path, key)
            assert set(response.json()) == {"error"} and response.headers["www-authenticate"] == "Bearer"
        for role in ROLES:
            response = call(service, method, path, service.keys[role])
            if role in check.roles:
                assert response.status_code not in (401, 403), (method, path, role)
            else:
                assert response.status_code == 403, (method, path, role)
                assert set(response.json()) == {"error"}


def test_health_needs_no_key(service: Service) -> None:
    response = service.client.get("/v1/health")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] and body["store"] in ("sqlite", "postgresql") and len(body["index_generation"]) == 64


def test_openapi_is_served(service: Service) -> None:
    assert service.client.get("/openapi.json").json()["paths"].keys() >= {"/v1/lookup", "/v1/health", "/v1/media"}


def test_a_revoked_or_rotated_key_stops_working_at_once(service: Service) -> None:
    body = {"items": [{"md5": "0" * 32}]}
    assert service.post("/v1/lookup", body).status_code == 200
    with service.engine.begin() as conn:
        new_key = rotate_user(conn, "matcher-user")
    assert service.post("/v1/lookup", body).status_code == 401
    service.keys["matcher"] = new_key
    assert service.post("/v1/lookup", body).status_code == 200
    with service.engine.begin() as conn:
        revoke_user(conn, "matcher-user")
    assert service.post("/v1/lookup", body).status_code == 401


def test_refused_requests_are_not_audited_as_data_access(service: Service) -> None:
    call(service, "POST", "/v1/lookup", service.keys["admin"])
    call(service, "POST", "/v1/lookup", None)
    with service.engine.connect() as conn:
        assert conn.execute(select(audit).where(audit.c.action == "service.request")).all() == []


@pytest.mark.parametrize("roles", [(), ("root",)])
def test_a_role_check_names_known_roles(roles: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        RoleCheck(roles)


def test_a_route_added_after_requests_were_checked_is_checked_too(service: Service) -> None:
    """The gatekeeper remembers each path's RoleCheck (auth.RoleChecks); a route table that changed is walked
    afresh, so a path remembered as having no route does not stay open once a keyed route serves it."""
    app = service.client.app
    assert service.client.get("/v1/added-later").status_code == 404  # remembered: no route, no check

    @app.get("/v1/added-later")
    async def added_later(_caller: Any = requires("analyst")) -> dict[str, bool]:
        return {"ok": True}

    assert service.client.get("/v1/added-later").status_code == 401
    key = {"Authorization": f"Bearer {service.keys['matcher']}"}
    assert service.client.get("/v1/added-later", headers=key).status_code == 403
    key = {"Authorization": f"Bearer {service.keys['analyst']}"}
    assert service.client.get("/v1/added-later", headers=key).json() == {"ok": True}


def test_the_remembered_role_checks_are_bounded_and_answer_as_the_walk(service: Service) -> None:
    app = service.client.app
    checks = RoleChecks(size=4)
    for number in range(10):
        scope = {"type": "http", "method": "GET", "path": f"/v1/cases/{number}", "root_path": "", "app": app}
        assert checks.of(scope) is _role_check(scope) is not None
        assert len(checks._checks) <= 4
    scope = {"type": "http", "method": "GET", "path": "/v1/health", "root_path": "", "app": app}
    assert checks.of(scope) is checks.of(scope) is None
