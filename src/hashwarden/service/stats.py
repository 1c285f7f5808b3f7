"""`GET /v1/stats`: the statistics of graded media, the object `hashwarden stats --json` prints (grading/stats.py
computes both, so they cannot drift apart).

Query parameters are the command's options that make sense on a server: `since`, `until`, `set`, `age_groups`,
`status`, `scheme`; not `--case`, a directory on the examiner's machine. A refused parameter is a 422 naming it
(`GradingError`'s field); a set that does not exist, 404. Grades are computed when asked, from every current vote,
as `grading status` does.

Who: `analyst`, the role that works with the database as a whole (sets, grading). Not `admin`, who reads no data;
not `examiner` or `matcher`, whose work is a case or a lookup.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy.engine import Engine

from hashwarden.config import DEFAULT_GRADING_SCHEME
from hashwarden.errors import GradingError
from hashwarden.grading.stats import (StatsQuery, compute_stats, parse_age_groups, parse_statuses, parse_time)
from hashwarden.service.auth import Caller, requires
from hashwarden.service.schema import ERROR_RESPONSES

router = APIRouter(responses=ERROR_RESPONSES)

STATS_ROLES = ("analyst",)
# The query parameters, shared with the statistics page (service/web/pages.py).
Text = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]
Scheme = Annotated[str, Query(max_length=64, pattern=r"^[^\x00]*$")]


@router.get("/v1/stats")
def stats(request: Request, caller: Caller = requires(*STATS_ROLES), since: Text = None, until: Text = None,
          set: Text = None, age_groups: Text = None, status: Text = None,  # noqa: A002 - the CLI's --set
          scheme: Scheme = DEFAULT_GRADING_SCHEME,
          ) -> dict[str, Any]:
    """Counts and shares of graded media by category, age, sex, self-generated, capture device and
    redistributed, per month, series and agency: `stats.json`'s object."""
    found = stats_of(request.app.state.engine, since, until, set, age_groups, status, scheme)
    caller.counts.update(items=found["total"])
    return found


def stats_of(engine: Engine, since: str | None, until: str | None, set_name: str | None, age_groups: str | None,
             status: str | None, scheme: str) -> dict[str, Any]:
    """`compute_stats` for the query parameters as given (the API's and the statistics page's one reading).

    Raises:
        HTTPException: 422 naming a refused parameter, 404 for a set that does not exist.
    """
    try:
        query = StatsQuery(scheme=scheme, statuses=parse_statuses(status), since=parse_time(since, "since"),
                           until=parse_time(until, "until"), set_name=set_name,
                           age_groups=parse_age_groups(age_groups))
        with engine.connect() as conn:
            return compute_stats(conn, query)
    except GradingError as exc:
        raise HTTPException(404 if exc.field == "set" else 422, str(exc)) from exc
