"""`hashwarden url add|remove|check|list|import|export` as a user runs them (contract: `url check` exits 1 when
a URL is listed, 0 when none is; `--json` lines `{"input", "listed", "entry"?}`)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import hw


def test_add_check_remove(tmp_path: Path) -> None:
    db = tmp_path / "db"
    added = hw("url", "add", "HTTP://Example.ORG/%2561.jpg", "--kind", "image", "--category", "A", db=db)
    entry = added.stdout.split()[0]
    assert added.stdout.split()[1] == "example.org/a.jpg" and len(entry) == 32
    hw("url", "add", "http://example.org/gallery/page.html", "--kind", "path", db=db)
    again = hw("url", "add", "http://example.org/a.jpg", "--kind", "image", db=db)
    assert "already listed" in again.stderr and again.stdout.split()[0] == entry

    listed = hw("url", "check", "http://EXAMPLE.org/a.jpg#x", db=db, check=False)
    assert listed.returncode == 1 and f"(entry {entry})" in listed.stdout
    clean = hw("url", "check", "http://example.org/b.jpg", db=db, check=False)
    assert clean.returncode == 0 and "not listed" in clean.stdout
    lines = "http://example.org/gallery/x/y.jpg\nhttp://example.net/\r\njavascript:alert(1)\n"
    as_json = hw_stdin(db, lines, "url", "check", "--json", "-")
    assert as_json.returncode == 1
    answers = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(a["input"], a["listed"]) for a in answers] == [("http://example.org/gallery/x/y.jpg", True),
                                                           ("http://example.net/", False),
                                                           ("javascript:alert(1)", False)]
    assert "entry" in answers[0] and "entry" not in answers[1] and "javascript" in answers[2]["error"]
    assert "example.org" not in answers[0]["entry"]  # an opaque id, never the entry's text
    refused = hw("url", "check", "javascript:alert(1)", db=db, check=False)
    assert refused.returncode == 2 and "refused" in refused.stderr

    appealed = hw("url", "appeal", "http://example.org/gallery/", "--kind", "path", "--state", "open", db=db)
    assert appealed.stdout.split()[1:] == ["appeal", "open"]
    assert hw("url", "appeal", "http://example.org/nope/", "--kind", "path", "--state", "open", db=db,
              check=False).returncode == 1
    removed = hw("url", "remove", "http://example.org/gallery/", "--kind", "path", "--reason", "taken down", db=db)
    assert "removed 1" in removed.stdout
    assert hw("url", "check", "http://example.org/gallery/x/y.jpg", db=db, check=False).returncode == 0
    history = [json.loads(line) for line in hw("url", "list", "--removed", "--json", db=db).stdout.splitlines()]
    assert [(h["expression"], h.get("removed_reason"), h["appeal"]) for h in history] == [
        ("example.org/a.jpg", None, "none"), ("example.org/gallery/", "taken down", "open")]


def test_an_empty_list_is_refused_not_answered(tmp_path: Path) -> None:
    db = tmp_path / "db"
    hw("url", "add", "http://example.org/a.jpg", "--kind", "image", db=db)
    hw("url", "remove", "http://example.org/a.jpg", "--kind", "image", db=db)
    empty = hw("url", "check", "http://example.org/a.jpg", db=db, check=False)
    assert empty.returncode == 1 and empty.stdout == "" and "UrlListError: the URL list is empty" in empty.stderr
    missing = hw("url", "check", "http://example.org/a.jpg", db=tmp_path / "nowhere", check=False)
    assert missing.returncode == 1 and missing.stdout == ""


def test_import_export_round_trip_and_hostile_files(tmp_path: Path) -> None:
    db, other = tmp_path / "db", tmp_path / "other"
    source = tmp_path / "in.csv"
    source.write_text("url,kind,category,source\nhttp://example.org/a.jpg,image,A,hotline\n"
                      "http://example.org/g/,path,B,\njavascript:alert(1),page,,\n", encoding="utf-8")
    refused = hw("url", "import", str(source), db=db, check=False)
    assert refused.returncode == 1 and f"{source}:4" in refused.stderr  # the bad row named, nothing added
    assert hw("url", "list", "--json", db=db, check=False).stdout == ""
    source.write_text("url,kind,category,source\nhttp://example.org/a.jpg,image,A,=HYPERLINK(1)\n"
                      "http://example.org/g/,path,B,\n", encoding="utf-8")
    assert "added 2" in hw("url", "import", str(source), db=db).stdout
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"out.{fmt}"
        hw("url", "export", "-o", str(out), "--format", fmt, db=db)
        assert "added 2" in hw("url", "import", str(out), db=other if fmt == "csv" else tmp_path / "o2").stdout
    assert "'=HYPERLINK(1)" in (tmp_path / "out.csv").read_text()  # a formula defused in the export
    assert [json.loads(line)["expression"] for line in hw("url", "list", "--json", db=other).stdout.splitlines()] \
        == ["example.org/a.jpg", "example.org/g/"]
    hw("url", "export", "-o", str(tmp_path / "plain.txt"), "--format", "expressions", db=db)
    hw("url", "export", "-o", str(tmp_path / "hashes.txt"), "--format", "sha256", db=db)
    assert (tmp_path / "plain.txt").read_text() == "example.org/a.jpg\nexample.org/g/\n"
    import hashlib
    assert (tmp_path / "hashes.txt").read_text().split() == [
        hashlib.sha256(b"example.org/a.jpg").hexdigest(), hashlib.sha256(b"example.org/g/").hexdigest()]
    long_line = tmp_path / "long.jsonl"
    long_line.write_text(json.dumps({"url": "http://example.org/" + "a" * 70_000, "kind": "page"}) + "\n")
    too_long = hw("url", "import", str(long_line), db=db, check=False)
    assert too_long.returncode == 1 and "line longer than" in too_long.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"url": "http://example.org/x", "kind": "page"}\n{"url": 5, "kind": "page"}\n[1]\n')
    assert f"{bad}:2" in hw("url", "import", str(bad), db=db, check=False).stderr


def hw_stdin(db: Path, text: str, *args: str):  # noqa: ANN201 - CompletedProcess
    import os
    import subprocess
    import sys

    env = {**os.environ, "HASHWARDEN_DB": str(db), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "hashwarden", *args], input=text.encode(), capture_output=True,
                          env=env)
