"""`jsonl.object_lines` parses a chunk of flat hash lines with one `json.loads` (formats/jsonl.py `_flat_objects`):
whatever the lines, it must give what reading them one by one gives, the same objects with the same line numbers, or
the same refusal naming the same line. Every line here is written by the test (made-up hashes and JSON shapes)."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashwarden.errors import FormatError
from hashwarden.formats import jsonl
from hashwarden.formats.exchange import HashingReader

MD5 = "0123456789abcdef0123456789abcdef"


def _one_by_one(data: bytes) -> list | str:
    try:
        return list(jsonl._objects_one_by_one(io.BytesIO(data), "f", 0))
    except FormatError as exc:
        return str(exc)


def _chunked(data: bytes) -> list | str:
    try:
        return list(jsonl.object_lines(io.BytesIO(data), "f"))
    except FormatError as exc:
        return str(exc)


# Lines that are one flat object, and lines that break the fast path's assumptions in every way it checks.
_LINES = st.one_of(
    st.builds(lambda n: json.dumps({"md5": MD5, "n": n}), st.integers()),
    st.sampled_from([
        "", "   ", "\t", "\r", '{"md5": "%s"}\r' % MD5, '{"a": {"b": 1}}', '{"a": [1, 2]}', '{"a": 1}, {"b": 2}',
        '{"c": 3', '"d": 4}', "7", '"x"', "null", "[]", '{"s": "{"}', '{"s": "}"}', '{"a": 1} x', "{", "}", "{}",
        '{"a": 1,}', "\ufeff{}", '{"u": "\u2028"}', '{"e": "\\u00e9"}', "[" * 40 + "]" * 40, "{" * 50 + "}" * 50,
    ]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_LINES, max_size=12), st.sampled_from([1, 2, 3, 4096]))
def test_chunks_read_as_lines_do(lines: list[str], chunk: int) -> None:
    data = "\n".join(lines).encode("utf-8")
    jsonl._CHUNK_LINES, saved = chunk, jsonl._CHUNK_LINES
    try:
        assert _chunked(data) == _one_by_one(data)
    finally:
        jsonl._CHUNK_LINES = saved


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf{}\n{}", b'{"a": 1}\n\xff\n', b'{"a": 1}\n' * 5000 + b"[1]\n"])
def test_a_bom_invalid_utf8_and_a_late_bad_line(data: bytes) -> None:
    assert _chunked(data) == _one_by_one(data)


def test_flat_lines_take_the_fast_path() -> None:
    """A guard that the fast path is taken at all (else the equivalence above proves nothing about it)."""
    raws = [b'{"md5": "%s", "pdq_quality": 90}\n' % MD5.encode()] * 3 + [b"\n"]
    assert jsonl._flat_objects(raws, 10) == [(n, {"md5": MD5, "pdq_quality": 90}) for n in (11, 12, 13)] and \
        jsonl._flat_objects([b'{"a": [1]}\n'], 0) is None


def test_a_file_iterated_by_a_generator_is_read_whole() -> None:
    """`exchange.HashingReader`, which imports read through, is iterated by a new generator each time (1 MiB chunks
    split into lines): the reader takes it as one stream of lines, never restarted per chunk."""
    data = b"".join(b'{"md5": "%s", "n": %d}\n' % (MD5.encode(), n) for n in range(100_000))
    lines = jsonl.object_lines(HashingReader(io.BytesIO(data)), "f")
    assert [obj["n"] for _n, obj in lines] == list(range(100_000))
