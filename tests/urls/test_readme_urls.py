"""The README's "URL list" block runs as written and prints what its comments say; its numbers are the code's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hashwarden.config import MAX_URL_BYTES

PROJECT = Path(__file__).resolve().parents[2]
SECTION = (PROJECT / "README.md").read_text().split("### Canonical URLs and expressions", 1)[1].split("\n### ", 1)[0]


def test_the_block_runs_and_prints_what_its_comments_say(tmp_path: Path) -> None:
    block = SECTION.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    (tmp_path / "urls.txt").write_bytes(b"HTTP://Host.example/a/./b\r\njavascript:alert(1)\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(PROJECT / "src")}
    outputs = []
    for command in commands:
        done = subprocess.run(["bash", "-c", command.replace("hashwarden ", f"{sys.executable} -m hashwarden ", 1)],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (command, done.stderr)
        outputs.append(done.stdout.splitlines())
    assert outputs[0] == ["http://www.example.com/b"]
    assert outputs[1] == ["http://195.127.0.11/blah", "http://www.xn--mlat-zra.com/p"]
    assert [json.loads(line) for line in outputs[2]] == [
        {"input": "HTTP://Host.example/a/./b", "canonical": "http://host.example/a/b"},
        {"input": "javascript:alert(1)", "canonical": None, "error": "scheme 'javascript' is not http or https"}]
    assert len(outputs[3]) == 8 and outputs[3][0] == "a.b.c/" and "a.b.c/1/2.html?param=1" in outputs[3]
    assert outputs[3][1] == "a.b.c/1/" and outputs[3][-1] == "b.c/1/2.html?param=1"


def test_the_stated_limits_and_counts_are_the_codes(conformance: Path) -> None:
    from tests.urls.vectors import canon_cases

    text = " ".join(SECTION.split())
    assert f"longer than {MAX_URL_BYTES // 1024} KiB" in text
    assert f"passes all {len(canon_cases(conformance))} official test cases" in text
    assert "at most 30 lookup expressions" in text
    refused = subprocess.run([sys.executable, "-m", "hashwarden", "url", "canon", "data:,x", "http://ok.example/"],
                             env={**os.environ, "PYTHONPATH": str(PROJECT / "src")}, capture_output=True, text=True)
    assert refused.returncode == 1 and refused.stdout == "http://ok.example/\n"
    assert refused.stderr == "UrlError: 'data:,x': scheme 'data' is not http or https\n"
