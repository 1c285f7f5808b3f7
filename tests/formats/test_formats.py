"""Hash-list readers: accepted forms, and malformed lines named by file and line."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from hashwarden.errors import FormatError
from hashwarden.formats import jsonl, md5sum, pdqlist
from hashwarden.store.records import EntryRecord

MD5 = "d41d8cd98f00b204e9800998ecf8427e"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PDQ_HEX = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def _read(reader, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return list(reader(io.BytesIO(data), "list.txt"))


def test_md5sum_gnu_bsd_and_types_by_length() -> None:
    records = _read(
        md5sum.read,
        f"\ufeff{MD5.upper()}  a.jpg\n{SHA1} *b.jpg\n\n# comment\nSHA256 (c d.jpg) = {SHA256}\n\\{MD5}  back\\\\slash\n",
    )
    assert [(r.md5, r.sha1, r.sha256) for r in records] == [
        (MD5, None, None), (None, SHA1, None), (None, None, SHA256), (MD5, None, None),
    ]
    assert records[2].comments == "c d.jpg" and records[0].line == 1  # the import run names the file


@pytest.mark.parametrize(
    ("reader", "text", "line", "message"),
    [
        (md5sum.read, f"{MD5}  a\nnot a hash line here\n", 2, "checksum line"),
        (md5sum.read, f"{MD5}  a\n{MD5[:30]}  b\n", 2, "30 hex"),
        (md5sum.read, b"\xff\xfe  x\n", 1, "UTF-8"),
        (pdqlist.read, f"{PDQ_HEX}\n{PDQ_HEX[:-1]}\n", 2, "PDQ"),
        (pdqlist.read, f"{PDQ_HEX},101\n", 1, "quality"),
        (jsonl.read, '{"md5": "%s"}\n{"md5": 5}\n' % MD5, 2, "string"),
        (jsonl.read, '{"md5": "%s"}\n[1]\n' % MD5, 2, "JSON object"),
        (jsonl.read, '{"md5": "%s"}\n{"path": "x"}\n' % MD5, 2, "no md5"),
        (jsonl.read, '{"md5": "%s"}\n{"md5": "%s"\n' % (MD5, MD5), 2, "JSON"),
        (jsonl.read, '{"pdq": "zz"}\n', 1, "PDQ"),
        (jsonl.read, '{"md5": "%s", "pdq_quality": 200}\n' % MD5, 1, "pdq_quality"),
        (jsonl.read, '{"md5": "%s", "pdq_quality": true}\n' % MD5, 1, "pdq_quality must be an integer .* not True"),
        (jsonl.read, '{"vpdq": [{"frame": 0, "quality": 80.0, "pdq": "%s"}]}\n' % PDQ_HEX, 1,
         "vpdq frame 0 .*quality must be an integer from 0 to 100, not 80.0"),
        (jsonl.read, '{"vpdq": [{"frame": 0, "pdq": "%s"}]}\n' % PDQ_HEX, 1, "vpdq frame 0 .*: no 'quality'"),
    ],
)
def test_malformed_lines_name_file_and_line(reader, text, line, message) -> None:
    with pytest.raises(FormatError, match=message) as info:
        _read(reader, text)
    assert info.value.line == line and str(info.value).startswith(f"list.txt:{line}:")


def test_pdq_list_reads_threatexchange_files(conformance: Path) -> None:
    folder = conformance / "threatexchange" / "pdq" / "data" / "reg-test-input"
    for name, count in (("haystack.txt", 1350), ("needles.txt", 100)):
        with open(folder / name, "rb") as fp:
            assert len(list(pdqlist.read(fp, name))) == count
    records = _read(pdqlist.read, f"{PDQ_HEX.upper()},87,extra,fields\n{PDQ_HEX}\n")
    assert [(r.pdq, r.pdq_quality) for r in records] == [(PDQ_HEX, 87), (PDQ_HEX, None)]


def test_jsonl_reads_hash_output_with_extras() -> None:
    line = (
        '{"path": "a.jpg", "size": 3, "md5": "%s", "sha1": "%s", "sha256": "%s", "media": "image", '
        '"pdq": "%s", "pdq_quality": 100, "category": 2, "series": "S", "tags": ["x"], "comments": "c", '
        '"pdq_dihedral": ["%s"]}\n' % (MD5, SHA1, SHA256, PDQ_HEX, PDQ_HEX)
    )
    (record,) = _read(jsonl.read, line)
    assert (record.md5, record.sha1, record.sha256, record.pdq, record.pdq_quality) == (MD5, SHA1, SHA256, PDQ_HEX, 100)
    assert (record.category, record.series, record.tags, record.comments, record.size) == ("2", "S", ["x"], "c", 3)
    failed = '{"path": "b.jpg", "md5": "%s", "pdq": null, "error": "truncated"}\n' % MD5
    assert _read(jsonl.read, failed)[0].md5 == MD5


def test_md5sum_fast_rows_equal_the_record_reader_and_keep_line_numbers() -> None:
    """`read_rows` (the 5M-line path) and `read` agree on every form, across chunk boundaries."""
    import io

    from hashwarden.formats.md5sum import read_rows

    lines = [f"{hashlib.md5(b'%d' % i).hexdigest()}  dir/f{i}.jpg\n" for i in range(60_000)]
    lines[30_000] = f"SHA256 (odd name.jpg) = {SHA256}\n"  # forces its chunk through the line-by-line path
    lines[45_000] = "# a comment\n"
    text = "".join(lines).encode()
    fast = [(dict(zip(batch.columns, row))) for batch in read_rows(io.BytesIO(text), "l.md5") for row in batch.rows]
    slow = list(md5sum.read(io.BytesIO(text), "l.md5"))
    assert len(fast) == len(slow) == 59_999
    by_line = {row["line"]: row for row in fast}
    for record in slow:
        row = by_line[record.line]
        digest = next(name for name in ("md5", "sha1", "sha256") if getattr(record, name))
        assert row[digest].hex() == getattr(record, digest) and row["comments"] == record.comments
    bad = text.replace(lines[50_000].encode(), b"zz" + lines[50_000][2:].encode())
    with pytest.raises(FormatError, match="l.md5:50001"):
        list(read_rows(io.BytesIO(bad), "l.md5"))


def test_md5sum_import_refuses_a_bare_64_hex_line_as_possibly_pdq(tmp_path) -> None:
    """A PDQ list imported as md5sum would be stored as SHA-256 digests and never match: refused, with the way out."""
    import pytest

    from hashwarden.errors import FormatError
    from hashwarden.formats import md5sum

    pdq = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    with pytest.raises(FormatError, match="import pdq") as caught:
        list(md5sum.read(io.BytesIO(f"{pdq}\n".encode()), "te.txt"))
    assert caught.value.line == 1 and "te.txt" in str(caught.value)
    # named lines and bare md5/sha1 (NCMEC-style lists, what hfind reads) are read as before
    records = list(md5sum.read(io.BytesIO(f"{pdq}  a.jpg\n{'a' * 32}\n{'b' * 40}\n".encode()), "ok.txt"))
    assert [r.sha256 or r.md5 or r.sha1 for r in records] == [pdq, "a" * 32, "b" * 40]
    # a nameless SHA-256 record is exported `HASH  -`, which imports again
    out = io.BytesIO()
    md5sum.write([EntryRecord(sha256=pdq)], out, digest="sha256")
    assert out.getvalue() == f"{pdq}  -\n".encode()
    assert [r.sha256 for r in md5sum.read(io.BytesIO(out.getvalue()), "x")] == [pdq]
