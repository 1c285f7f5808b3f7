"""The statistics of graded media: counts and shares by category, age, sex, self-generated, capture device and
redistributed, per month, series and agency (issue 18 part 6), the figures studies of the field report (the IWF's
"Emerging Patterns and Trends" report gives shares by age band, sex, capture device, category and redistribution).

What is counted, decided here once so that `hashwarden stats`, `GET /v1/stats` and the HTML page agree:

- **One grade per media**: the reconciled grade (grading/consensus.py) under one scheme (`--scheme`, the grading
  default `uk-sentencing`): categories of two schemes cannot be added up, and a media graded under another scheme
  only is not counted.
- **Which states count** (`statuses`): by default confirmed and indicative grades, the grades a reviewer's opinion
  stands behind; a disputed category is left out unless asked for (`--status confirmed,indicative,disputed`), and
  then counted as category "disputed". An attribute (age band, sex ...) that is disputed within a counted media is
  counted as "disputed"; one nobody knows as "unknown".
- **Time** is the grade's: the time of the newest current vote in the scheme, when the grade became what it is.
  `since` (inclusive) and `until` (exclusive) select media by it, and "per month" is its month (UTC). Filtering
  votes by their own time instead would recompute consensus from a part of the votes: grades nobody has seen.
- **Which media** (`media_filter`): every graded media, or those that are entries of a set (`--set`) or items of a
  scan's report.json (`--case`), matched by any hash they share with the media's votes.
- **Age groups** (`--age-groups 0-10,11-15,16-20`) are unions of whole vote age bands: `0-15` is 0-2 .. 14-15,
  `21+` and `adult` the adult band, `unknown` the unknown one. A group that covers part of a band is refused naming
  the band (the votes cannot say on which side of 12 an "11-13" falls). Groups may overlap (`0-10,11-15,0-15`):
  each is counted on its own, so a share for 15-and-under and for 10-and-under come out of one run; the full
  cross-tabulation (`cells`) is by age band, which never double counts.
- **Per agency**: a media counts for each agency that has a current vote on it; per series, for each series its
  entries name (`SeriesSource`, swappable: today the entry's VICS `series` field).

Shares are fractions of the count they are a part of; `percent` is the share rounded to one decimal, as the study
rounds.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import ijson
from sqlalchemy import or_, select
from sqlalchemy.engine import Connection

from hashwarden.config import DEFAULT_GRADING_SCHEME
from hashwarden.errors import FormatError, GradingError, StoreError
from hashwarden.formats._fields import spreadsheet_safe_name
from hashwarden.formats.categories import load_profile, severity_key
from hashwarden.grading.consensus import CONFIRMED, DISPUTED, INDICATIVE, RULE, ConsensusRule, Grade, grades
from hashwarden.grading.votes import AGE_BANDS, VOCABULARIES
from hashwarden.store.hashsets import get_set
from hashwarden.store.db import TIMESTAMP_FORMAT
from hashwarden.store import live
from hashwarden.store.schema import entry
from hashwarden.store.votes import ATTRIBUTES

__all__ = ["CSV_COLUMNS", "DEFAULT_STATUSES", "DIMENSIONS", "STATUSES", "AgeGroup", "SeriesSource", "StatsQuery", "compute_stats",
           "entry_series", "parse_age_groups", "parse_statuses", "parse_time", "write_stats"]

DEFAULT_STATUSES = (CONFIRMED, INDICATIVE)
STATUSES = (CONFIRMED, INDICATIVE, DISPUTED)
DIMENSIONS = ("category", *ATTRIBUTES)  # the cross-tabulation's columns (`cells`), age by band
CSV_COLUMNS = (*DIMENSIONS, "count", "share", "percent")  # stats.csv: one row per cell
NO_SERIES = "(none)"
OTHER_AGES = "(other)"  # media whose age band is in none of the groups asked for
# The age each band covers, in years (both ends included); adult is 21 and over (18-20 is a band of its own).
BAND_YEARS = {"0-2": (0, 2), "3-6": (3, 6), "7-10": (7, 10), "11-13": (11, 13), "14-15": (14, 15),
              "16-17": (16, 17), "18-20": (18, 20), "adult": (21, 200)}
_DIGESTS = ("md5", "sha1", "sha256", "pdq")
_RANGE = re.compile(r"^(\d{1,3})\s*(?:-\s*(\d{1,3})|(\+))$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Where a media's series come from: the series of each media (key), given the grades counted. The entries' VICS
# field today; the `series` table when it exists.
SeriesSource = Callable[[Connection, list[Grade]], dict[str, set[str]]]


@dataclass(frozen=True)
class AgeGroup:
    """A group of ages as asked for (`name`) and the vote age bands it is the union of."""

    name: str
    bands: tuple[str, ...]


@dataclass(frozen=True)
class StatsQuery:
    """What to count; see the module docstring for each choice."""

    scheme: str = DEFAULT_GRADING_SCHEME
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    since: str | None = None  # store timestamps (parse_time), since inclusive, until exclusive
    until: str | None = None
    set_name: str | None = None
    case_dir: Path | None = None
    age_groups: tuple[AgeGroup, ...] = ()


def parse_age_groups(text: str | None) -> tuple[AgeGroup, ...]:
    """`--age-groups` ("0-10,11-15,16-20", "21+", "adult", "unknown") as groups of whole age bands.

    Raises:
        GradingError: (field age_groups) a group that is not a range or band name, covers no band, or covers part
            of a band (the band named).
    """
    if text is None or not text.strip():
        return ()
    groups = []
    for name in (part.strip() for part in text.split(",")):
        if name in AGE_BANDS:
            groups.append(AgeGroup(name, (name,)))
            continue
        found = _RANGE.match(name)
        if not found:
            raise GradingError(f"age group {name!r} is not a range of years (0-10, 21+) or an age band "
                               f"({', '.join(AGE_BANDS)})", field="age_groups")
        low = int(found.group(1))
        high = 200 if found.group(3) else int(found.group(2))
        if high < low:
            raise GradingError(f"age group {name!r} ends before it starts", field="age_groups")
        bands = []
        for band, (first, last) in BAND_YEARS.items():
            if last < low or first > high:
                continue
            if first < low or last > high:
                raise GradingError(f"age group {name!r} splits the age band {band}: a group must hold whole "
                                   "bands, the votes do not say on which side an age in it falls",
                                   field="age_groups")
            bands.append(band)
        if not bands:
            raise GradingError(f"age group {name!r} holds no age band", field="age_groups")
        groups.append(AgeGroup(name, tuple(bands)))
    names = [group.name for group in groups]
    if len(set(names)) != len(names):
        raise GradingError("an age group is named twice", field="age_groups")
    return tuple(groups)


def parse_statuses(text: str | None) -> tuple[str, ...]:
    """`--status` ("confirmed", "confirmed,indicative", ...) as the consensus states counted.

    Raises:
        GradingError: (field status) a state that is not confirmed, indicative or disputed.
    """
    if text is None or not text.strip():
        return DEFAULT_STATUSES
    asked = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    for state in asked:
        if state not in STATUSES:
            raise GradingError(f"{state!r} is not one of {', '.join(STATUSES)}", field="status")
    return asked


def parse_time(text: str | None, name: str) -> str | None:
    """`--since`/`--until` (a date, YYYY-MM-DD, or an ISO date and time in UTC) as the store's timestamp text,
    which sorts as times do.

    Raises:
        GradingError: (field `name`) not such a date or time.
    """
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        if moment.tzinfo is not None:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError):  # overflow: a time zone that moves year 1 or 9999 out of range
        raise GradingError(f"{text!r} is not a date (2026-01-31) or an ISO date and time", field=name) from None
    return moment.strftime(TIMESTAMP_FORMAT)


def entry_series(conn: Connection, graded: list[Grade]) -> dict[str, set[str]]:
    """The series each media's entries (any set) name in their VICS `series` field, split at commas and
    semicolons (VICS joins several series there). The default `SeriesSource`."""
    found: dict[str, set[str]] = {}
    for media, row in _entries_of(conn, graded, entry.c.series.is_not(None), (entry.c.series,)):
        names = {name.strip() for name in re.split(r"[;,]", row.series) if name.strip()}
        found.setdefault(media, set()).update(names)
    return found


def compute_stats(conn: Connection, query: StatsQuery = StatsQuery(), rule: ConsensusRule = RULE,
                  series_source: SeriesSource = entry_series) -> dict[str, Any]:
    """The statistics of `query` as one JSON-ready object (`stats.json`, `GET /v1/stats`): what was counted
    (`query`), `total`, `by` (each dimension, month, series, agency, state: counts and shares of the total),
    `by_age_group` (each group's total and its breakdown by every other dimension), `cells` (the full
    cross-tabulation, by age band).

    Raises:
        GradingError: an unknown scheme, a `--set` that does not exist, a `--case` without a report.json.
    """
    try:
        load_profile().scheme(query.scheme)
    except FormatError:
        raise GradingError(f"unknown category scheme {query.scheme!r}", field="scheme") from None
    counted = [g for g in grades(conn, rule) if g.scheme == query.scheme and _counts(g, query)]
    if query.set_name is not None or query.case_dir is not None:
        inside = _media_in(conn, query, counted)
        counted = [g for g in counted if g.media in inside]
    rows = [_row(g) for g in counted]
    series = series_source(conn, counted)
    for row, graded in zip(rows, counted):
        row["series"] = sorted(series.get(graded.media) or {NO_SERIES})
        row["agency"] = sorted({v.agency or "(none)" for v in graded.votes})
    total = len(rows)
    order = _orders(query)
    by = {name: _shares(Counter(row[name] for row in rows), total, order.get(name)) for name in DIMENSIONS}
    by["month"] = _shares(Counter(row["month"] for row in rows), total)
    by["state"] = _shares(Counter(row["state"] for row in rows), total, order["state"])
    for name in ("series", "agency"):
        by[name] = _shares(Counter(value for row in rows for value in row[name]), total)
    by_group = {}
    if query.age_groups:
        by["age_group"] = _shares(Counter(g for row in rows for g in _groups_of(row, query.age_groups)), total,
                                  order["age_group"])
        for group in [*(g.name for g in query.age_groups), OTHER_AGES, DISPUTED]:
            inside = [row for row in rows if group in _groups_of(row, query.age_groups)]
            if inside or group not in (OTHER_AGES, DISPUTED):
                by_group[group] = {"total": len(inside), **{
                    name: _shares(Counter(row[name] for row in inside), len(inside), order.get(name))
                    for name in DIMENSIONS if name != "age_band"}}
    cells = Counter(tuple(row[name] for name in DIMENSIONS) for row in rows)
    return {
        "scheme": query.scheme, "rule": rule.id, "statuses": list(query.statuses), "time": "grade",
        "since": query.since, "until": query.until, "set": query.set_name,
        "case": str(query.case_dir) if query.case_dir is not None else None,
        "age_groups": [{"name": g.name, "bands": list(g.bands)} for g in query.age_groups],
        "total": total, "by": by, "by_age_group": by_group,
        "cells": [{**dict(zip(DIMENSIONS, key)), "count": n, **_share(n, total)}
                  for key, n in sorted(cells.items())],
    }


def write_stats(stats: dict[str, Any], directory: Path) -> list[Path]:
    """Write `stats` as `stats.json`, `stats.csv` (the cross-tabulation, one row per cell) and `stats.html`
    (report/stats_html.py) into `directory` (made when missing); return the three paths."""
    from hashwarden.report.stats_html import render_stats_html  # pygal: loaded by the command, not the service

    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "stats.json", directory / "stats.csv", directory / "stats.html"]
    paths[0].write_text(json.dumps(stats, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with open(paths[1], "w", newline="", encoding="utf-8") as fp:
        writer = csv.DictWriter(fp, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for cell in stats["cells"]:  # an open scheme's code may start like a formula: written as a name, guarded
            writer.writerow({**cell, **{name: spreadsheet_safe_name(str(cell[name])) for name in DIMENSIONS}})
    paths[2].write_text(render_stats_html(stats), encoding="ascii")
    return paths


def _counts(graded: Grade, query: StatsQuery) -> bool:
    if graded.state not in query.statuses:
        return False
    moment = _grade_time(graded)
    return (query.since is None or moment >= query.since) and (query.until is None or moment < query.until)


def _grade_time(graded: Grade) -> str:
    return max(v.voted_at or "" for v in graded.votes)


def _row(graded: Grade) -> dict[str, Any]:
    """A counted media's values: category and attributes (a dispute as "disputed"), state and month."""
    row: dict[str, Any] = {"category": graded.category.value if graded.state != DISPUTED else DISPUTED,
                           "state": graded.state, "month": _grade_time(graded)[:7]}
    for name in ATTRIBUTES:
        value = graded.attributes[name]
        row[name] = DISPUTED if value.state == DISPUTED else value.value
    return row


