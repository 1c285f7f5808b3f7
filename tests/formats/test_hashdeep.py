"""hashdeep audit-file reader: header-driven columns, names with commas, comments, bad input named."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest

from hashwarden.errors import FormatError
from hashwarden.formats import ReadReport, hashdeep

MD5 = "900150983cd24fb0d6963f7d28e17f72"  # of b"abc"
SHA1 = "a9993e364706816aba3e25717850c26c9cd0d89d"
SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
TIGER = "2aab1484e8c158f2bfb8c5ff41b57a525129131c957b5f93"


def read(text: str, report: ReadReport | None = None):
    return list(hashdeep.read(io.BytesIO(text.encode()), "known.txt", report))


def test_reads_rows_comments_and_names_with_commas() -> None:
    text = (
        "%%%% HASHDEEP-1.0\r\n%%%% size,md5,sha256,filename\r\n## Invoked from: /cases\r\n## $ hashdeep -r x\r\n"
        "## \r\n"
        f"3,{MD5.upper()},{SHA256},/cases/x/a.txt\r\n"
        f"3,{MD5},{SHA256},/cases/x/odd, name,with commas.txt\r\n"
    )
    report = ReadReport()
    first, second = read(text, report)
    assert (first.md5, first.sha256, first.size, first.line) == (MD5, SHA256, 3, 6)
    assert first.attributes == {"file_name": "/cases/x/a.txt"}
    assert second.attributes["file_name"] == "/cases/x/odd, name,with commas.txt"
    assert report.meta["hashdeep_columns"] == ["size", "md5", "sha256", "filename"]
    assert report.meta["hashdeep_comments"][:2] == ["Invoked from: /cases", "$ hashdeep -r x"]


def test_other_columns_blank_hashes_and_a_second_header_block() -> None:
    text = (
        "%%%% HASHDEEP-1.0\n%%%% size,md5,sha1,sha256,tiger,filename\n"
        f"3,{MD5},{SHA1},{SHA256},{TIGER.upper()},a.txt\n"
        f",,{SHA1},,,no size.txt\n"
        "%%%% HASHDEEP-1.0\n%%%% size,sha1,filename\n"
        f"3,{SHA1},b.txt\n"
    )
    first, second, third = read(text)
    assert (first.sha1, first.attributes["tiger"]) == (SHA1, TIGER)
    assert (second.md5, second.sha1, second.size) == (None, SHA1, None)
    assert (third.sha1, third.md5, third.attributes["file_name"]) == (SHA1, None, "b.txt")


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (f"3,{MD5},{SHA256},a\n", 1, None, "a row before the '%%%% HASHDEEP-1.0' header"),
        ("%%%% HASHDEEP-1.0\n## comment\n", 2, None, "must be followed by the column line"),
        ("%%%% HASHDEEP-1.0\n%%%% size,md5,sha256\n", 2, None, "must end with 'filename'"),
        ("%%%% HASHDEEP-1.0\n%%%% size,tiger,filename\n", 2, None, "none of md5, sha1, sha256"),
        ("%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n%%%% what\n", 3, None, "unexpected header line"),
        (f"%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n3,{MD5}\n", 3, "sha256", "truncated line"),
        (f"%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n3,{MD5[:-1]},{SHA256},a\n", 3, "md5", "31 hex"),
        (f"%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\nx,{MD5},{SHA256},a\n", 3, "size", "non-negative"),
        ("%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n3,,,a\n", 3, None, "no md5, sha1 or sha256"),
    ],
)
def test_bad_input_named_by_line_and_field(text: str, line: int, field: str | None, message: str) -> None:
    with pytest.raises(FormatError, match=message) as info:
        read(text)
    assert (info.value.line, info.value.field) == (line, field)


def test_reads_what_hashdeep_writes(tmp_path: Path) -> None:
    if shutil.which("hashdeep") is None:  # a missing tool fails: it is not a pass
        pytest.fail("hashdeep missing: make test installs it (Makefile TEST_TOOLS)")
    folder = tmp_path / "files"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"abc")
    (folder / "sub" / "we,ird name.txt").write_bytes(b"abc")
    output = subprocess.run(
        ["hashdeep", "-c", "md5,sha1,sha256,tiger", "-r", "-l", "."], cwd=folder, check=True, capture_output=True,
    ).stdout
    records = list(hashdeep.read(io.BytesIO(output), "hashdeep.txt"))
    assert sorted(r.attributes["file_name"] for r in records) == ["./a.txt", "./sub/we,ird name.txt"]
    assert {(r.md5, r.sha1, r.sha256, r.attributes["tiger"], r.size) for r in records} == {(MD5, SHA1, SHA256, TIGER, 3)}
