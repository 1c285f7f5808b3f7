"""The root command loads its sub-commands on demand, so a command pays only for its own imports.

Why: Typer turns every command into a Click command (reading each parameter's annotations) before it parses the
command line, and the command modules import what they render with. With 60 commands that cost more than
`hashwarden --help` itself; `hashwarden hash FILE` now loads `cli/media.py` and converts its four commands only.
`--help` lists every command from the command modules' registrations (their docstrings, the group apps' help), not
from converted commands, so the listing is as before and costs the modules' imports alone.
"""

from __future__ import annotations

import inspect
from difflib import get_close_matches
from importlib import import_module
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandInfo, DefaultPlaceholder

# Every sub-command of `hashwarden`, in the order `--help` lists them, with the `cli` modules that register it (a
# group's sub-commands may come from several). A group is the Typer app `<name>_app` of `cli/common.py` (a `-` in
# the name an `_`: `self_report_app`); any other
# name is a command its module registers on the root app. tests/test_cli_startup.py checks the table against what
# the modules register.
COMMANDS: dict[str, tuple[str, ...]] = {
    "hash": ("media",),
    "match": ("media",),
    "scan": ("media",),
    "demo": ("media",),
    "serve": ("serve",),
    "stats": ("stats",),
    "grade": ("grading",),
    "subscribe": ("distribution",),
    "set": ("sets",),
    "import": ("lists",),
    "audit": ("audit",),
    "export": ("lists", "url_list"),
    "agency": ("identities",),
    "user": ("identities",),
    "remote": ("remote",),
    "cases": ("identities",),
    "grading": ("grading",),
    "series": ("series",),
    "publish": ("distribution",),
    "victim": ("series",),
    "url": ("urls", "url_list"),
    "self-report": ("self_reports",),
}


class LazyGroup(TyperGroup):
    """The root group: a sub-command's modules are imported, and it is converted, when it is first looked up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(dict.fromkeys([*COMMANDS, *super().list_commands(ctx)]))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in COMMANDS:
            return command
        load_modules(cmd_name)
        if self._listing:
            return _summary(cmd_name)
        command = _convert(cmd_name)
        self.add_command(command, cmd_name)
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """As Typer's, but a mistyped command is matched against every command, converted or not."""
        try:
            return super().resolve_command(ctx, args)
        except Exception as error:
            message = getattr(error, "message", None)
            if getattr(self, "suggest_commands", True) and args and isinstance(message, str) \
                    and "Did you mean" not in message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    error.message = f"{message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The help lists the commands from their registrations: nothing is converted for it."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def load_modules(name: str | None = None) -> None:
    """Import the modules that register `name` (every command module when None): their decorators add it."""
    modules = COMMANDS[name] if name is not None else sorted({m for ms in COMMANDS.values() for m in ms})
    for module in modules:
        import_module(f"hashwarden.cli.{module}")


def group_app(name: str) -> typer.Typer | None:
    from hashwarden.cli import common

    found = getattr(common, f"{name.replace('-', '_')}_app", None)
    return found if isinstance(found, typer.Typer) else None


def _command_info(name: str) -> CommandInfo:
    from hashwarden.cli.common import app

    for info in app.registered_commands:
        if (info.name or info.callback.__name__.replace("_", "-")) == name:
            return info
    raise LookupError(f"no module of hashwarden.cli registers the command {name!r} (see cli/lazy.py COMMANDS)")


def _convert(name: str) -> Any:
    """The Click command (or group) of `name`, converted by Typer's public API as `app()` would convert it."""
    found = group_app(name)
    if found is not None:
        group = typer.main.get_group(found)
        group.name = name
        return group
    single = typer.Typer(add_completion=False)
    single.registered_commands.append(_command_info(name))
    return typer.main.get_command(single)


def _summary(name: str) -> TyperCommand:
    """A stand-in that carries what the command listing shows: the name, the help (its first paragraph is shown)."""
    found = group_app(name)
    if found is not None:
        help_text = _given(found.info.help)
        return TyperCommand(name=name, help=inspect.cleandoc(help_text) if help_text else None)
    info = _command_info(name)
    help_text = _given(info.help)
    return TyperCommand(name=name, help=inspect.cleandoc(help_text) if help_text else inspect.getdoc(info.callback),
                        short_help=_given(info.short_help), hidden=bool(_given(info.hidden)))


def _given(value: Any) -> Any:
    """Typer's default placeholders stand for 'not given'."""
    return value.value if isinstance(value, DefaultPlaceholder) else value
