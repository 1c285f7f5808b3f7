"""bench/urls.py runs small (every contender and the case counts; no timing is asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "urls.py"


def test_the_bench_runs_every_contender_and_counts_the_official_cases() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--urls", "1000", "--entries", "3000", "--rounds", "1"],
                         capture_output=True, text=True, timeout=300)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr[-3000:]
    assert re.search(r"corpus: 1,000 URLs \([\d,]+ in hostile forms\); list: 3,000 SHA-256 digests", out)
    assert re.search(r"hashwarden: [\d,]+ URLs/s \(median of 1, best [\d,]+\); listed [\d,]+, refused 20\n", out)
    for name in (r"hashwarden url_hashes \+ a Python set", "gglsbl", "urlcanon"):
        assert re.search(rf"{name}: [\d,]+ URLs/s .*same verdict as hashwarden for [\d.]+%", out), name
    assert re.search(r"official canonicalization cases passed: hashwarden 33/33, gglsbl \d+/33, urlcanon \d+/33", out)
    assert re.search(r"target 200,000 URLs/s: (not )?reached \(median\)", out)
    assert re.search(r"ratio hashwarden / (gglsbl|urlcanon): \d+\.\d\d", out)
