"""Victim self-reporting (issue 20): the page that hashes a picture on the reporter's own device (`/selfhash/`), the
keyless endpoint that takes the hashes (`POST /v1/self-reports`), and the analysts' routes that list and review them.

The page (web/selfhash/, packaged here as service/selfhash/) is static: HTML, CSS and ES modules, served with a
Content-Security-Policy that allows this origin only (no other host, no inline script, no frames), no cookie, and
nothing that identifies the visitor. It computes MD5, SHA-256 and PDQ (or a video's vPDQ) in the browser; the
picture never leaves the device, and only the hashes and two optional flags are sent.

The endpoint needs no key, so it is bounded otherwise (`SelfReportGate`, before the body is read; then the route):
  - per client address, a token bucket of reports (`ServiceLimits.self_report_*`: 5 at once, one a minute after)
    and one of challenges; the address lives only in the buckets' memory (a process's; dropped once full again),
    never in the store, and the access log leaves these paths out (`QuietAccessLog`);
  - the body: at most MAX_SELF_REPORT_BYTES; every field is a hash, a small number or a word of a closed vocabulary,
    so anything else (a field over MAX_SELF_REPORT_FIELD, an unknown key: something like file content) is 422;
  - a proof of work on a challenge this service signed (service/proof_of_work.py), spent once.
What stops a determined flood is review: nothing reaches subscribers before an analyst's confirmation vote
(grading/self_reports.py), which publishes the report's hashes into the self-report alert set.

Who: anyone sends a report (201 `{"reference"}`: the code the reporter keeps); `analyst` lists, reads, confirms and
rejects them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import Field, model_validator
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hashwarden.config import MAX_SELF_REPORT_FIELD, MAX_SELF_REPORT_VPDQ_FRAMES
from hashwarden.errors import GradingError, StoreError
from hashwarden.grading.self_reports import AGE_BANDS, BEING_SHARED, confirm, reject
from hashwarden.service.auth import Caller, requires
from hashwarden.service.limits import TokenBucket
from hashwarden.service.pages import DEFAULT_PAGE, Limit, page_body
from hashwarden.service.proof_of_work import MAX_CHALLENGE, ProofRefused
from hashwarden.service.schema import ERROR_RESPONSES, Closed, Md5, Pdq, RowCursor, Sha256
from hashwarden.service.votes import VoteGrade
from hashwarden.store.self_reports import STATUSES, DuplicateProof, SelfReport, get_report, list_reports, record_report

router = APIRouter(responses=ERROR_RESPONSES)

PATH = "/v1/self-reports"
CHALLENGE_PATH = "/v1/self-reports/challenge"
PAGE_PATH = "/selfhash/"
REVIEW_ROLES = ("analyst",)
PAGE_DIR = Path(__file__).with_name("selfhash")
# What the page is made of, and all that is served of its folder (pdq-cli.mjs is the Node command, not the page's).
PAGE_FILES = {"index.html": "text/html; charset=utf-8", "style.css": "text/css; charset=utf-8",
              "page.mjs": "text/javascript; charset=utf-8", "pdq.mjs": "text/javascript; charset=utf-8",
              "md5.mjs": "text/javascript; charset=utf-8", "pow.mjs": "text/javascript; charset=utf-8",
              "video.mjs": "text/javascript; charset=utf-8", "hashing.mjs": "text/javascript; charset=utf-8"}
# This origin only: scripts and styles from files here (no inline code), requests to this origin only, no frames,
# no forms posted anywhere. `media-src blob:` lets a <video> play the chosen file from the device's memory (a blob:
# URL is the page's own, not another origin's) for vPDQ.
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "media-src blob:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; "
                           "base-uri 'none'")
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff", "Cross-Origin-Opener-Policy": "same-origin",
                "Cross-Origin-Resource-Policy": "same-origin", "Cache-Control": "no-cache",
                "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()"}
_CONFLICT = {409: {"description": "The proof of work's challenge was spent already",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}}
Reference = Annotated[str, Field(max_length=20, pattern=r"^[0-9A-Za-z-]{1,20}$")]
_MediaType = Annotated[str, Field(max_length=64, pattern=r"^(image|video)(/[a-z0-9][a-z0-9.+-]{0,40})?$")]
_AgeBand = Literal[AGE_BANDS]  # type: ignore[valid-type]
_Shared = Literal[BEING_SHARED]  # type: ignore[valid-type]


class SelfReportFrame(Closed):
    """One vPDQ frame as the page computes it (one a second): its number, quality, PDQ and time in seconds."""

    frame: Annotated[int, Field(ge=0, le=10**9)]
    quality: Annotated[int, Field(ge=0, le=100)]
    pdq: Pdq
    timestamp: Annotated[float, Field(ge=0, le=10**7)] = 0.0


class SelfReportBody(Closed):
    """What the page sends: the file's hashes, what it is, the reporter's optional flags, and the proof of work.
    Nothing else is taken; a field longer than MAX_SELF_REPORT_FIELD (4 KB) is refused outright."""

    md5: Md5
    sha256: Sha256
    pdq: Pdq | None = None
    quality: Annotated[int | None, Field(ge=0, le=100)] = None
    vpdq: Annotated[list[SelfReportFrame] | None, Field(min_length=1, max_length=MAX_SELF_REPORT_VPDQ_FRAMES)] = None
    media_type: _MediaType
    age_band: _AgeBand = "not-said"
    being_shared: _Shared = "unknown"
    challenge: Annotated[str, Field(max_length=MAX_CHALLENGE)]
    nonce: Annotated[str, Field(max_length=20, pattern=r"^\d{1,20}$")]

    @model_validator(mode="before")
    @classmethod
    def _no_content(cls, document: Any) -> Any:
        if isinstance(document, dict):
            for key, value in document.items():
                if len(str(key)) > MAX_SELF_REPORT_FIELD or _longest_text(value) > MAX_SELF_REPORT_FIELD:
                    raise ValueError(f"a field of over {MAX_SELF_REPORT_FIELD} characters: a self-report carries "
                                     "hashes only, never the file")
        return document

    @model_validator(mode="after")
    def _consistent(self) -> "SelfReportBody":
        if (self.pdq is None) != (self.quality is None):
            raise ValueError("pdq and quality go together")
        if self.vpdq is not None and self.pdq is not None:
            raise ValueError("a report is an image (pdq) or a video (vpdq), not both")
        return self


def _longest_text(value: Any, depth: int = 0) -> int:
    """The longest string in a JSON value (the body is at most 512 KB and 4 levels deep: bounded work)."""
    if isinstance(value, str):
        return len(value)
    if depth > 4:
        return 0
    if isinstance(value, dict):
        return max((max(len(str(k)), _longest_text(v, depth + 1)) for k, v in value.items()), default=0)
    if isinstance(value, list):
        return max((_longest_text(v, depth + 1) for v in value), default=0)
    return 0


class ConfirmBody(VoteGrade):
    """An analyst's confirmation: their grading vote on the reported media (`VoteGrade`) and a note."""

    note: Annotated[str | None, Field(max_length=MAX_SELF_REPORT_FIELD)] = None


