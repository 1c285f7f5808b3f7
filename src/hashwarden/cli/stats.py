"""`hashwarden stats`: counts and shares of graded media (grading/stats.py), written as stats.json, stats.csv and
stats.html, or stats.json printed (`--json`, the same object `GET /v1/stats` answers)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from hashwarden.cli.common import app, out, DbOption, engine_for
from hashwarden.config import DEFAULT_GRADING_SCHEME


@app.command("stats")
def stats(
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Write stats.json, stats.csv and stats.html into this directory.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print stats.json to stdout.")] = False,
    since: Annotated[Optional[str], typer.Option(
        "--since", help="Grades from this date or UTC time on (a grade's time is its newest current vote's).")]
    = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Grades before this date or UTC time.")] = None,
    set_name: Annotated[Optional[str], typer.Option("--set", help="Only media that are entries of this set.")] = None,
    case: Annotated[Optional[Path], typer.Option(
        "--case", help="Only media that are items of this scan's case directory (its report.json).")] = None,
    age_groups: Annotated[Optional[str], typer.Option(
        "--age-groups", help="Groups of whole age bands, e.g. 0-10,11-15,16-20,21+ (may overlap: 0-15 too).")]
    = None,
    status: Annotated[Optional[str], typer.Option(
        "--status", help="Consensus states counted (default confirmed,indicative; add disputed to count disputed "
                         "categories as 'disputed').")] = None,
    scheme: Annotated[str, typer.Option("--scheme", help="The category scheme counted.")] = DEFAULT_GRADING_SCHEME,
    db: DbOption = None,
) -> None:
    """Counts and shares of graded media by category, age, sex, self-generated, capture device and redistributed,
    per month, series and agency.

    Example: hashwarden stats --age-groups 0-10,11-15,16-20 -o stats/
    """
    from hashwarden.errors import GradingError
    from hashwarden.grading.stats import (StatsQuery, compute_stats, parse_age_groups, parse_statuses,
                                          parse_time, write_stats)

    if set_name is not None and case is not None:
        raise GradingError("--set or --case, not both", field="case")
    if out_dir is None and not as_json:
        raise GradingError("say where the statistics go: -o DIR, or --json for stdout", field="out")
    query = StatsQuery(scheme=scheme, statuses=parse_statuses(status), since=parse_time(since, "since"),
                       until=parse_time(until, "until"), set_name=set_name, case_dir=case,
                       age_groups=parse_age_groups(age_groups))
    with engine_for(db, create=False).connect() as conn:
        found = compute_stats(conn, query)
    if out_dir is not None:
        paths = write_stats(found, out_dir)
        if not as_json:
            out.print(f"{found['total']} graded media counted: " + ", ".join(escape(str(p)) for p in paths),
                      highlight=False)
    if as_json:
        sys.stdout.write(json.dumps(found) + "\n")
