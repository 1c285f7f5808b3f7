"""bench/selfhash.py cannot rot: it runs small (a 0.3 MP JPEG, one round) and prints every figure, and the page's
hash of the file equals the engine's (no timing is asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.browser
def test_bench_runs_and_prints_its_figures() -> None:
    run = subprocess.run([sys.executable, str(PROJECT / "bench" / "selfhash.py"), "--megapixels", "0.3",
                          "--rounds", "1"], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(PROJECT / "src")})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    out = run.stdout
    assert out.startswith("machine: ") and "632x474 JPEG" in out
    assert re.search(r"native +decode +[\d.]+ ms +hash +[\d.]+ ms +decode\+hash +[\d.]+ ms", out)
    assert re.search(r"browser +decode +[\d.]+ ms +hash +[\d.]+ ms +decode\+hash +[\d.]+ ms", out)
    assert re.search(r"hashes +native [0-9a-f]{64} +browser [0-9a-f]{64} +equal", out), out
    assert re.search(r"ratio browser speed / native: \d+\.\d\d$", out.strip())
