"""Writers (md5sum, hashdeep, PDQ list): what they write reads back, and the reference tools accept it."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from hashwarden.formats import hashdeep, md5sum, pdqlist
from hashwarden.store.records import EntryRecord

PDQ_HEX = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def digests(data: bytes, **extra) -> EntryRecord:
    return EntryRecord(
        md5=hashlib.md5(data).hexdigest(), sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), **extra,
    )


RECORDS = [
    digests(b"abc", attributes={"file_name": r"C:\Windows\a b.dll"}),
    digests(b"hello", comments="from md5sum.txt"),
    EntryRecord(sha1=hashlib.sha1(b"only sha1").hexdigest()),
    digests(b"x", attributes={"file_name": "line\nbreak"}),
    EntryRecord(pdq=PDQ_HEX, pdq_quality=87),
    EntryRecord(pdq=PDQ_HEX),
]


def written(writer, records, **options) -> tuple[int, bytes]:
    fp = io.BytesIO()
    count = writer(iter(records), fp, **options)  # a one-pass iterator: the writers stream
    return count, fp.getvalue()


def test_md5sum_writes_one_digest_type_and_reads_back() -> None:
    count, data = written(md5sum.write, RECORDS)
    assert count == 3  # records without an md5 are skipped
    lines = data.decode().splitlines()
    assert lines[0] == hashlib.md5(b"abc").hexdigest() + r"  C:\Windows\a b.dll"  # TSK reads backslashes raw
    assert lines[1].endswith("  from md5sum.txt")
    assert lines[2] == "\\" + hashlib.md5(b"x").hexdigest() + r"  line\nbreak"  # GNU escaping: one line
    back = list(md5sum.read(io.BytesIO(data), "out.md5"))
    assert [r.md5 for r in back] == [r.md5 for r in RECORDS if r.md5]
    count, data = written(md5sum.write, RECORDS, digest="sha1")
    assert count == 4 and data.decode().splitlines()[2] == hashlib.sha1(b"only sha1").hexdigest()
    with pytest.raises(ValueError, match="md5, sha1 or sha256"):
        md5sum.write(RECORDS, io.BytesIO(), digest="crc32")


def test_sha256sum_check_accepts_the_output(tmp_path: Path) -> None:
    if shutil.which("sha256sum") is None:  # a missing tool fails: it is not a pass
        pytest.fail("sha256sum missing: make test installs it (Makefile TEST_TOOLS)")
    (tmp_path / "a.txt").write_bytes(b"abc")
    (tmp_path / "new\nline.txt").write_bytes(b"x")
    records = [digests(b"abc", attributes={"file_name": "a.txt"}),
               digests(b"x", attributes={"file_name": "new\nline.txt"})]
    with open(tmp_path / "list.sha256", "wb") as fp:
        assert md5sum.write(records, fp, digest="sha256") == 2
    result = subprocess.run(["sha256sum", "-c", "list.sha256"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hashdeep_columns_from_first_record_or_given_and_reads_back() -> None:
    count, data = written(hashdeep.write, RECORDS)
    text = data.decode()
    assert text.startswith("%%%% HASHDEEP-1.0\n%%%% size,md5,sha1,sha256,filename\n## ")
    assert count == 4  # the PDQ-only records have none of the columns
    back = list(hashdeep.read(io.BytesIO(data), "out.txt"))
    assert [(r.md5, r.sha1, r.sha256, r.size) for r in back] == [
        (r.md5, r.sha1, r.sha256, r.size) for r in RECORDS[:4]
    ]
    assert back[0].attributes["file_name"] == r"C:\Windows\a b.dll"
    assert back[3].attributes["file_name"] == "line?break"
    count, data = written(hashdeep.write, RECORDS, algorithms=["sha256"])
    assert count == 3 and "%%%% size,sha256,filename\n" in data.decode()
    count, data = written(hashdeep.write, [])
    assert count == 0 and "%%%% size,md5,sha256,filename" in data.decode()
    with pytest.raises(ValueError, match="among md5, sha1, sha256"):
        hashdeep.write(RECORDS, io.BytesIO(), algorithms=["tiger"])


def test_hashdeep_audit_accepts_the_output(tmp_path: Path) -> None:
    if shutil.which("hashdeep") is None:  # a missing tool fails: it is not a pass
        pytest.fail("hashdeep missing: make test installs it (Makefile TEST_TOOLS)")
    files = tmp_path / "files"
    files.mkdir()
    (files / "a.txt").write_bytes(b"abc")
    (files / "b.txt").write_bytes(b"hello")
    records = [digests(b"abc", attributes={"file_name": "./a.txt"}),
               digests(b"hello", attributes={"file_name": "./b.txt"})]
    with open(tmp_path / "known.txt", "wb") as fp:
        hashdeep.write(records, fp, algorithms=["md5", "sha256"])
    result = subprocess.run(["hashdeep", "-a", "-l", "-k", str(tmp_path / "known.txt"), "-r", "."], cwd=files,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "Audit passed" in result.stdout, result.stdout + result.stderr


def test_pdq_list_writes_hex_and_quality_and_reads_back() -> None:
    count, data = written(pdqlist.write, RECORDS)
    assert count == 2 and data.decode() == f"{PDQ_HEX},87\n{PDQ_HEX}\n"
    back = list(pdqlist.read(io.BytesIO(data), "out.pdq"))
    assert [(r.pdq, r.pdq_quality) for r in back] == [(PDQ_HEX, 87), (PDQ_HEX, None)]


def test_writers_batch_large_streams() -> None:
    many = (EntryRecord(md5=hashlib.md5(b"%d" % i).hexdigest()) for i in range(10_001))
    count, data = written(md5sum.write, many)
    assert count == 10_001 and data.count(b"\n") == 10_001
