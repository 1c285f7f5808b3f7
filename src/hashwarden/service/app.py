"""The application factory: one FastAPI app over one store, answering from the store's current index generation.

The Matcher maps the generation current at start (`index_generation` in /v1/health names the one served); while
the app runs, a background thread switches it to each new generation (service/index_refresh.py), so an import is
answered within `index_refresh_seconds` plus the build time, without a restart.

Every error of the API is a JSON body `{"error": message}`; under /ui/ (the analysts' pages, service/web/) it is
a page saying the same. /openapi.json and the /docs page are served without a key; the
page's Swagger UI comes from an installed package (service/docs.py), not a CDN, so it works offline. FastAPI's
OpenTelemetry hooks are off, so no exporter configured in the environment can ship requests (and the hashes in
them) elsewhere.
"""

from __future__ import annotations

import gc
import json
import os
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.responses import Response
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException

from hashwarden import __version__
from hashwarden.config import (ENV_BLOCK_PAGE, ENV_REPO, ENV_SELF_REPORT_SECRET, ENV_SERVICE_LIMITS, MAX_JSON_DEPTH,
                               MAX_REQUEST_BYTES, MAX_SELF_REPORT_BYTES, SELF_REPORT_CHALLENGE_BURST,
                               SELF_REPORT_CHALLENGE_PER_SECOND, SELF_REPORT_CHALLENGE_SECONDS, ScanSettings,
                               ServiceLimits, database_url)
from hashwarden.errors import FormatError
from hashwarden.leads.across import CaseCodesCache
from hashwarden.scan.match_hashes import matcher_for
from hashwarden.service import blocked, cases, health, lookup, media, sets
from hashwarden.service import series as series_routes
from hashwarden.service import stats
from hashwarden.service import self_reports, urls, votes
from hashwarden.service.audit_group import AuditGroup
from hashwarden.service.auth import Gatekeeper
from hashwarden.service.blocked import BlockHosts
from hashwarden.service.docs import add_docs
from hashwarden.service.fast_lookup import FastLookup
from hashwarden.service.index_refresh import IndexRefresher
from hashwarden.service.limits import BodyLimit, TokenBucket
from hashwarden.service.proof_of_work import ProofOfWork
from hashwarden.service.retention import purge, purging
from hashwarden.service.web import pages as web_pages
from hashwarden.service.web import session as web_session
from hashwarden.service.web.html import UI_PREFIX, refusal
from hashwarden.store import open_store
from hashwarden.store.db import driver_reads, local_reads
from hashwarden.store.identities import VerifiedKeys
from hashwarden.urllist.block_page import BlockPage
from hashwarden.urllist.checker import UrlListCache

MAX_PROBLEMS = 20  # problems of an invalid body named in its 422; the count of the rest follows

_NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                 "auto_configure": False}