class RejectBody(Closed):
    """An analyst's rejection and why."""

    note: Annotated[str | None, Field(max_length=MAX_SELF_REPORT_FIELD)] = None


@router.get(CHALLENGE_PATH)
def challenge(request: Request) -> dict[str, Any]:
    """A proof-of-work challenge for one report (no key): find a decimal `nonce` such that SHA-256(challenge ":"
    nonce) starts with `bits` zero bits, before `expires` (Unix seconds)."""
    issued = request.app.state.proof_of_work.issue()
    return {"challenge": issued.text, "bits": issued.bits, "expires": issued.expires}


@router.post(PATH, status_code=201, responses=_CONFLICT)
def receive(body: SelfReportBody, request: Request) -> dict[str, str]:
    """Take a self-report (no key): 201 `{"reference"}`, the code the reporter keeps. Refused: a body of anything
    but hashes, flags and the proof of work (422), a proof that does not hold (422), a challenge spent already (409),
    too many reports from one address (429, before the body is read)."""
    try:
        proof = request.app.state.proof_of_work.check(body.challenge, body.nonce)
    except ProofRefused as exc:
        raise HTTPException(422, f"proof of work: {exc}") from None
    report = SelfReport(md5=body.md5.lower(), sha256=body.sha256.lower(), media_type=body.media_type,
                        pdq=body.pdq.lower() if body.pdq else None, pdq_quality=body.quality,
                        vpdq=[{**frame.model_dump(), "pdq": frame.pdq.lower()} for frame in body.vpdq]
                        if body.vpdq else None, age_band=body.age_band, being_shared=body.being_shared, proof=proof)
    try:
        with request.app.state.engine.begin() as conn:
            stored = record_report(conn, report)
    except DuplicateProof as exc:
        raise HTTPException(409, str(exc)) from None
    return {"reference": stored.reference or ""}


