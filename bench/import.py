"""Bulk import speed: `hashwarden import` against the sqlite3 shell's `.import`, on the same rows, side by side.

Inputs (built once under bench/.cache/import/, seeded, git-ignored):
  md5sum   5M lines `md5  files/dNNN/fileN.jpg` (an NCMEC-style MD5 list with names)
  rdsv3    an RDSv3 *minimal* SQLite with NIST's real schema (tests/formats/test_nsrl.py: FILE, PKG, ... tables,
           DISTINCT_HASH view) holding 5M FILE rows (sha256, sha1, md5, crc32, file_name, file_size, package_id)

Each round, in rotating order, on a fresh database file each time:
  hashwarden          `hashwarden import md5sum|nsrl FILE --set S --db NEW.db` in a subprocess (run by a wrapper
                      that reads its peak RSS from /proc): the whole command
                      (parse, validate every hash, bulk load, build the indexes, dedup check, audit, file SHA-256)
  sqlite3 .import     the sqlite3 command-line shell importing the same rows from CSV (exported from the same
                      input, not timed) into a table with the same columns and the same indexes as hashwarden's
                      `entry` gets for them: (set_id); (md5, set_id) WHERE md5 IS NOT NULL; likewise sha1, sha256
  hashwarden re-import  the same command again into the database it just made: must add 0 entries (idempotent)

Printed: rows/s per run, medians over the rounds, peak RSS of the hashwarden process, and the ratio lines
`ratio hashwarden / sqlite3 .import (md5sum): X.XXx` and `(rdsv3)`. Machine noise: quote medians.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.formats.test_nsrl import MINIMAL_SCHEMA  # noqa: E402  NIST's own minimal schema, byte for byte

CACHE = Path(__file__).resolve().parent / ".cache" / "import"
SQLITE3 = shutil.which("sqlite3") or "sqlite3"
SEED = 20_261_126
INDEX_SQL = {
    "md5sum": ["CREATE INDEX ix_set ON entry (set_id)",
               "CREATE INDEX ix_md5 ON entry (md5, set_id) WHERE md5 IS NOT NULL"],
    "rdsv3": ["CREATE INDEX ix_set ON entry (set_id)",
              "CREATE INDEX ix_md5 ON entry (md5, set_id) WHERE md5 IS NOT NULL",
              "CREATE INDEX ix_sha1 ON entry (sha1, set_id) WHERE sha1 IS NOT NULL",
              "CREATE INDEX ix_sha256 ON entry (sha256, set_id) WHERE sha256 IS NOT NULL"],
}
TABLE_SQL = {
    "md5sum": "CREATE TABLE entry (set_id INTEGER NOT NULL, md5 TEXT, name TEXT)",
    "rdsv3": "CREATE TABLE entry (set_id INTEGER NOT NULL, sha256 TEXT, sha1 TEXT, md5 TEXT, crc32 TEXT, "
             "file_name TEXT, file_size INTEGER, package_id INTEGER)",
}


def build_inputs(rows: int) -> dict[str, tuple[Path, Path]]:
    """(hashwarden input, CSV for the shell) per kind, built once per row count."""
    CACHE.mkdir(parents=True, exist_ok=True)
    out = {}
    md5_list, md5_csv = CACHE / f"list-{rows}.md5", CACHE / f"list-{rows}.md5.csv"
    rds, rds_csv = CACHE / f"rds-{rows}.db", CACHE / f"rds-{rows}.csv"
    rng = np.random.default_rng(SEED)
    if not md5_csv.exists():
        digests = rng.integers(0, 256, size=(rows, 16), dtype=np.uint8)
        with open(f"{md5_list}.tmp", "w") as listing, open(f"{md5_csv}.tmp", "w") as csv:
            for i in range(rows):
                hexed = digests[i].tobytes().hex()
                name = f"files/d{i % 1000:03d}/file{i}.jpg"
                listing.write(f"{hexed}  {name}\n")
                csv.write(f"1,{hexed},{name}\n")
        os.replace(f"{md5_list}.tmp", md5_list)
        os.replace(f"{md5_csv}.tmp", md5_csv)
    if not rds_csv.exists():
        digests = rng.integers(0, 256, size=(rows, 68), dtype=np.uint8)
        if rds.exists():
            rds.unlink()
        con = sqlite3.connect(rds)
        con.executescript(MINIMAL_SCHEMA)
        batch = []
        with open(f"{rds_csv}.tmp", "w") as csv:
            for i in range(rows):
                raw = digests[i].tobytes()
                row = (raw[:32].hex().upper(), raw[32:52].hex().upper(), raw[52:68].hex().upper(),
                       raw[:4].hex().upper(), f"lib{i % 5000}.dll", 1000 + i % 100_000, 200 + i % 3000)
                batch.append(row)
                csv.write("1," + ",".join(map(str, row)) + "\n")
                if len(batch) == 100_000:
                    con.executemany("INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
                    batch.clear()
        con.executemany("INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
        con.commit()
        con.close()
        os.replace(f"{rds_csv}.tmp", rds_csv)
    out["md5sum"] = (md5_list, md5_csv)
    out["rdsv3"] = (rds, rds_csv)
    return out


# The `hashwarden` command run in-process by a wrapper that reports its peak RSS (VmHWM, per process image; Linux
# carries ru_maxrss over exec, which would count this benchmark's own memory too).
WRAPPER = (
    "import re, sys\n"
    "from hashwarden.cli import main\n"
    "sys.argv = ['hashwarden', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    peak = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
    "    sys.stderr.write(f'\\nVMHWM {peak}\\n')\n"
)
PEAKS: list[int] = []


def run_hashwarden(kind: str, source: Path, db: Path) -> tuple[float, str]:
    fmt = "md5sum" if kind == "md5sum" else "nsrl"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", WRAPPER, "import", fmt, str(source), "--set", "bench",
                           "--db", str(db)], capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"hashwarden import failed: {done.stderr}")
    PEAKS.append(int(re.search(r"VMHWM (\d+)", done.stderr).group(1)) // 1024)
    return seconds, done.stdout.strip().replace("\n", " ")


def run_shell(kind: str, csv: Path, db: Path) -> float:
    con = sqlite3.connect(db)
    con.execute(TABLE_SQL[kind])
    for statement in INDEX_SQL[kind]:
        con.execute(statement)
    con.commit()
    con.close()
    start = time.perf_counter()
    subprocess.run([SQLITE3, str(db)], input=f".mode csv\n.import {csv} entry\n", text=True, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--kinds", default="md5sum,rdsv3")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}; "
          f"sqlite3 shell {subprocess.run([SQLITE3, '--version'], capture_output=True, text=True).stdout.split()[0]}")
    inputs = build_inputs(args.rows)
    kinds = args.kinds.split(",")
    times: dict[str, list[float]] = {}
    work = Path(tempfile.mkdtemp(prefix="hw-import-bench-", dir=CACHE))
    try:
        for round_number in range(args.rounds):
            for kind in kinds:
                source, csv = inputs[kind]
                order = ["hashwarden", "shell"] if round_number % 2 == 0 else ["shell", "hashwarden"]
                for who in order:
                    db = work / f"{who}-{kind}-{round_number}.db"
                    if who == "shell":
                        seconds = run_shell(kind, csv, db)
                        print(f"round {round_number + 1} {kind:7} sqlite3 .import   {args.rows / seconds:>10,.0f} rows/s")
                    else:
                        seconds, said = run_hashwarden(kind, source, db)
                        print(f"round {round_number + 1} {kind:7} hashwarden        {args.rows / seconds:>10,.0f} rows/s"
                              f"  [{said}]")
                        again, said_again = run_hashwarden(kind, source, db)
                        assert re.search(r"imported 0 entries", said_again), said_again
                        times.setdefault(f"{kind} reimport", []).append(again)
                        print(f"round {round_number + 1} {kind:7} hashwarden again  {args.rows / again:>10,.0f} rows/s"
                              f"  (idempotent: 0 added)")
                    times.setdefault(f"{kind} {who}", []).append(seconds)
                    for leftover in work.glob(f"{who}-{kind}-{round_number}.db*"):
                        leftover.unlink()
        print(f"\npeak RSS of hashwarden import (any run): {max(PEAKS):,} MB")
        for kind in kinds:
            ours = statistics.median(times[f"{kind} hashwarden"])
            theirs = statistics.median(times[f"{kind} shell"])
            again = statistics.median(times[f"{kind} reimport"])
            print(f"{kind}: hashwarden {args.rows / ours:,.0f} rows/s, re-import {args.rows / again:,.0f} rows/s, "
                  f"sqlite3 .import {args.rows / theirs:,.0f} rows/s (medians of {args.rounds})")
            print(f"ratio hashwarden / sqlite3 .import ({kind}): {theirs / ours:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
