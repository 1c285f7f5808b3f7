"""The hostile corpus (tests/corpus/hostile.py) scanned by the real CLI in a subprocess, under a wall-clock limit,
with the peak memory of the scan and its worker processes measured.

One scan over the whole corpus, as an examiner would run it: it must end (exit 0, report.json written), every
crafted input must appear in the report, memory must stay bounded, and each input's own expectation is a test
of its own, so a failure names the attack that got through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hostile import INPUTS, Expect, build, missing_tools

HASHWARDEN = Path(sys.executable).with_name("hashwarden")
WORKERS = 2
TIMEOUT_S = 600  # the whole corpus: ~35 MB on disk, far more if expanded
PEAK_RSS_LIMIT = 3 << 30  # bytes, the scan and its 2 workers together


@dataclass
class Scan:
    expects: dict[str, Expect]
    returncode: int | None
    seconds: float
    peak_rss: int  # bytes, summed over the scan's process tree, sampled every 0.1 s
    stderr: str
    report: dict[str, Any] | None

    @property
    def items(self) -> dict[str, dict[str, Any]]:
        return {i["path"]: i for i in (self.report or {}).get("items", [])}

    def outcome(self) -> str:
        return (f"exit {self.returncode} after {self.seconds:.0f} s, peak RSS {self.peak_rss / 2**20:.0f} MiB; "
                f"stderr: {self.stderr[-1500:]}")


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants, from /proc (no dependency on psutil)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fp:
                fields = fp.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> Scan:
    if missing_tools():
        pytest.fail(f"tools missing, install the Debian packages (make test does): {' '.join(missing_tools())}")
    base = tmp_path_factory.mktemp("hostile")
    expects = build(base / "corpus")
    out, db = base / "out", base / "hw.db"
    command = [str(HASHWARDEN), "scan", str(base / "corpus"), "--case", "HOSTILE", "--out", str(out), "--quiet",
               "--allow-empty",
               "--db", str(db), "--workers", str(WORKERS)]
    started = time.monotonic()
    peak = 0
    with open(base / "stderr.txt", "w+b") as err:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            while proc.poll() is None:
                peak = max(peak, _tree_rss(proc.pid))
                if time.monotonic() - started > TIMEOUT_S:
                    os.killpg(proc.pid, 9)  # the scan's own process group, started above
                    proc.wait()
                    break
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, 9)
                proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    seconds = time.monotonic() - started
    report_path = out / "report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None
    return Scan(expects, proc.returncode, seconds, peak, stderr, report)


@pytest.mark.heavy
def test_scan_ends_within_time_and_writes_the_report(scan: Scan) -> None:
    assert scan.returncode == 0 and scan.report is not None, scan.outcome()


@pytest.mark.heavy
def test_peak_memory_is_bounded(scan: Scan) -> None:
    print(scan.outcome())  # shown with -s: the figures quoted in notes
    assert scan.peak_rss < PEAK_RSS_LIMIT, scan.outcome()


@pytest.mark.heavy
def test_every_crafted_input_is_in_the_report(scan: Scan) -> None:
    assert scan.report is not None, scan.outcome()
    listed = set(scan.items) | {s["path"] for s in scan.report.get("skipped", [])}
    missing = [name for name in scan.expects
               if not any(p == name or p.startswith((name + "/", name + "!/")) for p in listed)]
    assert missing == [], missing


def _under(items: dict[str, dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    return {p: i for p, i in items.items() if p == name or p.startswith((name + "/", name + "!/"))}


@pytest.mark.heavy
@pytest.mark.parametrize("make", INPUTS, ids=[make.__name__ for make in INPUTS])
def test_crafted_input_outcome(scan: Scan, make) -> None:  # noqa: ANN001 - a generator from hostile.INPUTS
    """Each input's own expectation (see its docstring in hostile.py for the attack)."""
    assert scan.report is not None, scan.outcome()
    expect = next(e for e in scan.expects.values() if e.attack == (make.__doc__ or "").strip().splitlines()[0])
    items = _under(scan.items, expect.name)
    problems = []
    for path, digest in expect.found.items():
        if items.get(path, {}).get("md5") != digest:
            problems.append(f"{path!r} not found with md5 {digest} (has {items.get(path, {}).get('md5')})")
    for suffix, digest in expect.found_suffix.items():
        if not any(p.endswith(suffix) and i.get("md5") == digest for p, i in items.items() if p != expect.name):
            problems.append(f"no item under {expect.name!r} ending {suffix!r} with md5 {digest}")
    if expect.error and not any(i.get("error") for i in items.values()):
        problems.append("no error on the input or on anything under it")
    skipped = {s["path"] for s in scan.report.get("skipped", [])}
    problems += [f"{path!r} not listed as skipped" for path in expect.skipped if path not in skipped]
    if expect.distinct and len([p for p in items if p != expect.name]) < expect.distinct:
        problems.append(f"{len(items) - 1} items under it, {expect.distinct} distinct members expected")
    problems += [f"{p!r} holds the host file read through a link" for p, i in items.items() if i.get("md5") in expect.not_md5]
    problems += [f"{p!r} has no PDQ hash" for p in expect.pdq if not items.get(p, {}).get("pdq")]
    summary = {p: (i.get("status"), i.get("md5"), i.get("error")) for p, i in list(items.items())[:12]}
    assert problems == [], f"{expect.attack}\n" + "\n".join(problems) + f"\nreport items: {summary}"