@router.get(PATH)
def reports(request: Request, caller: Caller = requires(*REVIEW_ROLES),
            status: Annotated[Literal[STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
            limit: Limit = DEFAULT_PAGE, after: RowCursor = None) -> dict[str, Any]:
    """The self-reports (only those in `status`), oldest first, `limit` at a time after the report id `after`
    (`next`: the id of a page's last report)."""
    with request.app.state.engine.connect() as conn:
        found = list_reports(conn, status, after, limit + 1)
    body = page_body(found, limit, "reports", SelfReport.as_json, lambda report: report.id)
    caller.counts.update(items=len(body["reports"]))
    return body


@router.get(PATH + "/{reference}")
def report(reference: Annotated[str, Reference], request: Request,
           caller: Caller = requires(*REVIEW_ROLES)) -> dict[str, Any]:
    """One self-report by its reference, with its vPDQ frames."""
    with request.app.state.engine.connect() as conn:
        found = _found(conn, reference)
    caller.counts.update(items=1)
    return {**found.as_json(), "vpdq": found.vpdq}


@router.post(PATH + "/{reference}/confirm")
def confirm_report(reference: Annotated[str, Reference], body: ConfirmBody, request: Request,
                   caller: Caller = requires(*REVIEW_ROLES)) -> dict[str, Any]:
    """Confirm a report by the key's user's grading vote (audited; it counts toward the media's grade too) and
    publish it into the self-report set: `{"report", "vote", "set", "version"}`. A vote refused is 422 naming its
    field."""
    identity = caller.identity
    try:
        with request.app.state.engine.begin() as conn:
            done = confirm(conn, reference, reviewer=identity.user, agency=identity.agency, category=body.category,
                           scheme=body.scheme, attributes=body.attributes(), note=body.note)
    except StoreError as exc:
        raise HTTPException(404, str(exc)) from None
    except GradingError as exc:
        raise HTTPException(422, str(exc)) from None
    caller.counts.update(items=1)
    return {"report": done.report.as_json(), "vote": done.vote.id if done.vote else None, "set": done.set,
            "version": done.revised.version}


@router.post(PATH + "/{reference}/reject")
def reject_report(reference: Annotated[str, Reference], body: RejectBody, request: Request,
                  caller: Caller = requires(*REVIEW_ROLES)) -> dict[str, Any]:
    """Reject a report (audited; one confirmed before leaves the self-report set): `{"report", "set", "version"}`."""
    try:
        with request.app.state.engine.begin() as conn:
            done = reject(conn, reference, reviewer=caller.identity.user, note=body.note)
    except StoreError as exc:
        raise HTTPException(404, str(exc)) from None
    except GradingError as exc:
        raise HTTPException(422, str(exc)) from None
    caller.counts.update(items=1)
    return {"report": done.report.as_json(), "set": done.set, "version": done.revised.version}


def _found(conn: Any, reference: str) -> SelfReport:
    try:
        return get_report(conn, reference)
    except StoreError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/selfhash", include_in_schema=False)
def page_root() -> RedirectResponse:
    return RedirectResponse(PAGE_PATH, status_code=308)


@router.get(PAGE_PATH, include_in_schema=False)
def page() -> FileResponse:
    """The self-hash page (no key), with its Content-Security-Policy."""
    return _page_file("index.html")


@router.get(PAGE_PATH + "{name}", include_in_schema=False)
def page_file(name: str) -> FileResponse:
    """One of the page's own files (`PAGE_FILES`); nothing else of the folder is served."""
    if name not in PAGE_FILES:
        raise HTTPException(404, "not found")
    return _page_file(name)


def _page_file(name: str) -> FileResponse:
    return FileResponse(PAGE_DIR / name, media_type=PAGE_FILES[name], headers=PAGE_HEADERS)


class SelfReportGate:
    """ASGI middleware: a client address's token of reports (POST /v1/self-reports) or of challenges is spent
    before the request's body is read; none left: 429 with Retry-After. The address is a key of the buckets'
    memory only (behind a proxy, every client shares the proxy's: set the limits for that, or have the proxy
    limit per client)."""

    def __init__(self, app: ASGIApp, reports: TokenBucket, challenges: TokenBucket) -> None:
        self.app, self.reports, self.challenges = app, reports, challenges

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            bucket = None
            if scope["path"] == PATH and scope["method"] == "POST":
                bucket, what = self.reports, "self-reports"
            elif scope["path"] == CHALLENGE_PATH:
                bucket, what = self.challenges, "challenges"
            if bucket is not None:
                wait = bucket.take((scope.get("client") or ("unknown",))[0])
                if wait is not None:
                    message = f"too many {what} from this address: retry in {wait} s"
                    await JSONResponse({"error": message}, status_code=429,
                                       headers={"Retry-After": str(wait)})(scope, receive, send)
                    return
        await self.app(scope, receive, send)


class QuietAccessLog(logging.Filter):
    """Leaves the self-report page and endpoint out of uvicorn's access log, whose lines name the client's address:
    a report must not be tied to where it came from."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        path = str(args[2]) if len(args) > 2 else ""
        return not (path.startswith(PATH) or path.startswith("/selfhash"))


def quiet_access_log() -> None:
    """Install `QuietAccessLog` on uvicorn's access logger once per process."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, QuietAccessLog) for existing in logger.filters):
        logger.addFilter(QuietAccessLog())
