"""The `hashwarden` command: thin Typer commands that parse, call one library function and render with Rich.

One module per command group (`media`, `sets`, `lists`, `audit`, `identities`, `serve`, `remote`, `grading`,
`series`, `urls`, `url_list`, `stats`, `distribution`: publish and subscribe), all on the apps of `common`;
importing them is what adds their commands, and the root (`root.py`) imports a module only when one of its commands
is run or listed (`lazy.py`), so a command starts without loading the others.

This package itself imports nothing: the console script (`from hashwarden.cli import main`) is run again as
`__mp_main__` by every process that `multiprocessing` spawns (each scan worker), which then paid for Typer, Rich
and the root's options (~0.1 s a worker, on the cores the scan needs) without ever running a command. `main` and
`app` load `root.py` when they are called or asked for.
"""

from __future__ import annotations

from typing import Any


def main() -> None:
    """Console-script entry point (`cli.root.main`).

    The garbage collector runs less often while the command loads its libraries, and the process's heap is
    settled for its exit when the command is over (`process_heap`), once the exit's exception is dropped: its
    traceback holds the command's frames and, in them, what the collection must close. A command that fails with
    an uncaught exception ends as Python ends it."""
    import sys

    from hashwarden.process_heap import collect_less_often, settle_before_exit

    collect_less_often()
    from hashwarden.cli.root import main as run

    try:
        run()
    except SystemExit as stop:
        code = stop.code
    else:
        code = None
    settle_before_exit()
    sys.exit(code)


def __getattr__(name: str) -> Any:
    """`hashwarden.cli.app`: the root Typer app, its options registered (tests and `python -m` callers use it)."""
    if name == "app":
        from hashwarden.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
