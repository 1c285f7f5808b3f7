"""`make serve` (README): the service on the demo's hash database, `make demo` first when that database is absent,
and the commands it prints to create a user do create one."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hashwarden.demo import run as demo

PROJECT = Path(__file__).resolve().parents[2]


def recipe(makefile: str, target: str) -> list[str]:
    return [line.strip() for line in makefile.split(f"\n{target}:", 1)[1].split("\n\n", 1)[0].splitlines()[1:]]


def test_make_serve_serves_the_demo_database() -> None:
    makefile = (PROJECT / "Makefile").read_text()
    demo_out = re.search(r"hashwarden demo --out (\S+)$", "\n".join(recipe(makefile, "demo")), re.MULTILINE)
    assert re.search(r"^DEMO_DB := (\S+)$", makefile, re.MULTILINE).group(1) == f"{demo_out.group(1)}/{demo.DATABASE}"
    lines = recipe(makefile, "serve")
    assert lines[0] == "@test -f $(DEMO_DB) || $(MAKE) demo"
    assert lines[-1] == "$(BIN)/hashwarden serve --db $(DEMO_DB)"
    assert "`make serve`" in (PROJECT / "README.md").read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_serve_runs_the_demo_only_when_its_database_is_absent(tmp_path: Path) -> None:
    """A dry run (`make -n`; the `$(MAKE) demo` line still runs, as a dry run too), with DEMO_DB pointed at a file
    that is absent, then present."""
    def dry_run(database: Path) -> str:
        return subprocess.run(["make", "-n", "serve", f"DEMO_DB={database}"], cwd=PROJECT, capture_output=True,
                              text=True, timeout=60, check=True).stdout

    absent = dry_run(tmp_path / "absent.db")
    (tmp_path / "present.db").write_bytes(b"")
    present = dry_run(tmp_path / "present.db")
    assert "hashwarden demo --out demo-output" in absent and "hashwarden demo" not in present
    assert f"hashwarden serve --db {tmp_path / 'present.db'}" in present


def test_the_printed_commands_create_a_user(tmp_path: Path) -> None:
    """The recipe's echoed hashwarden commands, run as printed on a new database, create an agency and an
    examiner whose key is printed."""
    lines = recipe((PROJECT / "Makefile").read_text(), "serve")
    commands = [re.fullmatch(r'@echo "\s*(.*)"', line).group(1) for line in lines
                if line.startswith("@echo") and "$(BIN)/hashwarden" in line]
    assert len(commands) == 2
    env = {name: value for name, value in os.environ.items() if not name.startswith("HASHWARDEN_")}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])
    outputs = []
    for command in commands:
        argv = command.replace("$(BIN)/hashwarden", "").replace("$(DEMO_DB)", str(tmp_path / "demo.db")).split()
        done = subprocess.run([sys.executable, "-m", "hashwarden", *argv], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    user = json.loads(outputs[-1])
    assert user["role"] == "examiner" and user["agency"] == "Demo" and len(user["key"]) > 20
