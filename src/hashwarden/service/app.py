"""The application factory: one FastAPI app over one store, answering from the store's current index generation.

The Matcher maps the generation current at start (`index_generation` in /v1/health names the one served); while
the app runs, a background thread switches it to each new generation (service/index_refresh.py), so an import is
answered within `index_refresh_seconds` plus the build time, without a restart.

Every error is a JSON body `{"error": message}`. /openapi.json and the /docs page are served without a key; the
page's Swagger UI comes from an installed package (service/docs.py), not a CDN, so it works offline. FastAPI's
OpenTelemetry hooks are off, so no exporter configured in the environment can ship requests (and the hashes in
them) elsewhere.
"""

from __future__ import annotations

import gc
import json
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException

from hashwarden import __version__
from hashwarden.config import (ENV_REPO, ENV_SERVICE_LIMITS, MAX_JSON_DEPTH, MAX_REQUEST_BYTES,
                               ScanSettings, ServiceLimits, database_url)
from hashwarden.errors import FormatError
from hashwarden.leads.across import CaseCodesCache
from hashwarden.scan.match_hashes import matcher_for
from hashwarden.service import cases, health, lookup, media, sets
from hashwarden.service import series as series_routes
from hashwarden.service import stats
from hashwarden.service import votes
from hashwarden.service.audit_group import AuditGroup
from hashwarden.service.auth import Gatekeeper
from hashwarden.service.docs import add_docs
from hashwarden.service.fast_lookup import FastLookup
from hashwarden.service.index_refresh import IndexRefresher
from hashwarden.service.limits import BodyLimit, TokenBucket
from hashwarden.service.retention import purge, purging
from hashwarden.store import open_store
from hashwarden.store.db import driver_reads, local_reads
from hashwarden.store.identities import VerifiedKeys

MAX_PROBLEMS = 20  # problems of an invalid body named in its 422; the count of the rest follows

_NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                 "auto_configure": False}


def create_app(engine: Engine, settings: ScanSettings = ScanSettings(),
               limits: ServiceLimits = ServiceLimits(), repo_dir: str | None = None) -> FastAPI:
    """The service over `engine`, matching with `settings` as `hashwarden match` would, within `limits`; with
    `repo_dir`, that published TUF repository (`hashwarden publish`) as static files under /repo/.

    /repo/ needs no key: its metadata is signed and subscribers verify every file (distribution/), and it is what
    any plain web server would serve. Whether the lists themselves may be read by anyone (they are licensed) is
    the hosting's business: put /repo/ behind the web server's or the balancer's access control, or host the
    directory elsewhere.

    The gatekeeper (key, rate, role) is the outermost layer, so a caller it refuses never has its body read; the
    body limits come next, then the lean path of small lookups (service/fast_lookup.py), then the routes.

    Raises:
        ScanError: the store holds no alert entry and `settings.allow_empty` is false.
    """
    purge(engine)  # cases past their agency's retention, then every purge interval (service/retention.py)
    app = FastAPI(title="hashwarden", version=__version__, docs_url=None, redoc_url=None, telemetry=_NO_TELEMETRY,
                  lifespan=_lifespan(limits.purge_interval_seconds))
    app.add_middleware(FastLookup)  # inside the gatekeeper and the body limits: what they refuse never gets here
    app.add_middleware(BodyLimit, max_bytes=MAX_REQUEST_BYTES, timeout=limits.body_timeout_seconds,
                       max_depth=MAX_JSON_DEPTH, min_rate=limits.min_body_bytes_per_second,
                       path_limits={**media.body_limit(limits.max_media_bytes), cases.PATH: limits.max_case_bytes})
    app.state.rate_limit = TokenBucket(limits.rate_per_second, limits.burst)  # on state: tests drive its clock
    app.state.failed_auth = TokenBucket(limits.failed_auth_per_second, limits.failed_auth_burst)
    app.add_middleware(Gatekeeper, rate_limit=app.state.rate_limit, failed_auth=app.state.failed_auth)
    app.state.engine = engine
    app.state.local_reads = local_reads(engine)  # short reads on the event loop (service/auth.py, lookup.py)
    app.state.driver_reads = driver_reads(engine)  # a key's user row on the event loop (service/auth.py)
    app.state.audit = AuditGroup(engine)  # every request's audit row (service/auth.py RoleCheck)
    app.state.verified_keys = VerifiedKeys()  # keys this process has verified (service/auth.py Gatekeeper)
    app.state.matcher = matcher_for(engine, settings)
    app.state.index_refresher = IndexRefresher(app.state, engine, settings, limits.index_refresh_seconds)
    app.state.limits = limits
    app.state.media_uploads = media.upload_slots()
    app.state.case_codes = CaseCodesCache()  # the stored cases' unknown PDQ codes, for leads (service/cases.py)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(FormatError, _invalid_hash)
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(health.router)
    app.include_router(lookup.router)
    app.include_router(sets.router)
    app.include_router(cases.router)
    app.include_router(media.router)
    app.include_router(stats.router)
    app.include_router(votes.router)
    app.include_router(series_routes.router)
    add_docs(app)
    if repo_dir is not None:
        from starlette.staticfiles import StaticFiles

        app.mount("/repo", StaticFiles(directory=repo_dir), name="repo")  # read-only, no listings, no symlinks out
    return app


