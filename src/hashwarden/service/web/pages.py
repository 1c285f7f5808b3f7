"""The analysts' pages: `GET /ui/` and the pages it links, each the HTML of what an API route answers.

Each page is a route with `requires(...)` and the roles of its API twin (`STATS_ROLES`, `GRADE_ROLES`,
`SERIES_ROLES`, `CASE_ROLES`), so the gatekeeper checks it, rate-limits it and the audit gets one row per view
(endpoint `GET /ui/...`), as for an API call; and each reads through the twin's function (`stats_of`,
`grade_page`, `store.series`, `store.cases`), so a page and the API cannot disagree. Every page is a GET that
changes nothing (the CSRF stance: session.py). Pages are kept out of /openapi.json, which describes the API.

Lists page as the API does (`limit` after a cursor, `next`), with a "Next page" link.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.responses import HTMLResponse

from hashwarden.config import DEFAULT_GRADING_SCHEME
from hashwarden.grading.consensus import DISPUTED, Grade
from hashwarden.report.page import text
from hashwarden.report.stats_html import stats_body
from hashwarden.service.auth import Caller, requires
from hashwarden.service.cases import CASE_ROLES
from hashwarden.service.pages import DEFAULT_PAGE, Limit
from hashwarden.service.schema import RowCursor, RowId
from hashwarden.service.series import SERIES_ROLES, Code, Cursor, records_after
from hashwarden.service.stats import STATS_ROLES, Scheme, Text, stats_of
from hashwarden.service.votes import GRADE_ROLES, GradeCursor, grade_cursor, grade_page
from hashwarden.service.web.case_leads import LeadRow, case_lead_rows
from hashwarden.service.web.html import fields, hashes, next_link, page, table
from hashwarden.store.cases import case_head, list_cases
from hashwarden.store.identities import ROLES, Identity
from hashwarden.store.series import Series, Victim, linked_media, list_series, list_victims

router = APIRouter(include_in_schema=False)

# The pages the start page and the bar link, with who may see each: (path, label, roles, what it shows).
NAV = (("/ui/stats", "Statistics", STATS_ROLES, "graded media counted by category, age, sex, month, series, agency"),
       ("/ui/grades/disputed", "Disputed grades", GRADE_ROLES, "media whose current votes disagree, each side's votes"),
       ("/ui/series", "Series", SERIES_ROLES, "series: codes, agencies, notes, linked victims and media"),
       ("/ui/victims", "Victims", SERIES_ROLES, "victims by code and flag, linked series and media"),
       ("/ui/cases", "Cases", CASE_ROLES, "your agency's submitted cases and each one's lead list"))
_Page = Annotated[int, Query(ge=1, le=200)]  # a page of articles (disputed media, lead rows): fewer than a table
SHORT_PAGE = 50


def _show(caller: Caller, title: str, body: str, css: str = "") -> HTMLResponse:
    identity = caller.identity
    return page(title, body, identity, [(path, label) for path, label, _, _ in _visible(identity)], css)


def _visible(identity: Identity) -> list[tuple[str, str, tuple[str, ...], str]]:
    return [entry for entry in NAV if identity.role in entry[2]]


@router.get("/ui/")
def home(caller: Caller = requires(*ROLES)) -> HTMLResponse:
    """Links to the pages the caller's role may see (admin: none; admin reads no data)."""
    shown = _visible(caller.identity)
    items = "".join(f'<li><a href="{path}">{text(label)}</a>: {text(what)}</li>' for path, label, _, what in shown)
    body = (f"<ul>{items}</ul>" if items else
            '<p class="muted">Your role reads no data: there is no page for it.</p>')
    return _show(caller, "Analysts' pages", body + '<p class="muted">Hashes and judgements only: these pages never '
                 "contain imagery.</p>")


@router.get("/ui/stats")
def stats_page(request: Request, caller: Caller = requires(*STATS_ROLES), since: Text = None, until: Text = None,
               set: Text = None, age_groups: Text = None, status: Text = None,  # noqa: A002 - /v1/stats's name
               scheme: Scheme = DEFAULT_GRADING_SCHEME) -> HTMLResponse:
    """The statistics dashboard: `GET /v1/stats`'s object for the same parameters, as stats.html draws it."""
    found = stats_of(request.app.state.engine, since, until, set, age_groups, status, scheme)
    caller.counts.update(items=found["total"])
    given = {"scheme": scheme, "status": status, "since": since, "until": until, "set": set,
             "age_groups": age_groups}
    inputs = "".join(f'<div><label for="f-{name}">{text(name)}</label><input type="text" id="f-{name}" '
                     f'name="{name}" value="{text(value or "")}"></div>' for name, value in given.items())
    form = f'<form class="filter" method="get" action="/ui/stats">{inputs}<button type="submit">Show</button></form>'
    body, css = stats_body(found)
    return _show(caller, f"Statistics: {found['total']} graded media", form + body, css)


