"""A scan killed with SIGKILL and resumed gives the same report.json, byte for byte, as an uninterrupted one.

Nothing already committed is hashed again; custody.json lists both runs. `--resume` refuses a different case or
different sources, and a scan never writes into a case directory that already holds one without `--resume`.

Every image is a benign synthetic scene (hashwarden.demo.synthetic); the other files are short made-up text.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hashwarden.demo.synthetic import save, scene, variant
from hashwarden.signals import HashOptions, hash_stream
from hashwarden.store import create_set, open_store
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord

HASHWARDEN = Path(sys.executable).with_name("hashwarden")
IMAGES = 400
OTHERS = 24


@dataclass(frozen=True)
class Evidence:
    root: Path
    db: Path
    files: int


def _run(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # A wide COLUMNS keeps Rich from wrapping long paths inside the messages checked here.
    env = {**os.environ, "COLUMNS": "1000"}
    return subprocess.run([str(HASHWARDEN), *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


def _scan_args(root: Path, out: Path, db: Path, *extra: str, case: str = "2026-RESUME") -> list[str | Path]:
    return ["scan", root, "--case", case, "--out", out, "--workers", "1", "--db", db, "--allow-empty", *extra]


def _committed(case_db: Path) -> int | None:
    """Items committed so far in a running scan's case.db (read-only), or None if it cannot be read yet."""
    if not case_db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{case_db}?mode=ro", uri=True, timeout=0.1)
        try:
            return int(conn.execute("SELECT count(*) FROM item").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def _runs(case_db: Path) -> list[tuple[int, int, str | None]]:
    conn = sqlite3.connect(f"file:{case_db}?mode=ro", uri=True)
    try:
        return [tuple(row) for row in conn.execute("SELECT id, hashed, finished FROM run ORDER BY id")]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    base = tmp_path_factory.mktemp("resume")
    root = base / "seized"
    for i in range(IMAGES):
        folder = root / f"dcim{i % 7}"
        image = scene(5000 + i, (200, 150))
        if i % 3:
            save(image, folder / f"img_{i:04d}.jpg", "JPEG")
        else:
            save(image, folder / f"img_{i:04d}.png", "PNG")
    for i in range(OTHERS):
        path = root / "docs" / f"note_{i:02d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"note number {i}\n" * (i + 1))
    (root / "docs" / "empty.dat").write_bytes(b"")
    files = IMAGES + OTHERS + 1

    db = base / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            create_set(conn, "alert-test", "alert", source="test", category_scheme="test-scheme")
            create_set(conn, "benign-test", "ignorable", source="test")
        exact = [(root / "dcim1" / "img_0001.jpg"), (root / "dcim3" / "img_0003.png"), (root / "docs" / "note_05.txt")]
        records = [
            EntryRecord(md5=hashlib.md5(p.read_bytes()).hexdigest(), category=str(n)) for n, p in enumerate(exact)
        ]
        # Perceptual entries from altered copies (never placed in the folder): found through PDQ.
        for seed, kind in ((5010, "rot90"), (5020, "reencoded")):
            buffer = io.BytesIO()
            variant(scene(seed, (200, 150)), kind).save(buffer, format="PNG")
            signals = hash_stream(io.BytesIO(buffer.getvalue()), HashOptions())
            records.append(EntryRecord(pdq=signals.pdq, pdq_quality=signals.pdq_quality, category="B"))
        import_entries(engine, "alert-test", records, {"file": "test", "format": "test"})
        benign = root / "docs" / "note_00.txt"
        import_entries(
            engine, "benign-test", [EntryRecord(sha256=hashlib.sha256(benign.read_bytes()).hexdigest())],
            {"file": "test", "format": "test"},
        )
    finally:
        engine.dispose()
    return Evidence(root, db, files)


@pytest.mark.heavy
def test_killed_and_resumed_scan_gives_the_same_report(evidence: Evidence, tmp_path: Path) -> None:
    out1, out2 = tmp_path / "out1", tmp_path / "out2"
    reference = _run(*_scan_args(evidence.root, out1, evidence.db))
    assert reference.returncode == 0, reference.stderr
    report1 = (out1 / "report.json").read_bytes()
    summary = json.loads(report1)["summary"]
    assert summary["items"] == evidence.files
    assert summary["known"] >= 3 and summary["ignorable"] == 1  # the sets do match something

    process = subprocess.Popen(
        [str(HASHWARDEN), *map(str, _scan_args(evidence.root, out2, evidence.db))],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    committed = None
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            committed = _committed(out2 / "case.db")
            if committed and committed < evidence.files:
                os.kill(process.pid, signal.SIGKILL)
                break
            if process.poll() is not None:
                pytest.fail(f"scan ended (rc {process.returncode}) before it could be killed mid-way: {committed}")
            time.sleep(0.01)
        else:
            pytest.fail("no partial commit seen within 300 s")
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (out2 / "report.json").exists()
    after_kill = _committed(out2 / "case.db")
    assert after_kill is not None and 0 < after_kill < evidence.files, after_kill
    killed_runs = _runs(out2 / "case.db")
    assert killed_runs == [(1, after_kill, None)]  # the run counted exactly what it committed

    resumed = _run(*_scan_args(evidence.root, out2, evidence.db, "--resume"))
    assert resumed.returncode == 0, resumed.stderr

    assert (out2 / "report.json").read_bytes() == report1
    runs = _runs(out2 / "case.db")
    assert len(runs) == 2
    assert sum(hashed for _id, hashed, _finished in runs) == evidence.files  # nothing recorded was hashed again
    assert runs[1][1] == evidence.files - after_kill < evidence.files
    assert runs[0][2] is None and runs[1][2] is not None
    custody = json.loads((out2 / "custody.json").read_text(encoding="utf-8"))
    assert [(r["id"], r["hashed"]) for r in custody["runs"]] == [(1, after_kill), (2, evidence.files - after_kill)]
    assert custody["runs"][0]["finished"] is None and custody["runs"][1]["finished"]
    assert "--resume" not in custody["runs"][0]["command"] and "--resume" in custody["runs"][1]["command"]
    assert custody["report_sha256"] == hashlib.sha256(report1).hexdigest()
    assert custody["sources"][0]["files"] == evidence.files
    assert custody["sources"][0]["unchanged"] is True


# --------------------------------------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def finished_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A small completed scan: (source, out, db)."""
    base = tmp_path_factory.mktemp("refusals")
    root = base / "seized"
    for i in range(3):
        save(scene(7000 + i, (64, 48)), root / f"p{i}.jpg", "JPEG")
    (root / "readme.txt").write_text("hello\n")
    out, db = base / "out", base / "hw.db"
    done = _run(*_scan_args(root, out, db))
    assert done.returncode == 0, done.stderr
    return root, out, db


def _unchanged(out: Path, before: bytes) -> None:
    assert (out / "report.json").read_bytes() == before
    assert len(_runs(out / "case.db")) == 1


def test_resume_with_other_sources_is_refused(finished_case: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, out, db = finished_case
    before = (out / "report.json").read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x\n")

    done = _run(*_scan_args(other, out, db, "--resume"))

    assert done.returncode == 1, done.stdout + done.stderr
    assert "ScanError" in done.stderr and "same case and sources" in done.stderr
    assert "Traceback" not in done.stderr
    _unchanged(out, before)


def test_resume_with_an_extra_source_is_refused(finished_case: tuple[Path, Path, Path], tmp_path: Path) -> None:
    root, out, db = finished_case
    before = (out / "report.json").read_bytes()
    other = tmp_path / "other"
    other.mkdir()

    done = _run("scan", root, other, "--case", "2026-RESUME", "--out", out, "--workers", "1", "--db", db, "--resume",
                "--allow-empty")

    assert done.returncode == 1
    assert "same case and sources" in done.stderr
    _unchanged(out, before)


def test_resume_with_another_case_name_is_refused(finished_case: tuple[Path, Path, Path]) -> None:
    root, out, db = finished_case
    before = (out / "report.json").read_bytes()

    done = _run(*_scan_args(root, out, db, "--resume", case="2026-OTHER"))

    assert done.returncode == 1, done.stdout + done.stderr
    assert "ScanError" in done.stderr and "same case and sources" in done.stderr
    _unchanged(out, before)


def test_scan_into_an_existing_case_directory_without_resume_is_refused(
    finished_case: tuple[Path, Path, Path],
) -> None:
    root, out, db = finished_case
    before = (out / "report.json").read_bytes()

    done = _run(*_scan_args(root, out, db))

    assert done.returncode == 1, done.stdout + done.stderr
    assert "ScanError" in done.stderr and "already holds a scan" in done.stderr and "--resume" in done.stderr
    _unchanged(out, before)


def test_resume_while_the_scan_runs_is_a_one_line_error(tmp_path: Path) -> None:
    """Two scans of one case directory at once would collide in case.db: the second is refused in one line."""
    import subprocess
    import sys

    from hashwarden.scan.case import CaseLock

    out = tmp_path / "case"
    out.mkdir()
    (tmp_path / "evidence").mkdir()
    (tmp_path / "evidence" / "a.txt").write_bytes(b"a")
    lock = CaseLock(out)  # what a running scan holds
    try:
        done = subprocess.run([sys.executable, "-m", "hashwarden", "scan", str(tmp_path / "evidence"), "--case", "C",
                               "--out", str(out), "--resume", "--quiet", "--db", str(tmp_path / "hw.db"), "--allow-empty"],
                              capture_output=True, text=True, timeout=120)
    finally:
        lock.release()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "is being scanned right now" in done.stderr and f"process {__import__('os').getpid()}" in done.stderr


def test_ctrl_c_says_how_to_resume(tmp_path: Path) -> None:
    """An examiner who interrupts a scan is told what is kept and how to go on."""
    import signal
    import time

    evidence = tmp_path / "evidence"
    for d in range(40):
        (evidence / f"d{d}").mkdir(parents=True)
        for i in range(500):
            (evidence / f"d{d}" / f"{i}.txt").write_bytes(b"%d-%d" % (d, i))
    out = tmp_path / "case"
    proc = subprocess.Popen([str(HASHWARDEN), *map(str, _scan_args(evidence, out, tmp_path / "hw.db", "--quiet"))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    # interrupted once it has recorded items (hashing, its handler in place), not a fixed time after case.db
    # appears: a fixed time let a fast scan of these 20,000 small files end first
    while not _committed(out / "case.db") and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, f"exit {proc.returncode} (0: the scan ended before the interrupt): {stderr}"
    assert "interrupted" in stderr and "--resume" in stderr and "Traceback" not in stderr
