"""`hashwarden url canon|expressions`: the output contracts scripts rely on (cli/urls.py's docstring)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hashwarden.config import MAX_URL_BYTES

PROJECT = Path(__file__).resolve().parents[2]


def _run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
    return subprocess.run([sys.executable, "-m", "hashwarden", "url", *args], input=stdin, capture_output=True,
                          env=env, timeout=120)


def test_canon_prints_one_line_per_url_and_exits_1_after_a_refusal() -> None:
    done = _run("canon", "HTTP://www.Example.com:80/a/../b#top", "javascript:alert(1)", "www.google.com")
    assert done.stdout.decode().splitlines() == ["http://www.example.com/b", "http://www.google.com/"]
    assert done.stderr.decode() == "UrlError: 'javascript:alert(1)': scheme 'javascript' is not http or https\n"
    assert done.returncode == 1
    assert _run("canon", "http://a.example/").returncode == 0


def test_canon_json_reads_raw_lines_from_stdin() -> None:
    lines = [b"HTTP://www.Example.com:80/a/../b#top", b"javascript:alert(1)", b"http://h\xff.example/a\\b", b"",
             b"www.\xc3\xbcmlat.com", b"  http://www.google.com/  ", b"http://x.example/" + b"a" * MAX_URL_BYTES]
    stdin = b"\n".join(lines[:3]) + b"\r\n" + b"\n".join(lines[3:]) + b"\n" + b"http://last.example/no-newline"
    done = _run("canon", "--json", "-", stdin=stdin)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.decode("ascii").splitlines()]
    assert [r["canonical"] for r in records] == [
        "http://www.example.com/b", None, "http://h%FF.example/a/b", None, "http://www.xn--mlat-zra.com/",
        "http://www.google.com/", None, "http://last.example/no-newline"]
    assert records[0] == {"input": "HTTP://www.Example.com:80/a/../b#top", "canonical": "http://www.example.com/b"}
    assert records[1]["error"] == "scheme 'javascript' is not http or https"
    assert records[2]["input"] == "http://h\\xff.example/a\\\\b"  # a byte not UTF-8 as \xNN, a backslash doubled
    assert records[3] == {"input": "", "canonical": None, "error": "empty URL"}
    assert records[4]["input"] == "www.ümlat.com" and records[5]["input"] == "  http://www.google.com/  "
    assert records[6]["error"] == f"longer than {MAX_URL_BYTES:,} bytes"
    assert len(records[6]["input"]) == MAX_URL_BYTES + 1  # cut, never held whole
    assert "error" not in records[7]


def test_expressions_text_and_json() -> None:
    done = _run("expressions", "http://a.b.c/1/2.html?param=1", "http://1.2.3.4/1/")
    blocks = done.stdout.decode().split("\n\n")
    assert set(blocks[0].split()) == {"a.b.c/1/2.html?param=1", "a.b.c/1/2.html", "a.b.c/", "a.b.c/1/",
                                      "b.c/1/2.html?param=1", "b.c/1/2.html", "b.c/", "b.c/1/"}
    assert set(blocks[1].split()) == {"1.2.3.4/1/", "1.2.3.4/"}
    assert done.returncode == 0
    done = _run("expressions", "--json", "-", stdin=b"http://a.b.c/1/\ndata:,x\n")
    first, second = (json.loads(line) for line in done.stdout.decode().splitlines())
    assert first["input"] == "http://a.b.c/1/" and set(first["expressions"]) == {"a.b.c/1/", "a.b.c/", "b.c/1/",
                                                                                 "b.c/"}
    assert second == {"input": "data:,x", "expressions": None, "error": "scheme 'data' is not http or https"}
    assert done.returncode == 0
