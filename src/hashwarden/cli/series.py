"""`hashwarden series create|list|link` and `hashwarden victim create|list|link`: series and victims by code and
flag, never personal data, and their links to media (store/series.py).

`series list --json` and `victim list --json` print one JSON object per record (scripts read them):
series `{"code", "name", "agency", "notes", "created", "media", "victims"}`, victim `{"code", "identified",
"agency", "date", "created", "series", "media"}`.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from hashwarden.cli.common import DbOption, engine_for, out, series_app, victim_app

HashArgument = Annotated[Optional[str], typer.Argument(
    metavar="[HASH]", help="md5, sha1 or sha256 of the media, the kind by length (a PDQ hash: --pdq).")]
Md5Option = Annotated[Optional[str], typer.Option("--md5", help="MD5 of the media.")]
Sha1Option = Annotated[Optional[str], typer.Option("--sha1", help="SHA-1 of the media.")]
Sha256Option = Annotated[Optional[str], typer.Option("--sha256", help="SHA-256 of the media.")]
PdqOption = Annotated[Optional[str], typer.Option("--pdq", help="PDQ hash of the media (64 hex).")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per record.")]


@series_app.command("create")
def series_create(
    code: Annotated[str, typer.Argument(help="The series' code (letters, digits, . _ / -), unique.")],
    name: Annotated[Optional[str], typer.Option("--name", help="The series' name as investigators know it.")] = None,
    agency: Annotated[Optional[str], typer.Option("--agency", help="The agency that keeps the series.")] = None,
    notes: Annotated[Optional[str], typer.Option("--notes", help="Notes (no personal data).")] = None,
    db: DbOption = None,
) -> None:
    """Record a series (audited).

    Example: hashwarden series create S-0042 --name "Blue room" --agency NCA
    """
    from hashwarden.store.series import create_series

    with engine_for(db).begin() as conn:
        create_series(conn, code, name, agency, notes)
    out.print(f"series {escape(code)} created", highlight=False)


@series_app.command("list")
def series_list(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Every series, with how many media and which victims are linked to it."""
    from hashwarden.store.series import list_series

    with engine_for(db, create=False).connect() as conn:
        found = list_series(conn)
    _show(found, as_json, ("code", "name", "agency", "media", "victims"))


@series_app.command("link")
def series_link(
    code: Annotated[str, typer.Argument(help="The series' code.")],
    hash_value: HashArgument = None,
    set_name: Annotated[Optional[str], typer.Option(
        "--set", help="Link the entries of this hash set with the hashes given (all its entries without any), each "
                      "by all its hashes.")] = None,
    md5: Md5Option = None, sha1: Sha1Option = None, sha256: Sha256Option = None, pdq: PdqOption = None,
    db: DbOption = None,
) -> None:
    """Link a media item, named by its hashes, or entries of a set, to a series (audited): matches and exports of
    entries sharing a hash with linked media carry the series' code.

    Example: hashwarden series link S-0042 --sha256 9f86d0...; hashwarden series link S-0042 --set series-list
    """
    from hashwarden.grading.series import link_series
    from hashwarden.grading.votes import given_hashes

    hashes = given_hashes(hash_value, md5=md5, sha1=sha1, sha256=sha256, pdq=pdq)
    with engine_for(db).begin() as conn:
        linked = link_series(conn, code, hashes, set_name)
    if len(linked) == 1:
        media, new = linked[0]
        out.print(f"{escape(media)} {'linked to' if new else 'was already linked to'} series {escape(code)}",
                  highlight=False)
        return
    new = sum(1 for _, made in linked if made)
    out.print(f"{len(linked)} media of set {escape(str(set_name))} linked to series {escape(code)} ({new} new)",
              highlight=False)


@victim_app.command("create")
def victim_create(
    code: Annotated[str, typer.Argument(help="The victim's code (letters, digits, . _ / -), unique.")],
    identified: Annotated[bool, typer.Option("--identified", help="The victim has been identified.")] = False,
    agency: Annotated[Optional[str], typer.Option("--agency", help="The identifying agency.")] = None,
    date: Annotated[Optional[str], typer.Option("--date", help="When the victim was identified (YYYY-MM-DD).")]
    = None,
    db: DbOption = None,
) -> None:
    """Record a victim by code and flag only (audited): no name, date of birth or other personal data.

    Example: hashwarden victim create V-0007 --identified --agency NCA --date 2026-03-01
    """
    from hashwarden.store.series import create_victim

    with engine_for(db).begin() as conn:
        create_victim(conn, code, identified, agency, date)
    out.print(f"victim {escape(code)} created ({'identified' if identified else 'not identified'})",
              highlight=False)


@victim_app.command("list")
def victim_list(as_json: JsonOption = False, db: DbOption = None) -> None:
    """Every victim: code, flag, identifying agency and date, linked series and media."""
    from hashwarden.store.series import list_victims

    with engine_for(db, create=False).connect() as conn:
        found = list_victims(conn)
    _show(found, as_json, ("code", "identified", "agency", "date", "series", "media"))


@victim_app.command("link")
def victim_link(
    code: Annotated[str, typer.Argument(help="The victim's code.")],
    hash_value: HashArgument = None,
    series: Annotated[Optional[str], typer.Option("--series", help="Link the victim to this series.")] = None,
    md5: Md5Option = None, sha1: Sha1Option = None, sha256: Sha256Option = None, pdq: PdqOption = None,
    db: DbOption = None,
) -> None:
    """Link a victim to a series (--series) or to a media item named by its hashes (audited): matches and exports
    of that media say whether its victims are identified.

    Example: hashwarden victim link V-0007 --series S-0042
    """
    from hashwarden.grading.series import link_victim
    from hashwarden.grading.votes import given_hashes

    hashes = given_hashes(hash_value, md5=md5, sha1=sha1, sha256=sha256, pdq=pdq)
    with engine_for(db).begin() as conn:
        linked, new = link_victim(conn, code, series, hashes)
    target = f"series {linked}" if series is not None else linked
    out.print(f"victim {escape(code)} {'linked to' if new else 'was already linked to'} {escape(target)}",
              highlight=False)


def _show(records: list, as_json: bool, columns: tuple[str, ...]) -> None:  # noqa: ANN001 - Series or Victim
    if as_json:
        for record in records:
            sys.stdout.write(json.dumps(record.as_json()) + "\n")
        return
    table = Table(*columns)
    for record in records:
        shown = record.as_json()
        table.add_row(*(escape(_text(shown[name])) for name in columns))
    out.print(table)


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(value) or "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
