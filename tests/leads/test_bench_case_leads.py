"""bench/case_leads.py runs small (the bench checks its leads against a brute-force scan every round)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "case_leads.py"


def test_the_bench_runs_and_agrees_with_brute_force() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--stored", "3000", "--page", "20", "--rounds", "1"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "page: 20 items, 10 hits" in run.stdout and "page vs brute force:" in run.stdout
