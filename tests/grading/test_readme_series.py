"""The README's "Series and victims" block runs as written, and a match then carries the linked flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_cli import hw

PROJECT = Path(__file__).resolve().parents[2]
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def readme_block() -> str:
    section = (PROJECT / "README.md").read_text().split("## Series and victims", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_readme_series_block_runs_as_written(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HASHWARDEN_")}
    env |= {"HASHWARDEN_DB": str(db), "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "COLUMNS": "200", "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])}
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n"
                           + readme_block()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    listed = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [(s["code"], s["name"], s["agency"], s["media"], s["victims"]) for s in listed] == [
        ("S-0042", "Blue room", "Force A", 1, ["V-0007"])]
    assert "V-0007" in done.stdout and "2026-03-01" in done.stdout
    (tmp_path / "known.jsonl").write_text(json.dumps({"path": "a", "md5": MD5, "category": "A"}) + "\n")
    hw("set", "create", "caid", "--kind", "alert", "--scheme", "uk-sentencing", db=db)
    hw("import", "hashes", str(tmp_path / "known.jsonl"), "--set", "caid", db=db)
    hw("match", str(tmp_path / "known.jsonl"), "-o", str(tmp_path / "out.jsonl"), db=db)
    match = json.loads((tmp_path / "out.jsonl").read_text())["matches"][0]
    assert (match["series"], match["victim_identified"]) == ("S-0042", True)
