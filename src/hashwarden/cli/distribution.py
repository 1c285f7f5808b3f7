"""`hashwarden publish ...` and `hashwarden subscribe`: hash sets and the URL list to subscribers through a signed
TUF repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from hashwarden.cli.common import app, publish_app, out, DbOption, engine_for
from hashwarden.config import Expiries

_EXPIRIES = Expiries()
RepoOption = Annotated[Optional[Path], typer.Option("--repo", help="The repository directory (created on first "
                                                    "publish; serve it with any web server or `serve --repo`).")]
KeysOption = Annotated[Optional[Path], typer.Option("--keys", help="The directory of the signing keys "
                                                    "(`publish keygen`), never inside the repository.")]


@publish_app.callback(invoke_without_command=True)
def publish(
    ctx: typer.Context,
    repo: RepoOption = None,
    keys: KeysOption = None,
    set_names: Annotated[Optional[list[str]], typer.Option(
        "--set", help="A set to publish (repeat for more); none (and no --urls): only re-sign the timestamp.")] = None,
    urls: Annotated[bool, typer.Option("--urls", help="Publish the URL list too (urls/: entries with their ids, "
                                       "deltas, and the expressions' SHA-256 list).")] = False,
    urls_plaintext: Annotated[bool, typer.Option("--urls-plaintext", help="Also the expressions in plaintext "
                                                 "(urls/v<N>.txt.gz; implies --urls): only where the list's "
                                                 "licence allows it.")] = False,
    timestamp_days: Annotated[float, typer.Option("--timestamp-days", min=0.0001, help="Days the timestamp stays "
                                                  "valid (re-publish daily).")] = _EXPIRIES.timestamp_days,
    snapshot_days: Annotated[float, typer.Option("--snapshot-days", min=0.0001)] = _EXPIRIES.snapshot_days,
    targets_days: Annotated[float, typer.Option("--targets-days", min=0.0001)] = _EXPIRIES.targets_days,
    root_days: Annotated[float, typer.Option("--root-days", min=0.0001)] = _EXPIRIES.root_days,
    db: DbOption = None,
) -> None:
    """Publish sets (and with --urls the URL list) as a new version (full snapshot and delta) in a signed TUF
    repository; a list unchanged since its last version is left as it is.

    Example: hashwarden publish --repo /srv/hw-repo --keys ~/hw-keys --set alerts --set graded --urls
    """
    if ctx.invoked_subcommand is not None:
        return
    if repo is None or keys is None:
        raise typer.BadParameter("--repo and --keys are required (or a subcommand: keygen, rotate)")
    from hashwarden.distribution import publish as publish_sets

    expiries = Expiries(root_days, targets_days, snapshot_days, timestamp_days)
    result = publish_sets(engine_for(db, create=False), repo, keys, set_names or [], expiries, urls=urls,
                          urls_plaintext=urls_plaintext)
    for done in result.sets + ([result.urls] if result.urls else []):
        change = f" (delta: {done.removed:,} removed, {done.added:,} added)" if done.version > 1 else ""
        shown = "the URL list" if done is result.urls else escape(done.name)
        out.print(f"published {shown} version {done.version}: {done.entries:,} entries{change}")
    for name in result.unchanged:
        out.print(f"{escape(name)}: unchanged since its last version")
    if result.urls_unchanged:
        out.print("the URL list: unchanged since its last version")
    versions = ", ".join(f"{role} {version}" for role, version in result.versions.items())
    out.print(f"repository {escape(result.repo)}: {versions}", highlight=False)


@publish_app.command("keygen")
def publish_keygen(out_dir: Annotated[Path, typer.Option("--out", help="Directory for the four roles' keys (created "
                                                          "0700; files 0600).")]) -> None:
    """Make Ed25519 keys for the root, targets, snapshot and timestamp roles; keep them off the repository (root's
    ideally offline)."""
    from hashwarden.distribution import keygen

    for role, keyid in keygen(out_dir).items():
        out.print(f"{role}: {escape(str(out_dir))}/{role}.pem (key id {keyid})", highlight=False)


@publish_app.command("rotate")
def publish_rotate(
    role: Annotated[str, typer.Option("--role", help="root, targets, snapshot or timestamp.")],
    repo: RepoOption = None,
    keys: KeysOption = None,
) -> None:
    """Replace a role's key: a new root version trusts the new key (the old one is kept beside it as .old);
    subscribers holding an older root follow on their next subscribe."""
    from hashwarden.distribution import rotate_key

    if repo is None or keys is None:
        raise typer.BadParameter("--repo and --keys are required")
    versions = rotate_key(repo, keys, role)
    out.print(f"{escape(role)} key replaced; root version {versions['root']}, timestamp {versions['timestamp']}")


@app.command("subscribe")
def subscribe(
    repo: Annotated[str, typer.Option("--repo", help="The repository: an http(s) URL or a directory (a copy on "
                                      "removable media).")],
    root: Annotated[Path, typer.Option("--root", help="The publisher's root.json, handed over out of band (trusted "
                                       "on first use; later root versions are verified from it).")],
    no_urls: Annotated[bool, typer.Option("--no-urls", help="Leave the URL list alone even when the repository "
                                          "publishes one.")] = False,
    db: DbOption = None,
) -> None:
    """Bring the local sets, and the URL list when the repository publishes one, up to the published versions (all
    or nothing); tampered, rolled-back, expired or mixed metadata is refused with the database unchanged.

    Example: hashwarden subscribe --repo https://hw.example.org/repo --root root.json --db station.db
    """
    from hashwarden.distribution import subscribe as subscribe_to

    result = subscribe_to(engine_for(db), repo, root, urls=not no_urls)
    for done in result.updated + ([result.urls] if result.urls else []):
        start = "new" if done.old is None else f"version {done.old}"
        shown = "the URL list" if done is result.urls else escape(done.name)
        out.print(f"{shown}: {start} -> version {done.new} ({done.how}: {done.removed:,} removed, "
                  f"{done.added:,} added)")
    for name in result.current:
        out.print(f"{escape(name)}: current")
    if result.urls_current:
        out.print("the URL list: current")
    if not result.updated and not result.current and not result.urls and not result.urls_current:
        out.print("the repository publishes no set yet")
