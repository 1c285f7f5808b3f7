"""Third-party forensic test images (dfVFS, plaso, pytsk, py7zr; see tests/data/third_party/NOTICE), scanned and
compared file by file with what The Sleuth Kit or 7-Zip lists in the same bytes (tests/corpus/third_party.py).

Each image is its own test, so the failures name exactly which images and files hashwarden misses today.
`python tests/corpus/third_party_table.py` prints the same comparison as a table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from third_party import DATA, EVIDENCE, Evidence, compare_one, missing_tools


@pytest.fixture(scope="module", autouse=True)
def reference_tools() -> None:
    """`make test` installs the reference tools (Makefile TEST_TOOLS): without them this is a broken machine."""
    if missing_tools():
        pytest.fail(f"reference tools missing, install the Debian packages: {' '.join(missing_tools())}")


@pytest.mark.parametrize("evidence", EVIDENCE, ids=[e.name for e in EVIDENCE])
def test_every_file_the_reference_lists_is_in_the_report(evidence: Evidence, tmp_path: Path) -> None:
    result = compare_one(evidence, tmp_path)
    assert result.ok, result.describe()


def test_every_shipped_file_is_in_the_notice_and_used() -> None:
    notice = (DATA / "NOTICE").read_text(encoding="utf-8")
    shipped = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file() and p.name != "NOTICE")
    assert [p for p in shipped if p not in notice] == []
    used = {f"{e.project}/{name}" for e in EVIDENCE for name in e.files}
    assert sorted(p for p in shipped if p not in used and p.removesuffix(".xz") not in used) == []