def _groups_of(row: dict[str, Any], groups: tuple[AgeGroup, ...]) -> list[str]:
    if row["age_band"] == DISPUTED:
        return [DISPUTED]
    found = [g.name for g in groups if row["age_band"] in g.bands]
    return found or [OTHER_AGES]


def _orders(query: StatsQuery) -> dict[str, Callable[[str], Any]]:
    """The sort key of each dimension's values where they have an order (a dimension not named here: sorted):
    categories most serious first (the profile's severity), age bands and groups youngest first, the attributes'
    values as the votes list them; "disputed" last."""
    order = {name: _ranked([*values, DISPUTED]) for name, values in VOCABULARIES.items()}
    order["state"] = _ranked(list(STATUSES))
    order["age_group"] = _ranked([*(g.name for g in query.age_groups), OTHER_AGES, DISPUTED])
    order["category"] = lambda code: (code == DISPUTED, severity_key(query.scheme, code))
    return order


def _ranked(values: list[str]) -> Callable[[str], Any]:
    rank = {value: n for n, value in enumerate(values)}
    return lambda value: (rank.get(value, len(rank)), value)


def _share(count: int, whole: int) -> dict[str, float]:
    """`count` as a fraction of `whole` (6 decimals) and a percent rounded half up to one decimal from the exact
    ratio, as a study rounds (a float's 0.05 may sit just below it)."""
    if not whole:
        return {"share": 0.0, "percent": 0.0}
    percent = (Decimal(count * 100) / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return {"share": round(count / whole, 6), "percent": float(percent)}


def _shares(counts: Counter, whole: int, key: Callable[[str], Any] | None = None) -> dict[str, dict[str, Any]]:
    """Each value's count and share of `whole`, ordered by `key` (else sorted)."""
    return {value: {"count": counts[value], **_share(counts[value], whole)} for value in sorted(counts, key=key)}


def _media_in(conn: Connection, query: StatsQuery, counted: list[Grade]) -> set[str]:
    """The media of `counted` that are entries of the query's set or items of its case, by any hash they share
    (the set's entries are looked up by the graded media's hashes, and the case's items read streamed, so memory
    follows the grades, not the set or case)."""
    if query.set_name is not None:
        try:
            target = get_set(conn, query.set_name)
        except StoreError:
            raise GradingError(f"no hash set called {query.set_name!r}", field="set") from None
        return {media for media, _ in _entries_of(conn, counted, entry.c.set_id == target.id, ())}
    by_hash = {(name, g.hashes[name]): g.media for g in counted for name in _DIGESTS if name in g.hashes}
    return {by_hash[(name, item[name].lower())] for item in _case_items(Path(query.case_dir)) for name in _DIGESTS
            if isinstance(item.get(name), str) and (name, item[name].lower()) in by_hash}


def _case_items(case_dir: Path) -> Iterator[dict[str, Any]]:
    report = case_dir / "report.json"
    try:
        with open(report, "rb") as fp:
            for item in ijson.items(fp, "items.item", use_float=True):
                if isinstance(item, dict):
                    yield item
    except FileNotFoundError:
        raise GradingError(f"no report.json in {case_dir}: not a scan's case directory", field="case") from None
    except ijson.JSONError as exc:
        raise FormatError(f"not valid JSON: {exc}", str(report)) from exc


def _entries_of(conn: Connection, graded: list[Grade], where: Any, columns: Iterable[Any]) -> Iterator[tuple[str, Any]]:
    """(media key, entry row) of every entry sharing a hash with a graded media, in chunks of media."""
    chunk = 200
    for start in range(0, len(graded), chunk):
        part = graded[start:start + chunk]
        by_hash = {(name, g.hashes[name]): g.media for g in part for name in _DIGESTS if name in g.hashes}
        clauses = [entry.c[name].in_([bytes.fromhex(v) for (kind, v) in by_hash if kind == name])
                   for name in _DIGESTS if any(kind == name for kind, _ in by_hash)]
        if not clauses:
            continue
        query = select(*(entry.c[name] for name in _DIGESTS), *columns).where(or_(*clauses), where)
        for row in live.rows(conn, query):
            seen = set()
            for name in _DIGESTS:
                value = row._mapping[name]
                media = by_hash.get((name, bytes(value).hex())) if value is not None else None
                if media is not None and media not in seen:
                    seen.add(media)
                    yield media, row
