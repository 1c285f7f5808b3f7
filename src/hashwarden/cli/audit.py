"""`hashwarden audit ...`: verify the hash-chained log and the sets' contents, sign checkpoints."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from hashwarden.cli.common import audit_app, out, err, DbOption, engine_for
from hashwarden.errors import AuditError


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[Optional[Path], typer.Option(
        "--checkpoint", help="A signed checkpoint (`audit checkpoint`): also prove nothing before it changed.")] = None,
    public_key: Annotated[Optional[Path], typer.Option(
        "--public-key", help="The key the checkpoint must be signed by (KEY.pub from `audit keygen`).")] = None,
    db: DbOption = None,
) -> None:
    """Recompute the audit chain and every set's content digest; exit 1 if a row or an entry was changed.
"""
    from hashwarden.store import audit, checkpoint as checkpoints

    with engine_for(db, create=False).connect() as conn:
        if checkpoint is None:
            result, signer = audit.verify(conn), None
        else:
            result, signer = checkpoints.verify_with(conn, checkpoint, public_key)
    _print_audit(result, signer, trusted=public_key is not None)


def _print_audit(result, signer: str | None, trusted: bool) -> None:  # noqa: ANN001 - store.audit.AuditVerification
    """The verification's notes and outcome; each problem on its own line, then the AuditError the CLI's one
    handler prints (exit 1).

    Raises:
        AuditError: a row, the chain's head or a set's entries changed.
    """
    for note in result.notes:
        err.print(f"note: {note}", markup=False, highlight=False)
    if result.ok:
        votes = f"; {result.votes} vote(s) match" if result.votes else ""
        out.print(f"audit log intact: {result.rows} rows, head {result.head_hash}; entries of {result.sets} set(s) "
                  f"match{votes}")
        if signer:
            out.print(f"checkpoint verified, signed by key {signer}" + ("" if trusted else
                      " (no --public-key given: compare this fingerprint with the examiner's key)"))
        return
    for problem in result.problems:
        err.print(f"[red]{escape(problem)}[/]", highlight=False)
    raise AuditError(f"audit log does not verify ({len(result.problems)} problems)")


@audit_app.command("checkpoint")
def audit_checkpoint(
    key: Annotated[Path, typer.Option("--key", help="Ed25519 private key (PEM) kept outside the database.")],
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Checkpoint file to write (default: standard output).")] = None,
    db: DbOption = None,
) -> None:
    """Verify the log, then sign its head and the sets' digests; keep the file outside the database."""
    from hashwarden.store import checkpoint as checkpoints

    with engine_for(db, create=False).connect() as conn:
        document = checkpoints.create(conn, checkpoints.load_private(key))
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    statement = document["statement"]
    err.print(f"checkpoint of {statement['rows']} rows (head {statement['head']}) signed by key "
              f"{document['fingerprint']}: {output}", highlight=False)


@audit_app.command("keygen")
def audit_keygen(
    out_file: Annotated[Path, typer.Option("--out", help="Private key file to create (mode 0600; KEY.pub beside it).")],
) -> None:
    """Make an Ed25519 key pair for `audit checkpoint`; keep the private key off the database's machine."""
    from hashwarden.store import checkpoint as checkpoints

    out.print(f"key {out_file} (public: {out_file}.pub), fingerprint {checkpoints.keygen(out_file)}", highlight=False)
