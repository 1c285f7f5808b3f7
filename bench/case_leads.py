"""Cross-case leads at service scale: a new case's unknown items searched against every stored case's unknown items.

Builds a store (SQLite, in a temporary folder) holding one case of `--stored` unknown items with random PDQ codes
of quality 90, and a new case of `--page` items, half of them copies of stored codes with a few bits flipped (so a
lead each), half random. Measured, in one process:
  read      `CaseCodes.load`: every stored unknown code read from case_item and indexed (what the service does once
            per process after the cases change), median of `--rounds`
  page      `case_leads` of the new case's `--page` items with that index (a page of GET /v1/cases/{id}/leads)
  baseline  the same search as a NumPy brute-force scan: XOR + popcount of each query against every stored code

Correctness every round: the leads found equal the brute force's (the same stored items within distance 31). Printed
last: `page vs brute force: N x`.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from hashwarden.config import PDQ_MATCH_THRESHOLD  # noqa: E402
from hashwarden.leads.across import CaseCodes, case_leads  # noqa: E402
from hashwarden.store import open_store  # noqa: E402
from hashwarden.store.cases import save_case  # noqa: E402
from hashwarden.store.identities import create_agency, create_user  # noqa: E402

_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--page", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}")
    rng = np.random.default_rng(7)
    stored = rng.integers(0, 256, size=(args.stored, 32), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(args.page, 32), dtype=np.uint8)
    for i in range(0, args.page, 2):  # every other query: a stored code with 8 bits flipped
        queries[i] = stored[rng.integers(args.stored)]
        for bit in rng.choice(256, 8, replace=False):
            queries[i, bit // 8] ^= 1 << (bit % 8)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.db"
        engine = open_store(f"sqlite:///{path}")
        with engine.begin() as conn:
            create_agency(conn, "Force B")
            create_user(conn, "bob", "Force B", "examiner")
            old = save_case(conn, "Force B", "bob", {"case": "stored", "items": []})
        db = sqlite3.connect(path)
        db.executemany("INSERT INTO case_item (case_id, position, status, pdq, pdq_quality, details) "
                       "VALUES (?, ?, 'unknown', ?, 90, ?)",
                       ((old, i, stored[i].tobytes(), f'{{"path": "s{i}"}}') for i in range(args.stored)))
        db.commit()
        db.close()
        with engine.begin() as conn:
            new = save_case(conn, "Force B", "bob", {"case": "new", "items": [
                {"path": f"q{i}", "status": "unknown", "media": "image", "pdq": queries[i].tobytes().hex(),
                 "pdq_quality": 90, "matches": []} for i in range(args.page)]})
        reads, pages, brutes = [], [], []
        for _ in range(args.rounds):
            with engine.connect() as conn:
                start = time.perf_counter()
                codes = CaseCodes.load(conn)
                reads.append(time.perf_counter() - start)
                start = time.perf_counter()
                rows = case_leads(conn, new, "Force B", args.page, codes=codes)
                pages.append(time.perf_counter() - start)
            start = time.perf_counter()
            truth = [set(np.flatnonzero(_POPCOUNT[np.bitwise_xor(stored, query)].sum(axis=1, dtype=np.int32)
                                        <= PDQ_MATCH_THRESHOLD).tolist()) for query in queries]
            brutes.append(time.perf_counter() - start)
            found = [{int(path[1:]) for lead in row["leads"] if lead["by"] == "pdq" for case in lead["cases"]
                      for path in case["paths"]} for row in rows]
            if found != truth:
                raise SystemExit("the leads differ from the brute force")
        engine.dispose()
    print(f"stored unknown codes: {args.stored:,}; page: {args.page} items, {sum(map(len, truth))} hits")
    print(f"read: median {statistics.median(reads):.2f} s ({', '.join(f'{r:.2f}' for r in reads)})")
    print(f"page: median {1000 * statistics.median(pages):.1f} ms; brute force: median "
          f"{1000 * statistics.median(brutes):.0f} ms")
    print(f"page vs brute force: {statistics.median(brutes) / statistics.median(pages):.1f} x")


if __name__ == "__main__":
    main()
