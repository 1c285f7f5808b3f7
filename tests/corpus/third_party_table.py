"""Print the third-party table: per image, files the reference tool lists, items in hashwarden's report, agreed
MD5s, missing and extra, and why a scan failed.

    PYTHONPATH=src python tests/corpus/third_party_table.py [--details] [NAME ...]

Each image is materialized, listed and scanned in its own temporary folder (tests/corpus/third_party.py).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from third_party import EVIDENCE, compare_one, missing_tools


def main(argv: list[str]) -> int:
    details = "--details" in argv
    names = [a for a in argv if not a.startswith("--")]
    if missing_tools():
        print(f"reference tools missing (Debian packages): {' '.join(missing_tools())}", file=sys.stderr)
        return 2
    rows = []
    print(f"| image | reference files | report items | agreed md5 | missing | extra | note |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for evidence in EVIDENCE:
        if names and evidence.name not in names:
            continue
        with tempfile.TemporaryDirectory(prefix="hw-third-party-") as tmp:
            result = compare_one(evidence, Path(tmp))
        rows.append(result)
        note = (result.error or result.note or "")[:100].replace("|", "/")
        print(f"| {evidence.name} | {result.reference} | {result.in_report} | {result.agreed} | "
              f"{len(result.missing)} | {len(result.extra)} | {note} |", flush=True)
    total = [sum(getattr(r, f) for r in rows) for f in ("reference", "in_report", "agreed")]
    print(f"| **total** | {total[0]} | {total[1]} | {total[2]} | {sum(len(r.missing) for r in rows)} | "
          f"{sum(len(r.extra) for r in rows)} | {sum(not r.ok for r in rows)} of {len(rows)} images fail |")
    if details:
        for result in rows:
            if not result.ok or result.extra:
                print(result.describe())
                for extra in result.extra:
                    print(f"  extra: {extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
