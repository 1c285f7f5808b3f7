"""bench/service.py cannot rot: it runs end to end with a tiny store and one-second wrk runs (no timing is asserted,
only that every section ran and printed its figure), and the store it builds is cached and honest."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
BENCH = PROJECT / "bench" / "service.py"


def _bench_module():  # noqa: ANN202 - the bench script as a module
    spec = importlib.util.spec_from_file_location("bench_service", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_runs_every_section_and_prints_its_figures(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        pytest.fail("wrk missing: make test installs it (Makefile TEST_TOOLS)")
    run = subprocess.run([sys.executable, str(BENCH), "--entries", "3000", "--duration", "1", "--rounds", "1",
                          "--ceiling-seconds", "0.3", "--batch-items", "200", "--connections", "4",
                          "--few-connections", "2", "--media-connections", "2",
                          "--cache", str(tmp_path / "cache"), "--start-timeout", "120"],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(PROJECT / "src")})
    out = run.stdout
    assert run.returncode == 0, out[-3000:] + run.stderr[-3000:]
    assert out.startswith("machine: ")
    for pattern in (r"round 1 floor +[\d,]+ requests/s", r"round 1 single +[\d,]+ requests/s",
                    r"round 1 batch +[\d,]+ requests/s .* [\d,]+ items/s",
                    r"audit appends/s straight on the store .*: [\d,]+; authentications/s likewise: [\d,]+",
                    r"audit chain verified: [\d,]+ rows",
                    r"round 1 floor-few +[\d,]+ requests/s", r"round 1 single-few +[\d,]+ requests/s",
                    r"ratio service / bare FastAPI \(single lookup requests/s, 4 connections\): \d+\.\d\d "
                    r"\(target >= 0.6\)",
                    r"with 2 connections \(each client waits for its answer, audit commit included\): \d+\.\d\d; "
                    r"p99 [\d.]+ ms",
                    r"p99 single lookup: [\d.]+ ms \(target < 20 ms\)",
                    r"batch lookup: [\d,]+ items/s against 3,000 PDQ codes",
                    r"media: skipped, the service answers 404|ratio POST /v1/media / in-process hash_file .*: \d"):
        assert re.search(pattern, out), f"{pattern!r} not in:\n{out}"


def test_bench_store_is_built_once_through_the_loader_and_verifies(tmp_path: Path) -> None:
    """The store is cached by its parameters (a rerun reuses the file), recorded as an import, so the audit chain
    and the set's content digest verify, and holds every generated entry with all four hashes."""
    from sqlalchemy import func, select

    from hashwarden.store import audit, open_store
    from hashwarden.store.schema import entry

    bench = _bench_module()
    path = bench.build_store(tmp_path, 1234)
    stamp = path.stat().st_mtime_ns
    assert bench.build_store(tmp_path, 1234) == path and path.stat().st_mtime_ns == stamp
    assert bench.build_store(tmp_path, 1000) != path
    engine = open_store(f"sqlite:///{path}", create=False)
    with engine.connect() as conn:
        verified = audit.verify(conn)
        full = conn.execute(select(func.count()).select_from(entry).where(
            entry.c.md5.isnot(None), entry.c.sha1.isnot(None), entry.c.sha256.isnot(None),
            entry.c.pdq.isnot(None))).scalar_one()
    engine.dispose()
    assert verified.ok and verified.sets == 1, verified.problems
    assert full == 1234
