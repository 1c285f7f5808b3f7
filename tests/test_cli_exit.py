"""How a command's process ends (`hashwarden.process_heap`): its garbage collected once, then its heap frozen, so
the interpreter's exit does not traverse every imported library again (~0.1 s of every command, issue 21); and
the collector spaced out while the libraries load.

The collection is what closes the SQLite connections a command leaves to the collector (a SQLAlchemy engine's
pool lives in reference cycles): closed, SQLite checkpoints the write-ahead log into the database file and removes
it. Frozen without it, the committed writes were left in `<db>-wal` beside the database, and a copy of the
database file alone (an examiner's, a backup) would lack them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from hashwarden.process_heap import YOUNG_THRESHOLD

_RUN = """
import gc, sys
sys.argv = ["hashwarden", *sys.argv[1:]]
from hashwarden.cli import main
try:
    main()
except SystemExit:
    pass
print("young", gc.get_threshold()[0], "frozen", gc.get_freeze_count(), file=sys.stderr)
"""


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    """`hashwarden ARGS` in a fresh interpreter, as the console script runs it."""
    return subprocess.run([sys.executable, "-c", _RUN, *args], capture_output=True, text=True, timeout=120)


def test_a_scan_leaves_no_write_ahead_log_beside_the_store_or_the_case(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "note.txt").write_text("a small file\n")
    db, out = tmp_path / "store.db", tmp_path / "case"
    run = run_command("scan", str(evidence), "--case", "exit", "--out", str(out), "--allow-empty", "--quiet",
                      "--db", str(db))
    assert run.returncode == 0, run.stderr
    assert db.is_file() and (out / "case.db").is_file()
    left = sorted(path.name for path in [*tmp_path.iterdir(), *out.iterdir()] if path.name.endswith(("-wal", "-shm")))
    assert left == []
    young, frozen = (int(word) for word in run.stderr.rsplit("young", 1)[1].split()[::2])
    assert frozen > 10_000  # the heap of SQLAlchemy, Rich and the scan was frozen, not left to the exit
    assert young == YOUNG_THRESHOLD  # and the collector ran less often while they loaded


def test_a_scan_worker_settles_its_heap_when_told_to_stop() -> None:
    """A worker's exit is on the scan's path (the writer joins it): it freezes its heap before returning."""
    code = """
import gc
from multiprocessing import Pipe
from hashwarden.scan.parallel import _stream_worker
jobs_out, jobs_in = Pipe(duplex=False)
results_out, results_in = Pipe(duplex=False)
jobs_in.send(None)
_stream_worker(jobs_out, results_in, None)
print(gc.get_threshold()[0], gc.get_freeze_count())
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    young, frozen = map(int, run.stdout.split())
    assert young == YOUNG_THRESHOLD and frozen > 0
