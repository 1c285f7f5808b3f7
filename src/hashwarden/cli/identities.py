"""`hashwarden agency ...` and `hashwarden user ...`: who may use the service, and their API keys; `hashwarden cases
purge`: the agencies' case retention applied.

`user create` and `user rotate` print the key once, as one JSON object on stdout (a fixed contract: scripts read
it); only its salted hash is stored.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from hashwarden.cli.common import agency_app, cases_app, user_app, out, DbOption, engine_for


_RETENTION_HELP = "Days the agency's submitted cases are kept; older ones are purged (default: kept until deleted)."


@agency_app.command("create")
def agency_create(
    name: str,
    retention_days: Annotated[int | None, typer.Option("--retention-days", min=1, help=_RETENTION_HELP)] = None,
    db: DbOption = None,
) -> None:
    """Create an agency (a force, a hotline, a platform). Example: hashwarden agency create "Hotline A"
    --retention-days 365"""
    from hashwarden.store.identities import create_agency

    with engine_for(db).begin() as conn:
        create_agency(conn, name, retention_days)
    out.print(f"created agency {escape(name)}")


@agency_app.command("retention")
def agency_retention(
    name: str,
    days: Annotated[int, typer.Argument(min=1, help="Days the agency's cases are kept from now on.")],
    db: DbOption = None,
) -> None:
    """Set how long an agency's cases are kept (audited); older ones go at the next purge (the service's, at its
    start and hourly, or `hashwarden cases purge`)."""
    from hashwarden.store.identities import set_retention

    with engine_for(db, create=False).begin() as conn:
        set_retention(conn, name, days)
    out.print(f"agency {escape(name)}: cases kept {days} day(s)")


@cases_app.command("purge")
def cases_purge(db: DbOption = None) -> None:
    """Delete every case older than its agency's retention (each deletion audited with its id and item count)."""
    from hashwarden.store.cases import purge_expired

    with engine_for(db, create=False).begin() as conn:
        purged = purge_expired(conn)
    out.print(f"purged {len(purged)} case(s)" + (f": ids {', '.join(str(i) for i, _ in purged)}" if purged else ""))


@user_app.command("create")
def user_create(
    name: str,
    agency: Annotated[str, typer.Option("--agency", help="The agency the user belongs to.")],
    role: Annotated[str, typer.Option("--role", help="matcher, examiner, analyst or admin.")],
    db: DbOption = None,
) -> None:
    """Create a user and print its API key, once, as JSON: {"user", "agency", "role", "key"}.

    Example: hashwarden user create upload-filter --agency "Platform B" --role matcher
    """
    from hashwarden.store.identities import create_user

    with engine_for(db, create=False).begin() as conn:
        key = create_user(conn, name, agency, role)
    _print_key(name, agency, role, key)


@user_app.command("list")
def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per user, for scripts.")] = False,
    db: DbOption = None,
) -> None:
    """List users: agency, role, key id (never the key), when made and when revoked."""
    from hashwarden.store.identities import list_users

    with engine_for(db, create=False).connect() as conn:
        users = list_users(conn)
    if as_json:
        for u in users:
            sys.stdout.write(json.dumps({"user": u.name, "agency": u.agency, "role": u.role, "key_id": u.key_id,
                                         "created_at": u.created_at, "key_created_at": u.key_created_at,
                                         "revoked_at": u.revoked_at}) + "\n")
        return
    table = Table("user", "agency", "role", "key id", "created", "revoked")
    for u in users:
        table.add_row(*(escape(v) for v in (u.name, u.agency, u.role, u.key_id, u.created_at, u.revoked_at or "")))
    out.print(table)


@user_app.command("revoke")
def user_revoke(name: str, db: DbOption = None) -> None:
    """Revoke a user's key: refused from the next request on, in every service process."""
    from hashwarden.store.identities import revoke_user

    with engine_for(db, create=False).begin() as conn:
        revoke_user(conn, name)
    out.print(f"revoked user {escape(name)}")


@user_app.command("rotate")
def user_rotate(name: str, db: DbOption = None) -> None:
    """Replace a user's key with a new one (the old one stops working) and print it as `user create` does."""
    from hashwarden.store.identities import describe_user, rotate_user

    with engine_for(db, create=False).begin() as conn:
        key = rotate_user(conn, name)
        identity = describe_user(conn, name)
    _print_key(identity.user, identity.agency, identity.role, key)


def _print_key(user: str, agency: str, role: str, key: str) -> None:
    sys.stdout.write(json.dumps({"user": user, "agency": agency, "role": role, "key": key}) + "\n")
