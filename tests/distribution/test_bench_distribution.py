"""bench/distribution.py runs small (it checks the subscriber's set and URL list against the publisher's after each
subscribe)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "distribution.py"


def test_the_bench_runs_and_the_subscriber_matches() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--entries", "3000", "--delta", "400",
                          "--url-entries", "1000", "--url-delta", "300"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "delta: 200 removed, 200 added" in run.stdout
    assert "subscriber holds exactly the publisher's set after each subscribe" in run.stdout
    assert "url delta: 150 removed, 150 added" in run.stdout
    assert "subscriber holds exactly the publisher's URL list after each subscribe" in run.stdout
