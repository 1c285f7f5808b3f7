"""The README's "URL list" block runs as written, in one shell, on files made here under its names."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def readme_block() -> str:
    section = (PROJECT / "README.md").read_text().split("## URL list\n", 1)[1].split("### The list\n", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_readme_url_block_runs_as_written(tmp_path: Path) -> None:
    (tmp_path / "reported.csv").write_text("url,kind,category\nhttp://other.example/a.jpg,image,B\n")
    (tmp_path / "urls.txt").write_text("http://host.example/albums/42/7.jpg\nhttp://clean.example/\n")
    env = {key: value for key, value in os.environ.items() if not key.startswith("HASHWARDEN_")}
    env |= {"HASHWARDEN_DB": str(tmp_path / "hashwarden.db"),
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])}
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + readme_block()], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[lines.index("listed") - 1].startswith("listed http://www.GALLERY.example/x.jpg (entry ")
    verdicts = (tmp_path / "verdicts.jsonl").read_text().splitlines()
    assert ['"listed": true' in line for line in verdicts] == [True, False]
    hashes = (tmp_path / "urls.sha256").read_text().split()
    assert hashlib.sha256(b"gallery.example/").hexdigest() in hashes and len(hashes) == 4
    zone = (tmp_path / "hotline.rpz").read_text()
    assert "gallery.example CNAME ." in zone and "host.example" not in zone
