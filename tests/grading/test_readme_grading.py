"""The README's "Grading" block runs as written, after a scan that makes the case it names; and the reviewer it
defaults to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hashwarden.demo.synthetic import save, scene
from hashwarden.grading.votes import default_reviewer
from tests.test_cli import hw

PROJECT = Path(__file__).resolve().parents[2]


def readme_block() -> str:
    section = (PROJECT / "README.md").read_text().split("## Grading", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.heavy
def test_readme_grading_block_runs_as_written(tmp_path: Path) -> None:
    db = tmp_path / "cases.db"
    save(scene(51), tmp_path / "seized" / "IMG_0002.jpg")
    hw("scan", str(tmp_path / "seized"), "--case", "2026-0042", "--out", str(tmp_path / "cases" / "2026-0042"),
       "--quiet", "--allow-empty", db=db)
    env = {key: value for key, value in os.environ.items() if not key.startswith("HASHWARDEN_")}
    env |= {"HASHWARDEN_DB": str(db), "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "COLUMNS": "200", "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])}
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + readme_block()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "set graded-uk version 1: 1 added" in done.stdout
    lines = [json.loads(line) for line in hw("grading", "status", "--json", db=db).stdout.splitlines()]
    by_state = {line["state"]: line for line in lines}
    assert set(by_state) == {"confirmed", "indicative"}
    confirmed = by_state["confirmed"]
    assert confirmed["md5"] == "d41d8cd98f00b204e9800998ecf8427e" and confirmed["reviewers"] == 3
    assert confirmed["attributes"]["age_band"] == {"state": "indicative", "value": "14-15"}


def test_the_reviewer_is_the_examiner_else_the_os_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHWARDEN_EXAMINER", " DC Jane Smith ")
    assert default_reviewer() == "DC Jane Smith"
    monkeypatch.delenv("HASHWARDEN_EXAMINER")
    monkeypatch.setattr("getpass.getuser", lambda: "someone")
    assert default_reviewer() == "someone"
