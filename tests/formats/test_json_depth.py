"""Deeply nested JSON (issue 14, point 16): refused at a small depth, with the byte, before a parser builds it.

ijson keeps one prefix string per open level, each as long as the path to it, so 30,000 levels of a 60 KB file
took 2.3 GB and 100,000 were killed at 24 GB; `json.loads` raises RecursionError past ~1,000 levels. Every file
here is brackets and made-up hashes written by the test.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashwarden.errors import FormatError
from hashwarden.formats import _jsonstream as js
from hashwarden.formats import jsonl
from hashwarden.formats.vics import reader
from hashwarden.report.vics_cases import case_records
from hashwarden.scan.match_hashes import match_lines

MD5 = "0123456789abcdef0123456789abcdef"
MEDIA = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"
CASES = MEDIA.replace("#Media", "#Cases")
LEVELS = 100_000


def _depth_at(data: bytes, end: int) -> int:
    """Nesting depth just after byte `end - 1`, read one character at a time (the slow, obvious way)."""
    depth, in_string, escape = 0, False, False
    for char in data[:end].decode("latin-1"):
        if in_string:
            escape, in_string = (False, True) if escape else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
    return depth


def _max_depth(data: bytes) -> int:
    return max([0] + [_depth_at(data, end) for end in range(1, len(data) + 1)])


def _records(n: int) -> str:
    return ",".join(json.dumps({"MediaID": i, "MD5": MD5, "Comments": 'a "[" note {'}) for i in range(n))


# name -> the document; each nests LEVELS deep somewhere. 700 records put the deep part past the first 64 KiB,
# which the header sniffing reads, so the streaming passes meet it themselves.
DEEP = {
    "arrays in value": lambda: '{"@odata.context":"%s","value":[%s%s]}' % (MEDIA, "[" * LEVELS, "]" * LEVELS),
    "objects in value": lambda: '{"@odata.context":"%s","value":[%s1%s]}' % (MEDIA, '{"a":' * LEVELS, "}" * LEVELS),
    "top level": lambda: "[" * LEVELS + "]" * LEVELS,
    "inside a record": lambda: '{"@odata.context":"%s","value":[{"MD5":"%s","X":%s%s}]}' % (
        MEDIA, MD5, "[" * LEVELS, "]" * LEVELS),
    "record 701 of #Media": lambda: '{"@odata.context":"%s","value":[%s,{"MD5":"%s","X":%s%s}]}' % (
        MEDIA, _records(700), MD5, "[" * LEVELS, "]" * LEVELS),
    "case fields of #Cases": lambda: '{"@odata.context":"%s","value":[{"Media":[%s],"X":%s%s}]}' % (
        CASES, _records(700), '{"a":' * LEVELS, "}" * LEVELS),
    "media of #Cases": lambda: '{"@odata.context":"%s","value":[{"CaseID":"c","Media":[%s,{"MD5":"%s","X":%s%s}]}]}' % (
        CASES, _records(700), MD5, "[" * LEVELS, "]" * LEVELS),
}

# Runs the reader in a fresh process: peak memory (VmHWM; ru_maxrss carries over from the pytest parent) and the
# error. The address-space cap turns a regression into a MemoryError in the child instead of swapping the machine.
PROBE = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
from hashwarden.errors import FormatError
from hashwarden.formats.vics import reader
try:
    list(reader.read(open(sys.argv[1], "rb"), sys.argv[1]))
    error = None
except FormatError as exc:
    error = {"text": str(exc), "offset": exc.offset}
except BaseException as exc:
    error = {"text": f"{type(exc).__name__}: {exc}", "offset": None}
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"error": error, "peak_kb": peak_kb}))
"""


