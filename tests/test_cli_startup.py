"""Start-up: a command imports only what it needs (issue 21: `--help`, `hash` and `scan` start in <= 0.25 s).

Checked as the modules a fresh interpreter holds after the command, never as a time: what a command imports is
what its start-up costs, and a heavy library (NumPy, SQLAlchemy, PyAV, FastAPI, TUF, Pillow) that slips back into
an eager import fails here on any machine, fast or slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("numpy", "sqlalchemy", "alembic", "av", "PIL", "fastapi", "starlette", "uvicorn", "tuf",
         "securesystemslib", "httpx", "pytsk3", "pyewf", "libarchive", "hashwarden.store", "hashwarden.index",
         "hashwarden.leads.across", "hashwarden.report", "hashwarden.scan.pipeline")
# What `--help` may not load either: the command modules are read for their docstrings, nothing they run.
HEAVY_FOR_HELP = HEAVY + ("hashwarden.scan", "hashwarden.signals", "hashwarden.evidence")

_RUN = """
import json, sys
sys.argv = ["hashwarden", *json.loads(sys.argv[1])]
from hashwarden.cli import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\n" + json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def modules_after(*args: str) -> set[str]:
    """The modules loaded by `hashwarden ARGS` in a fresh interpreter (the command's own output is ignored)."""
    run = subprocess.run([sys.executable, "-c", _RUN, json.dumps(args)], capture_output=True, text=True,
                         timeout=120)
    return set(json.loads(run.stderr.strip().rsplit("\n", 1)[-1]))


def loaded(modules: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(name for name in heavy if name in modules)


def test_help_loads_no_heavy_library_and_no_command_body() -> None:
    modules = modules_after("--help")
    assert "hashwarden.cli.media" in modules  # the listing reads the commands' docstrings...
    assert loaded(modules, HEAVY_FOR_HELP) == []  # ...and nothing a command runs


def test_hash_of_a_small_file_loads_no_heavy_library(tmp_path: Path) -> None:
    small = tmp_path / "notes.txt"
    small.write_text("not an image\n")
    modules = modules_after("hash", str(small))
    assert "hashwarden.scan.worker" in modules  # it did hash
    assert loaded(modules, HEAVY + ("rich",)) == []  # JSON lines only: the consoles are made when printed to


def test_hash_of_an_image_loads_the_decoder_only(tmp_path: Path) -> None:
    """An 8-bit photo goes from Pillow to the PDQ engine without NumPy (each scan worker would pay its import)."""
    from hashwarden.demo.synthetic import save, scene

    save(scene(1), tmp_path / "photo.png")
    modules = modules_after("hash", str(tmp_path / "photo.png"))
    assert "PIL" in modules and "hashwarden.leads.metadata" in modules  # decoded, and its tags read
    assert loaded(modules, tuple(name for name in HEAVY if name != "PIL")) == []


@pytest.mark.parametrize("command", [["scan", "--help"], ["hash", "--help"], ["set", "--help"]])
def test_a_command_s_help_loads_only_its_own_module(command: list[str]) -> None:
    modules = modules_after(*command)
    assert loaded(modules, HEAVY) == []
    others = {f"hashwarden.cli.{name}" for name in ("serve", "distribution", "url_list", "grading")}
    assert modules & others == set()


def test_the_lazy_table_is_what_the_command_modules_register() -> None:
    """cli/lazy.py COMMANDS names every sub-command with the modules that register it, and nothing else."""
    import typer

    from hashwarden.cli import common, lazy

    lazy.load_modules()
    commands = {info.name for info in common.app.registered_commands}
    groups = {name for name in lazy.COMMANDS if isinstance(lazy.group_app(name), typer.Typer)}
    assert commands | groups == set(lazy.COMMANDS)
    for name, modules in lazy.COMMANDS.items():
        if name in groups:
            app = lazy.group_app(name)
            assert app is not None
            defined_in = {info.callback.__module__ for info in app.registered_commands}
        else:
            defined_in = {info.callback.__module__ for info in common.app.registered_commands if info.name == name}
        assert defined_in == {f"hashwarden.cli.{module}" for module in modules}, name


def test_every_lazily_loaded_command_runs_and_lists_as_before() -> None:
    """A command looked up through the root runs its own help, and the listing shows each command's summary."""
    from typer.testing import CliRunner

    from hashwarden.cli import app, lazy

    runner = CliRunner()
    listing = runner.invoke(app, ["--help"], terminal_width=200)
    assert listing.exit_code == 0
    for name in lazy.COMMANDS:
        assert f" {name} " in listing.output, name
        result = runner.invoke(app, [name, "--help"], terminal_width=200)
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output
    assert "Hash files: one JSON object per file per line" in listing.output
    assert "Create and list hash sets." in listing.output


def test_a_mistyped_command_is_suggested_from_every_command() -> None:
    from typer.testing import CliRunner

    from hashwarden.cli import app

    result = CliRunner().invoke(app, ["hsh"], terminal_width=200)
    assert result.exit_code == 2
    assert "No such command 'hsh'. Did you mean 'hash'?" in result.output


def test_scan_against_a_store_at_head_does_not_load_alembic_or_postgresql(tmp_path: Path) -> None:
    """Opening a store already at the newest schema is one query (store/db.HEAD_REVISION), not Alembic's reading of
    every migration script; an SQLite store never loads SQLAlchemy's PostgreSQL dialects, which the schema's
    partial indexes did by naming `postgresql_where` (~0.05 s); and a --quiet scan prints nothing, so it loads no
    Rich (~0.02 s): a scan's fixed start-up (issue 21)."""
    from hashwarden.store import open_store

    db = tmp_path / "store.db"
    open_store(f"sqlite:///{db}").dispose()  # made and migrated once, as an import does
    folder = tmp_path / "evidence"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image\n")
    modules = modules_after("scan", str(folder), "--case", "c", "--out", str(tmp_path / "out"), "--workers", "1",
                            "--allow-empty", "--quiet", "--db", str(db))
    assert "hashwarden.scan.pipeline" in modules  # it did scan
    assert (tmp_path / "out" / "report.json").is_file()
    assert loaded(modules, ("alembic", "sqlalchemy.dialects.postgresql", "rich")) == []


def test_scan_workers_started_from_the_console_script_do_not_load_the_cli(tmp_path: Path) -> None:
    """`multiprocessing` runs the console script again in every worker it spawns (as `__mp_main__`); its
    `from hashwarden.cli import main` must not load Typer, Rich and the root's options there: each of the scan's
    workers paid ~0.1 s for them, on the cores the scan needs. Seen in the import log of the parent and its two
    workers (PYTHONPROFILEIMPORTTIME, inherited): the command's modules once, the worker's module three times."""
    import os
    import shutil

    script = shutil.which("hashwarden", path=str(Path(sys.executable).parent))
    assert script is not None  # the console script of this environment (the editable install)
    folder = tmp_path / "evidence"
    folder.mkdir()
    for n in range(4):
        (folder / f"notes{n}.txt").write_text(f"not an image {n}\n")
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    run = subprocess.run([script, "--db", str(tmp_path / "store.db"), "scan", str(folder), "--case", "c", "--out",
                          str(tmp_path / "out"), "--workers", "2", "--allow-empty", "--quiet"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if line.startswith("import time:")]
    assert imported.count("hashwarden.scan.worker") == 3  # the parent and both workers
    assert imported.count("hashwarden.cli.root") == 1
    assert imported.count("hashwarden.cli.common") == 1
    assert imported.count("typer") == 1
