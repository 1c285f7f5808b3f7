"""The root of the `hashwarden` command: its global options (`_root`) and the console-script entry point (`main`).

Only HashwardenError is caught (printed as `TypeName: message`, exit 1); usage errors exit 2; anything else is a
bug and shows its traceback. Loaded by `hashwarden.cli.main` when the command runs (see the package's docstring).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from hashwarden import __version__
from hashwarden.config import ENV_EXAMINER
from hashwarden.errors import HashwardenError
from hashwarden.cli.common import app, out, err, ExitCode, DbOption, RootOptions


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    db: DbOption = None,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug log on stderr (tracebacks of item errors).")] = False,
    log_file: Annotated[Optional[Path], typer.Option("--log-file", help="Write the debug log to this file.")] = None,
    examiner: Annotated[Optional[str], typer.Option(
        "--examiner", help=f"Examiner named in the audit log (default ${ENV_EXAMINER}; without one, the OS user, "
                           "marked as such).")] = None,
) -> None:
    """hashwarden: scan seized media against a database of hashes of known abuse material."""
    from hashwarden.logs import configure_logging

    ctx.obj = RootOptions(db=db)
    if examiner is not None:  # through the environment: the library and scan workers read config.examiner()
        os.environ[ENV_EXAMINER] = examiner
    if version:
        out.print(f"hashwarden {__version__}")
        raise typer.Exit()
    configure_logging(verbose, str(log_file) if log_file else None)
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(ExitCode.USAGE)


def main() -> None:
    """Console-script entry point: usage errors exit 2 (Click's standalone mode), HashwardenError exits 1."""
    try:
        app()
    except HashwardenError as exc:
        err.print(f"{type(exc).__name__}: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(ExitCode.FATAL)
