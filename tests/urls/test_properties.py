"""Properties over generated hostile URLs (hypothesis): canonicalization is idempotent and pure ASCII, unescaping
reaches the same fixed point as repeated whole passes, and every URL has at most 30 expressions, each a host
suffix + path prefix of its canonical URL. (tests/urls/test_differential.py compares the C with the reference.)"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from hypothesis import example, given, settings, strategies as st

from hashwarden.errors import UrlError
from hashwarden.urls import canonicalize, expressions
from hashwarden.urls._urlc import unescape as unescape_fully

# The bytes that matter to a URL parser, and enough others to reach every branch.
_PIECES = ["%", "%2", "%25", "%2E", "%2F", "%3F", "%23", "%40", "%5C", "%00", "%C3%BC", "%ff", "/", "//", ".", "..",
           "/./", "/../", "?", "#", "@", ":", ":80", "\\", " ", "\t", "\n", "\x00", "\x7f", "\x80", "ü", "ß", "❤",
           "．", "／", "。", "[", "]", "::1", "0x1", "012", "255", "4294967295", "a", "B", "xn--", "-", "~", "%41"]
_text = st.lists(st.sampled_from(_PIECES) | st.text(max_size=3), max_size=12).map("".join)
_urls = st.builds(lambda scheme, host, path: scheme + host + path,
                  st.sampled_from(["http://", "https://", "HTTP://", "", "javascript:", "//", "http:"]),
                  _text, _text) | st.text(max_size=40) | st.binary(max_size=40)


def _canonical_or_none(url: str | bytes) -> str | None:
    try:
        return canonicalize(url)
    except UrlError:
        return None


@settings(max_examples=1500, deadline=None)
@given(_urls)
@example("http://a.b.c.d.e.f.g/1/2/3/4/5/6.html?q=1")
@example("http://%25%32%35%25%32%35/")
def test_idempotent_ascii_and_at_most_30_expressions(url: str | bytes) -> None:
    canonical = _canonical_or_none(url)
    if canonical is None:
        return
    assert canonical.isascii() and canonical.startswith(("http://", "https://"))
    assert canonicalize(canonical) == canonical
    assert canonicalize(canonical.encode("ascii")) == canonical
    found = expressions(canonical)
    assert 1 <= len(found) <= 30 and len(set(found)) == len(found)
    host, _, tail = canonical.split("://", 1)[1].partition("/")
    target = "/" + tail
    path = target.split("?", 1)[0]
    for expression in found:
        name, slash, rest = expression.partition("/")
        assert name == host or host.endswith("." + name), (expression, canonical)
        assert slash and name.count(".") >= min(1, host.count("."))  # never the bare top-level label
        prefix = "/" + rest
        assert prefix in (target, path) or (prefix.endswith("/") and path.startswith(prefix)), (expression, canonical)


def _naive_unescape(raw: bytes) -> bytes:
    """What the Go reference does: whole passes until nothing changes (unbounded here: the inputs are short)."""
    while True:
        unescaped = unquote_to_bytes(raw)
        if unescaped == raw:
            return raw
        raw = unescaped


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from([b"%", b"2", b"5", b"4", b"1", b"a", b"F", b"g", b"%25", b"%2", b"0"]),
                max_size=40).map(b"".join))
@example(b"%" + b"25" * 10 + b"41")
def test_unescaping_reaches_the_fixed_point_of_whole_passes(raw: bytes) -> None:
    assert unescape_fully(raw) == _naive_unescape(raw)