@router.get("/ui/grades/disputed")
def disputed_page(request: Request, caller: Caller = requires(*GRADE_ROLES), limit: _Page = SHORT_PAGE,
                  after: GradeCursor = None) -> HTMLResponse:
    """The review queue: each disputed media (hashes, scheme) with each side's current votes."""
    found = grade_page(request.app.state.engine, DISPUTED, after, limit + 1)
    shown = found[:limit]
    caller.counts.update(items=len(shown))
    body = "".join(_disputed(graded) for graded in shown) or '<p class="muted">No disputed grade.</p>'
    if len(found) > limit:
        body += next_link("/ui/grades/disputed", {"limit": limit, "after": grade_cursor(shown[-1])})
    return _show(caller, "Disputed grades", body)


def _disputed(graded: Grade) -> str:
    """A disputed media: its hashes, each category voted with its votes (a list, not a table: it reads on a phone),
    and its attributes' states."""
    sides = "".join(
        f"<li><strong>{text(category)}</strong> ({len(votes)} vote{'s' if len(votes) != 1 else ''})<ul>"
        + "".join(f"<li>{text(vote.reviewer)}, {text(vote.agency)}, {text(vote.voted_at)}"
                  + (f": <q>{text(vote.note)}</q>" if vote.note else "") + "</li>" for vote in votes)
        + "</ul></li>" for category, votes in sorted(graded.category.sides.items()))
    attributes = {name: f"{value.state}: {value.value if value.value is not None else ', '.join(value.sides)}"
                  for name, value in graded.attributes.items()}
    return (f'<article class="disputed"><h2>{text(graded.scheme)}: <span class="hash">{text(graded.media)}</span>'
            f'</h2>{hashes(graded.hashes)}<h3>Votes on the category</h3><ul class="sides">{sides}</ul>'
            f"<h3>Attributes</h3>{fields(attributes)}</article>")


@router.get("/ui/series")
def series_list(request: Request, caller: Caller = requires(*SERIES_ROLES), limit: Limit = DEFAULT_PAGE,
                after: Cursor = None) -> HTMLResponse:
    """Every series by code (`GET /v1/series`'s list)."""
    def row(record: Series) -> list[str]:
        return [_link("series", record.code), text(record.name), text(record.agency), str(record.media),
                ", ".join(_link("victims", code) for code in record.victims)]

    return _list(request, caller, list_series, "/ui/series", "Series", limit, after,
                 ("code", "name", "agency", "media", "victims"), row)


@router.get("/ui/victims")
def victims_list(request: Request, caller: Caller = requires(*SERIES_ROLES), limit: Limit = DEFAULT_PAGE,
                 after: Cursor = None) -> HTMLResponse:
    """Every victim by code (`GET /v1/victims`'s list)."""
    def row(record: Victim) -> list[str]:
        return [_link("victims", record.code), "identified" if record.identified else "not identified",
                text(record.agency), text(record.identified_on), str(record.media),
                ", ".join(_link("series", code) for code in record.series)]

    return _list(request, caller, list_victims, "/ui/victims", "Victims", limit, after,
                 ("code", "identified", "identifying agency", "date", "media", "series"), row)


def _list(request: Request, caller: Caller, lister: Any, path: str, title: str, limit: int, after: str | None,
          headings: Iterable[str], row: Callable[[Any], list[str]]) -> HTMLResponse:
    with request.app.state.engine.connect() as conn:
        found = records_after(lister(conn), after)
    shown = found[:limit]
    caller.counts.update(items=len(shown))
    body = table(headings, [row(record) for record in shown]) if shown else f'<p class="muted">No {title.lower()}.</p>'
    if len(found) > limit:
        body += next_link(path, {"limit": limit, "after": shown[-1].code})
    return _show(caller, title, body)


@router.get("/ui/series/{code:path}")
def series_page(code: Code, request: Request, caller: Caller = requires(*SERIES_ROLES)) -> HTMLResponse:
    """A series: code, name, agency, notes, its victims and the media linked to it."""
    with request.app.state.engine.connect() as conn:
        record = _one(list_series(conn), code, "series")
        media = linked_media(conn, series_code=code)
    caller.counts.update(items=1)
    body = (fields({"code": record.code, "name": record.name, "agency": record.agency, "notes": record.notes,
                    "created": record.created_at})
            + "<h2>Victims</h2>" + _codes("victims", record.victims) + _media(media))
    return _show(caller, f"Series {record.code}", body)


@router.get("/ui/victims/{code:path}")
def victim_page(code: Code, request: Request, caller: Caller = requires(*SERIES_ROLES)) -> HTMLResponse:
    """A victim: code, identified flag, identifying agency and date, its series and the media linked to it."""
    with request.app.state.engine.connect() as conn:
        record = _one(list_victims(conn), code, "victim")
        media = linked_media(conn, victim_code=code)
    caller.counts.update(items=1)
    body = (fields({"code": record.code, "identified": "yes" if record.identified else "no",
                    "identifying agency": record.agency, "date identified": record.identified_on,
                    "created": record.created_at})
            + "<h2>Series</h2>" + _codes("series", record.series) + _media(media))
    return _show(caller, f"Victim {record.code}", body)


