"""`hashwarden remote lookup`, `remote submit` and `remote leads`: the client of a hashwarden service (remote/)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from hashwarden.cli.common import RichProgress, err, lines_in_out, out, remote_app, show_progress
from hashwarden.config import ENV_KEY, MAX_LOOKUP_ITEMS, MAX_LOOKUP_VPDQ_FRAMES, REMOTE_BATCH_ITEMS

Server = Annotated[str, typer.Option("--server", help="The service's URL, e.g. https://hashes.example.org:8443.")]
KeyFile = Annotated[Optional[Path], typer.Option(
    "--key-file", help=f"File holding the API key (default ${ENV_KEY}; never a command-line argument).")]
CaCert = Annotated[Optional[Path], typer.Option(
    "--ca-cert", help="Trust this CA certificate (PEM) for an https server with a private CA.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress, notices or summary.")]


def _client(server: str, key_file: Path | None, ca_cert: Path | None, quiet: bool):  # noqa: ANN202 - RemoteClient
    from hashwarden.remote import RemoteClient, read_key

    notice = None if quiet else (lambda text: err.print(text, markup=False, highlight=False, soft_wrap=True))
    return RemoteClient(server, read_key(key_file), ca_cert=ca_cert, notice=notice)


@remote_app.command("lookup")
def lookup_command(
    hashes: Annotated[Path, typer.Argument(help="JSON lines as `hashwarden hash` writes them (- for stdin).")],
    server: Server,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Where to write (default stdout).")] = None,
    batch: Annotated[int, typer.Option("--batch", min=1, max=MAX_LOOKUP_ITEMS, help="Lines per request.")
                     ] = REMOTE_BATCH_ITEMS,
    key_file: KeyFile = None,
    ca_cert: CaCert = None,
    quiet: Quiet = False,
) -> None:
    """Look hashes up on a service: each line back with `status` and `matches`, as `hashwarden match` writes them.

    Example: hashwarden hash upload/ | HASHWARDEN_KEY=... hashwarden remote lookup - --server https://hw:8443
    """
    from hashwarden.remote import lookup_lines

    client = _client(server, key_file, ca_cert, quiet)  # no key: refused before --output is truncated
    with lines_in_out(hashes, output) as (source, target), client, \
            (RichProgress() if show_progress(quiet) else contextlib.nullcontext()) as progress:
        if progress is not None:
            progress.phase("looking up", None)
        counts, matcher = lookup_lines(client, source, str(hashes), target, batch,
                                       progress.advance if progress is not None else None)
    if not quiet:
        if matcher.videos_without_vpdq:
            err.print(f"{matcher.videos_without_vpdq:,} video line(s) matched on digests only: more than "
                      f"{MAX_LOOKUP_VPDQ_FRAMES:,} vPDQ frames, what /v1/lookup takes for one item (use `hashwarden "
                      "match` or /v1/media for such videos)",
                      markup=False, highlight=False, soft_wrap=True)
        err.print(", ".join(f"{status}: {counts.get(status, 0):,}" for status in ("known", "ignorable", "unknown")))


@remote_app.command("submit")
def submit_command(
    case_dir: Annotated[Path, typer.Argument(help="A case directory of `hashwarden scan` (its report.json is sent).")],
    server: Server,
    key_file: KeyFile = None,
    ca_cert: CaCert = None,
) -> None:
    """Submit a scan's report.json to a service (an examiner's or analyst's key): prints `{"id": …}`.

    Example: HASHWARDEN_KEY=... hashwarden remote submit case-0001/ --server https://hw:8443
    """
    from hashwarden.remote import submit_case

    with _client(server, key_file, ca_cert, quiet=True) as client:
        answer = submit_case(client, case_dir)
    out.print(json.dumps({"id": answer.get("id")}), markup=False, highlight=False, soft_wrap=True)


@remote_app.command("leads")
def leads_command(
    case_id: Annotated[int, typer.Argument(min=1, help="The case's id, as `remote submit` printed it.")],
    server: Server,
    key_file: KeyFile = None,
    ca_cert: CaCert = None,
) -> None:
    """Print a submitted case's lead list: one JSON line per unknown item, `{"position", "path", "leads", ...}`,
    with the leads the service finds now (series, other cases, the case's own clusters and devices).

    Example: HASHWARDEN_KEY=... hashwarden remote leads 12 --server https://hw:8443
    """
    from hashwarden.remote import case_leads

    with _client(server, key_file, ca_cert, quiet=True) as client:
        for item in case_leads(client, case_id):
            out.print(json.dumps(item, ensure_ascii=False), markup=False, highlight=False, soft_wrap=True)
