"""`hashwarden set ...`: create, list, show, rename and delete hash sets."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from hashwarden.cli.common import set_app, out, DbOption, engine_for


@set_app.command("create")
def set_create(
    name: str,
    kind: Annotated[str, typer.Option("--kind", help="alert (known abuse material) or ignorable (known-benign).")],
    source: Annotated[str, typer.Option("--source", help="Where the list comes from (CAID, IWF, NCMEC, ...).")] = "local",
    scheme: Annotated[Optional[str], typer.Option("--scheme", help="Category scheme of its entries.")] = None,
    version: Annotated[Optional[str], typer.Option("--version", help="The list's version.")] = None,
    description: Annotated[Optional[str], typer.Option("--description")] = None,
    db: DbOption = None,
) -> None:
    """Create a hash set. Example: hashwarden set create caid-2026 --kind alert --source CAID --scheme uk-sentencing
"""
    from hashwarden.store import create_set

    with engine_for(db).begin() as conn:
        created = create_set(conn, name, kind, source, scheme, version, description)
    out.print(f"created hash set [bold]{escape(created.name)}[/] ({created.kind})")


@set_app.command("list")
def set_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per set, for scripts.")] = False,
    db: DbOption = None,
) -> None:
    """List hash sets with their entry counts."""
    from hashwarden.store import list_sets

    with engine_for(db, create=False).connect() as conn:
        sets = list_sets(conn)
    if as_json:
        for s in sets:
            sys.stdout.write(json.dumps(s.summary()) + "\n")
        return
    table = Table("name", "kind", "source", "scheme", "version", "entries")
    for s in sets:
        table.add_row(*(escape(v) for v in (s.name, s.kind, s.source, s.category_scheme or "", s.version or "")),
                      f"{s.entries:,}")
    out.print(table)


@set_app.command("show")
def set_show(
    name: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for scripts.")] = False,
    db: DbOption = None,
) -> None:
    """Show one hash set: its fields, entry count and the imports that filled it."""
    from hashwarden.store.hashsets import describe_set

    with engine_for(db, create=False).connect() as conn:
        shown = describe_set(conn, name)
    if as_json:
        sys.stdout.write(json.dumps(shown, sort_keys=True) + "\n")
        return
    for key in ("name", "kind", "source", "category_scheme", "version", "description", "entries", "unmerged"):
        out.print(f"{key}: {escape(str(shown[key]) if shown[key] is not None else '')}")
    for run in shown["imports"]:
        out.print(f"import {run['id']}: {escape(str(run['format']))} {escape(str(run['file']))} "
                  f"({run['added']:,} added) at {run['finished_at'] or run['started_at']}")


@set_app.command("rename")
def set_rename(name: str, new_name: str, db: DbOption = None) -> None:
    """Rename a hash set (audited; its recorded content moves with it)."""
    from hashwarden.store.hashsets import rename_set

    with engine_for(db, create=False).begin() as conn:
        rename_set(conn, name, new_name)
    out.print(f"renamed hash set {escape(name)} to {escape(new_name)}")


@set_app.command("delete")
def set_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the set and all its entries are deleted.")] = False,
    db: DbOption = None,
) -> None:
    """Delete a hash set and all its entries (audited). Asks for --yes."""
    from hashwarden.store.hashsets import delete_set

    if not yes:
        raise typer.BadParameter("deleting a set removes all its entries: pass --yes to confirm", param_hint="--yes")
    with engine_for(db, create=False).begin() as conn:
        removed = delete_set(conn, name)
    out.print(f"deleted hash set {escape(name)} and its {removed:,} entries")


@set_app.command("merge")
def set_merge(db: DbOption = None) -> None:
    """Fold the published deltas a subscriber keeps beside its sets (the overlay) into them (audited).

    Subscribing applies a delta to small tables beside the sets, merged later, many deltas at once: before any
    other change to the sets, when a set's share passes 10 %, or with this command, e.g. at a quiet hour. What
    the sets answer does not change; reads get a little faster."""
    from hashwarden.store.overlay import merge

    with engine_for(db, create=False).begin() as conn:
        done = merge(conn)
    out.print(f"merged {done.added:,} added and {done.removed:,} removed entries into the sets")