def create_app(engine: Engine, settings: ScanSettings = ScanSettings(),
               limits: ServiceLimits = ServiceLimits(), block_page: BlockPage = BlockPage(),
               repo_dir: str | None = None, self_report_secret: bytes | None = None) -> FastAPI:
    """The service over `engine`, matching with `settings` as `hashwarden match` would, within `limits`; with
    `repo_dir`, that published TUF repository (`hashwarden publish`) as static files under /repo/.

    /repo/ needs no key: its metadata is signed and subscribers verify every file (distribution/), and it is what
    any plain web server would serve. Whether the lists themselves may be read by anyone (they are licensed) is
    the hosting's business: put /repo/ behind the web server's or the balancer's access control, or host the
    directory elsewhere.

    The self-report page and endpoint (service/self_reports.py) sign their proof-of-work challenges with
    `self_report_secret`: the processes of one service must share it (`serve` draws one for its workers); a random
    one when not given.

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
                       path_limits={**media.body_limit(limits.max_media_bytes), cases.PATH: limits.max_case_bytes,
                                    self_reports.PATH: MAX_SELF_REPORT_BYTES})
    app.state.rate_limit = TokenBucket(limits.rate_per_second, limits.burst)  # on state: tests drive its clock
    app.state.failed_auth = TokenBucket(limits.failed_auth_per_second, limits.failed_auth_burst)
    app.add_middleware(Gatekeeper, rate_limit=app.state.rate_limit, failed_auth=app.state.failed_auth)
    # keyless self-reports: per client address, before the body is read (service/self_reports.py)
    app.state.self_report_limit = TokenBucket(limits.self_report_per_second, limits.self_report_burst)
    app.state.challenge_limit = TokenBucket(SELF_REPORT_CHALLENGE_PER_SECOND, SELF_REPORT_CHALLENGE_BURST)
    app.add_middleware(self_reports.SelfReportGate, reports=app.state.self_report_limit,
                       challenges=app.state.challenge_limit)
    app.state.proof_of_work = ProofOfWork(self_report_secret or secrets.token_bytes(32),
                                          limits.self_report_pow_bits, SELF_REPORT_CHALLENGE_SECONDS)
    self_reports.quiet_access_log()
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
    app.state.url_list = UrlListCache(limits.index_refresh_seconds)  # the URL list (service/urls.py)
    app.state.block_page = block_page  # GET /blocked (service/blocked.py), rendered once
    app.state.block_page_html = block_page.render()
    # outermost: the block host's visitors get the page at any path, asked for no key (service/blocked.py)
    app.add_middleware(BlockHosts, hosts=block_page.hosts, page=app.state.block_page_html, status=block_page.status,
                       headers=block_page.headers())
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(FormatError, _invalid_hash)
    app.add_exception_handler(Exception, _internal_error)
    app.include_router(health.router)
    app.include_router(blocked.router)
    app.include_router(lookup.router)
    app.include_router(sets.router)
    app.include_router(cases.router)
    app.include_router(media.router)
    app.include_router(stats.router)
    app.include_router(votes.router)
    app.include_router(series_routes.router)
    app.include_router(urls.router)
    app.include_router(self_reports.router)
    app.include_router(web_session.router)
    app.include_router(web_pages.router)
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
    $HASHWARDEN_SERVICE_LIMITS (JSON of `ServiceLimits`' fields; the defaults without it), with the block page
    $HASHWARDEN_BLOCK_PAGE names (`serve --block-page`; the packaged one without it), serving the repository
    directory in $HASHWARDEN_REPO under /repo/ when set (`serve --repo`), signing self-report challenges with
    $HASHWARDEN_SELF_REPORT_SECRET (which `serve` sets for its workers).

    Everything the process holds once the app is built (modules, the app, the matcher) is moved out of the cyclic
    garbage collector's sight (`gc.freeze`): it lives as long as the worker, and each full collection walked all of
    it, a pause of milliseconds every few hundred requests (in process, a 1,000-item lookup's mean CPU 8.5-10.3 ms
    with those pauses, 6.25 without). Only here, in the worker: an app made and dropped (tests) must stay collectable.
    """
    limits = ServiceLimits(**json.loads(os.environ.get(ENV_SERVICE_LIMITS, "{}")))
    page_file = os.environ.get(ENV_BLOCK_PAGE)
    block_page = BlockPage.from_file(Path(page_file)) if page_file else BlockPage()
    secret = os.environ.get(ENV_SELF_REPORT_SECRET)
    app = create_app(open_store(database_url(), create=False), limits=limits, block_page=block_page,
                     repo_dir=os.environ.get(ENV_REPO) or None,
                     self_report_secret=secret.encode() if secret else None)
    gc.freeze()
    return app


async def _http_error(request: Request, exc: Any) -> Response:
    return _refused(request, exc.status_code, str(exc.detail), exc.headers)


async def _invalid_request(request: Request, exc: Any) -> Response:
    """A body that does not fit the schema: each problem as `where: what` (never echoing the values sent)."""
    errors = exc.errors()
    problems = [f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in errors[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:  # a body of a million bad keys must not get a 50 MB answer
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return _refused(request, 422, "; ".join(problems))


async def _invalid_hash(request: Request, exc: Any) -> Response:
    return _refused(request, 422, str(exc))


async def _internal_error(request: Request, _exc: Exception) -> Response:
    """A bug: the traceback goes to the server's log, the caller learns only that it failed."""
    return _refused(request, 500, "internal error")


def _refused(request: Request, status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The API's JSON error, or under /ui/ the page saying it."""
    if request.url.path.startswith(UI_PREFIX):
        return refusal(status, message, headers)
    return JSONResponse({"error": message}, status_code=status, headers=headers)