@pytest.mark.heavy
@pytest.mark.parametrize("shape", list(DEEP))
def test_deep_vics_is_refused_at_its_byte_in_little_memory(tmp_path: Path, shape: str) -> None:
    data = DEEP[shape]().encode()
    path = tmp_path / "deep.json"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    error = result["error"]
    assert error is not None and "nests more than 64 levels deep" in error["text"], error
    assert str(path) in error["text"]
    offset = error["offset"]  # the bracket that opens level 65
    assert data[offset:offset + 1] in (b"[", b"{") and _depth_at(data, offset + 1) == 65
    assert result["peak_kb"] < 200_000, f"peak RSS {result['peak_kb']:,} KB"


def test_depth_64_is_read_and_65_refused() -> None:
    def doc(levels: int) -> bytes:  # the record is level 3: top object, value, record
        inner = "[" * (levels - 3) + "]" * (levels - 3)
        return ('{"@odata.context":"%s","value":[{"MD5":"%s","X":%s}]}' % (MEDIA, MD5, inner)).encode()

    assert _max_depth(doc(64)) == 64
    (record,) = reader.read(io.BytesIO(doc(64)), "ok.json")
    assert record.md5 == MD5
    with pytest.raises(FormatError, match="more than 64 levels") as info:
        list(reader.read(io.BytesIO(doc(65)), "deep.json"))
    assert info.value.path == "deep.json" and _depth_at(doc(65), info.value.offset + 1) == 65


def test_deep_scan_report_is_refused_by_the_case_export(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text('{"case": %s1%s, "items": []}' % ('{"a":' * LEVELS, "}" * LEVELS))
    with pytest.raises(FormatError, match="more than 64 levels") as info:
        list(case_records(tmp_path))
    assert info.value.offset == 9 + 5 * 63  # the 64th '{"a":' inside "case" opens level 65


@pytest.mark.parametrize("levels", [65, LEVELS])
def test_deep_json_line_is_a_format_error_naming_the_line(levels: int) -> None:
    deep = '{"md5": "%s", "x": %s%s}' % (MD5, "[" * (levels - 1), "]" * (levels - 1))
    data = ('{"md5": "%s"}\n%s\n' % (MD5, deep)).encode()
    with pytest.raises(FormatError, match="nested more than 64 levels deep") as info:
        list(jsonl.read(io.BytesIO(data), "hashes.jsonl"))
    assert info.value.line == 2 and str(info.value).startswith("hashes.jsonl:2:")
    with pytest.raises(FormatError, match="nested more than 64 levels deep") as info:
        match_lines(None, io.BytesIO(data), "hashes.jsonl", io.StringIO())  # type: ignore[arg-type]
    assert info.value.line == 2


def test_json_line_at_depth_64_is_read() -> None:
    line = '{"md5": "%s", "x": %s%s}\n' % (MD5, "[" * 63, "]" * 63)
    (record,) = jsonl.read(io.BytesIO(line.encode()), "hashes.jsonl")
    assert record.md5 == MD5


_json = st.recursive(
    st.none() | st.integers() | st.text(alphabet='ab"\\[]{}/é\n', max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='k"\\[{', max_size=3), inner,
                                                                max_size=3),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=_json, limit=st.integers(0, 8), cuts=st.lists(st.integers(1, 7), max_size=200),
       ascii_only=st.booleans())
def test_depth_guard_agrees_with_a_character_by_character_count(value, limit, cuts, ascii_only) -> None:
    """Fed in pieces cut anywhere (inside strings, between a backslash and what it escapes), the guard refuses
    exactly the documents deeper than the limit, at the bracket that passes it."""
    data = json.dumps(value, ensure_ascii=ascii_only).encode()
    guard = js.DepthGuard(limit)
    pos, refused = 0, None
    sizes = iter(cuts)
    try:
        while pos < len(data):
            size = next(sizes, len(data))
            guard.feed(data[pos:pos + size], pos)
            pos += size
    except js.TooDeep as exc:
        refused = exc.offset
    assert (refused is not None) == (_max_depth(data) > limit)
    if refused is not None:
        assert data[refused:refused + 1] in (b"[", b"{") and _depth_at(data, refused + 1) == limit + 1