def _one(records: list[Any], code: str, what: str) -> Any:
    for record in records:
        if record.code == code:
            return record
    raise HTTPException(404, f"no {what} with code {code!r}")


def _link(kind: str, code: str) -> str:
    return f'<a href="/ui/{kind}/{quote(code, safe="")}">{text(code)}</a>'


def _codes(kind: str, codes: list[str]) -> str:
    return f"<p>{', '.join(_link(kind, code) for code in codes)}</p>" if codes else '<p class="muted">None.</p>'


def _media(media: list[dict[str, str]]) -> str:
    rows = [[f'<span class="hash">{text(found["media"])}</span>',
             hashes({name: value for name, value in found.items() if name != "media"})] for found in media]
    return (f"<h2>Linked media ({len(media)})</h2>"
            + (table(("media", "hashes"), rows) if rows else '<p class="muted">None.</p>'))


@router.get("/ui/cases")
def cases_page(request: Request, caller: Caller = requires(*CASE_ROLES), limit: Limit = DEFAULT_PAGE,
               after: RowCursor = None) -> HTMLResponse:
    """The agency's cases (`GET /v1/cases`'s list), each linking its lead list."""
    with request.app.state.engine.connect() as conn:
        found = list_cases(conn, caller.identity.agency, limit + 1, after)
    shown = found[:limit]
    caller.counts.update(items=len(shown))
    rows = [[f'<a href="/ui/cases/{info.id}">{info.id}</a>', text(info.case), text(info.submitted_by),
             text(info.submitted_at), str(info.items), text(_summary(info.summary))] for info in shown]
    body = (table(("id", "case", "submitted by", "submitted", "items", "summary"), rows, numeric=(0, 4)) if rows
            else '<p class="muted">Your agency has no case on this service.</p>')
    if len(found) > limit:
        body += next_link("/ui/cases", {"limit": limit, "after": shown[-1].id})
    return _show(caller, f"Cases of {caller.identity.agency}", body)


@router.get("/ui/cases/{id}")
def case_page(id: RowId, request: Request, caller: Caller = requires(*CASE_ROLES),  # noqa: A002 - /v1/cases/{id}
              limit: _Page = SHORT_PAGE, after: Annotated[int, Query(ge=-1, lt=2**31)] = -1) -> HTMLResponse:
    """A case's lead list: its unknown items in the report's order, each with its cluster, leads and metadata as
    text, `limit` at a time after the position `after`. Another agency's case is 404, as a missing one."""
    agency = caller.identity.agency
    with request.app.state.engine.connect() as conn:
        head = case_head(conn, agency, id)
        found = case_lead_rows(conn, id, agency, limit + 1, after, request.app.state.case_codes.get(conn))
        if head is None or found is None:
            raise HTTPException(404, f"no case {id} for agency {agency!r}")
    shown = found[:limit]
    caller.counts.update(items=len(shown))
    report = head["report"]
    about = fields({"case": report.get("case"), "submitted by": head["submitted_by"],
                    "submitted": head["submitted_at"], "items": head["items"],
                    "summary": _summary(report.get("summary") or {})})
    body = about + "<h2>Unknown items and their leads</h2>" + (
        "".join(_lead_row(row) for row in shown) or '<p class="muted">No unknown item past this point.</p>')
    if len(found) > limit:
        body += next_link(f"/ui/cases/{id}", {"limit": limit, "after": shown[-1].position})
    return _show(caller, f"Case {id}: {report.get('case', '')}", body)


def _lead_row(row: LeadRow) -> str:
    leads = "".join(f"<li>{text(_lead_text(lead))}</li>" for lead in row.leads)
    return (f'<article class="item"><h3>#{row.position + 1} {text(row.path)}</h3>'
            + fields({"media": row.media, "cluster": row.cluster}) + hashes(row.hashes)
            + "<h4>Leads</h4>" + (f'<ul class="leads">{leads}</ul>' if leads else '<p class="muted">None.</p>')
            + "<h4>Metadata</h4>" + (fields({name: _value(value) for name, value in row.metadata.items()})
                                     if row.metadata else '<p class="muted">None.</p>')
            + "</article>")


def _lead_text(lead: dict[str, Any]) -> str:
    """Any lead as text: its kind, then each field of its evidence (`name value`), whatever the kind."""
    evidence = "; ".join(f"{name} {_value(value)}" for name, value in lead.items() if name != "kind")
    return f"{lead.get('kind', 'lead')}: {evidence}" if evidence else str(lead.get("kind", "lead"))


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_value(part) for part in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _summary(summary: dict[str, Any]) -> str:
    return ", ".join(f"{name} {_value(value)}" for name, value in summary.items())
