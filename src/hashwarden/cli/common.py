"""What every command group shares: the Typer apps, the Rich consoles (data never read as markup or emoji),
the exit codes, the common options, opening the hash database and the progress bar.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any, Optional

import typer

from hashwarden.config import database_url
from hashwarden.cli.lazy import LazyGroup

# --install-completion / --show-completion for bash, zsh, fish. The groups below are not added here: the root
# (`LazyGroup`, cli/lazy.py) loads each when it is first asked for, with the modules that fill it.
app = typer.Typer(no_args_is_help=True, cls=LazyGroup)
set_app = typer.Typer(no_args_is_help=True, help="Create and list hash sets.")
import_app = typer.Typer(no_args_is_help=True, help="Import hash lists into a set (all or nothing).")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
export_app = typer.Typer(no_args_is_help=True, help="Export a hash set (or a scan case) as a list file.")
agency_app = typer.Typer(no_args_is_help=True, help="Agencies (forces, hotlines, platforms) using the service.")
user_app = typer.Typer(no_args_is_help=True, help="Service users and their API keys.")
remote_app = typer.Typer(no_args_is_help=True, help="Use a hashwarden service: look hashes up, submit cases.")
cases_app = typer.Typer(no_args_is_help=True, help="Cases submitted to the service.")
grading_app = typer.Typer(no_args_is_help=True, help="Grades reconciled from reviewers' votes (`hashwarden grade`).")
series_app = typer.Typer(no_args_is_help=True, help="Series of known material: codes, and the media linked to them.")
victim_app = typer.Typer(no_args_is_help=True, help="Victims by code and identified flag (no personal data).")
publish_app = typer.Typer(help="Publish hash sets to subscribers as a signed TUF repository (`hashwarden subscribe`).")
url_app = typer.Typer(no_args_is_help=True, help="URLs the Safe Browsing way (canonical forms, lookup expressions) and the URL list.")
self_report_app = typer.Typer(no_args_is_help=True, help="Self-reports: hashes young people sent from the self-hash "
                              "page (/selfhash/), and their review.")


class LazyConsole:
    """A Rich console made on its first use: Rich's import (~0.03 s) is paid by a command that prints through it,
    not by every command (a `--quiet` scan, `hash`, which write JSON or nothing).

    Data (set names, paths, categories) is never Rich markup or emoji: `escape` it, and no `:a:` becomes a picture.
    """

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Any = None

    @property
    def console(self) -> Any:
        """The Rich console itself (made now): what Rich's own objects are given, since a progress bar's live
        display enters it as a context manager, which this stand-in's attribute lookup cannot serve."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, emoji=False)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)


out = LazyConsole()
err = LazyConsole(stderr=True)


class ExitCode(enum.IntEnum):
    OK = 0
    FATAL = 1
    USAGE = 2


@dataclass(frozen=True)
class RootOptions:
    """What the root command was given that its subcommands use (`ctx.obj`, which click hands down to every
    subcommand's context): `hashwarden --db X set list` means the same as `hashwarden set list --db X`."""

    db: str | None = None


def _db_or_root(ctx: typer.Context, value: Optional[str]) -> Optional[str]:
    """A command's own --db, else the root command's (None on the root itself, whose ctx.obj is not set yet)."""
    root = ctx.obj if isinstance(ctx.obj, RootOptions) else RootOptions()
    return value if value is not None else root.db


DbOption = Annotated[
    Optional[str],
    typer.Option("--db", callback=_db_or_root,
                 help="Hash database: a path or SQLAlchemy URL (default $HASHWARDEN_DB or ./hashwarden.db)."),
]
PdqThreshold = Annotated[int, typer.Option("--pdq-threshold", help="PDQ match distance (<=).")]
PdqMinQuality = Annotated[int, typer.Option("--pdq-min-quality", help="Minimum PDQ quality to match on.")]
SecondsPerHash = Annotated[float, typer.Option(
    "--seconds-per-hash", min=0.0, help="Videos: hash one frame per this many seconds (0 = every frame).")]
VideoQueryPercent = Annotated[float, typer.Option(
    "--vpdq-query-percent", min=0.0, max=100.0, help="Videos: share of the video's frames that must match a known one.")]
VideoComparedPercent = Annotated[float, typer.Option(
    "--vpdq-compared-percent", min=0.0, max=100.0, help="Videos: share of the known video's frames that must be matched.")]


def engine_for(db: str | None, create: bool = True):  # noqa: ANN202 - sqlalchemy Engine, imported lazily
    """The hash database. Commands that only read or check pass `create=False`: a database that does not exist
    is then refused, never made (a mistyped --db must not turn into an empty database)."""
    from hashwarden.store import open_store

    return open_store(database_url(db), create=create)


AllowEmpty = Annotated[bool, typer.Option(
    "--allow-empty", help="Go on when the database does not exist or holds no alert entry (every item would be "
                          "unknown): to hash and list evidence without matching.")]


# What makes Rich treat a pipe as a terminal (versions differ: FORCE_TERMINAL before Rich 14, then TTY_COMPATIBLE
# and FORCE_COLOR): where one is set, Rich is asked.
_FORCED_TERMINAL = ("TTY_COMPATIBLE", "FORCE_COLOR", "FORCE_TERMINAL")


def show_progress(quiet: bool) -> bool:
    """Whether to draw a progress bar: on a terminal, not with --quiet, not in CI. Rich's answer (`is_terminal`)
    is asked only of a stderr that may be one, so a command writing to a pipe or a file does not load Rich to learn
    that it is not."""
    if quiet or os.environ.get("CI"):
        return False
    if not sys.stderr.isatty() and not any(name in os.environ for name in _FORCED_TERMINAL):
        return False
    return err.is_terminal


class RichProgress:
    """Rich progress bar with items/s and ETA, on stderr."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("[progress.data.speed]{task.fields[rate]}"),
            TimeRemainingColumn(), console=err.console, transient=False,
        )
        self._task = None

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def phase(self, description: str, total: int | None) -> None:
        if self._task is not None:
            self._progress.update(self._task, visible=True)
        self._task = self._progress.add_task(description, total=total, rate="")

    def advance(self, count: int = 1) -> None:
        self._progress.advance(self._task, count)
        speed = self._progress.tasks[-1].speed
        self._progress.update(self._task, rate=f"{speed:,.1f} items/s" if speed else "")


@contextlib.contextmanager
def lines_in_out(hashes: Path, output: Path | None) -> Iterator[tuple[IO[bytes], IO[str]]]:
    """The JSON lines to read (`-`: stdin, as bytes) and where to write the answered lines (None: stdout), closed
    afterwards (never stdin or stdout): the two ends of `match` and `remote lookup`. A path that cannot be opened
    (missing, a directory, not allowed) is a usage error naming it."""
    source = sys.stdin.buffer if str(hashes) == "-" else _opened(hashes, "rb", "HASHES")
    try:
        target = sys.stdout if output is None else _opened(output, "w", "--output")
        try:
            yield source, target
        finally:
            if target is not sys.stdout:
                target.close()
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def _opened(path: Path, mode: str, param_hint: str) -> IO[Any]:
    try:
        return open(path, mode, encoding=None if "b" in mode else "utf-8")
    except OSError as exc:
        raise typer.BadParameter(f"cannot {'read' if 'r' in mode else 'write'} {path}: {exc.strerror or exc}",
                                 param_hint=param_hint) from exc