def _lifespan(purge_interval: float) -> Any:
    """What runs beside the app while it serves: the index refresher's thread and the retention purge task."""
    purge_loop = purging(purge_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _refreshing_index(app), purge_loop(app):
            yield

    return lifespan


@asynccontextmanager
async def _refreshing_index(app: FastAPI) -> AsyncIterator[None]:
    """While the app serves, its index refresher runs in a thread of its own (off the request path)."""
    stop = threading.Event()
    thread = threading.Thread(target=app.state.index_refresher.run, args=(stop,), name="index-refresh", daemon=True)
    app.state.index_refresh_thread = thread
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def app_from_environment() -> FastAPI:
    """The app `hashwarden serve` runs in each uvicorn worker: the store named by $HASHWARDEN_DB, which must
    exist (a mistyped name must not serve an empty store), within the limits `serve` put in
    $HASHWARDEN_SERVICE_LIMITS (JSON of `ServiceLimits`' fields; the defaults without it), serving the repository
    directory in $HASHWARDEN_REPO under /repo/ when set (`serve --repo`).

    Everything the process holds once the app is built (modules, the app, the matcher) is moved out of the cyclic
    garbage collector's sight (`gc.freeze`): it lives as long as the worker, and each full collection walked all of
    it, a pause of milliseconds every few hundred requests (in process, a 1,000-item lookup's mean CPU 8.5-10.3 ms
    with those pauses, 6.25 without). Only here, in the worker: an app made and dropped (tests) must stay collectable.
    """
    limits = ServiceLimits(**json.loads(os.environ.get(ENV_SERVICE_LIMITS, "{}")))
    app = create_app(open_store(database_url(), create=False), limits=limits,
                     repo_dir=os.environ.get(ENV_REPO) or None)
    gc.freeze()
    return app


async def _http_error(_request: Request, exc: Any) -> JSONResponse:
    return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


async def _invalid_request(_request: Request, exc: Any) -> JSONResponse:
    """A body that does not fit the schema: each problem as `where: what` (never echoing the values sent)."""
    errors = exc.errors()
    problems = [f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in errors[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:  # a body of a million bad keys must not get a 50 MB answer
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return JSONResponse({"error": "; ".join(problems)}, status_code=422)


async def _invalid_hash(_request: Request, exc: Any) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=422)


async def _internal_error(_request: Request, _exc: Exception) -> JSONResponse:
    """A bug: the traceback goes to the server's log, the caller learns only that it failed."""
    return JSONResponse({"error": "internal error"}, status_code=500)
