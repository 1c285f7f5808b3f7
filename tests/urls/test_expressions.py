"""Lookup expressions and their hashes: every vector of expressions.txt, compared as sets, and the 30 limit."""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

import pytest

from hashwarden.errors import UrlError
from hashwarden.urls import canonicalize, expression_hash, expressions, hash_prefix, url_hashes
from tests.urls.vectors import blocks, hash_input


def test_every_expression_vector(conformance: Path) -> None:
    vectors = [block for block in blocks(conformance) if block.kind == "expr"]
    assert len(vectors) == 3
    for block in vectors:
        got = expressions(canonicalize(block.one("url")))
        assert len(got) == len(set(got)), block.number
        assert set(got) == set(block.values["expr"]), block.number


def test_every_hash_vector(conformance: Path) -> None:
    vectors = [block for block in blocks(conformance) if block.kind == "hash"]
    assert len(vectors) == 16
    for block in vectors:
        data = hash_input(block)
        digest = expression_hash(data.decode("ascii"))
        assert digest.hex() == block.one("sha256"), block.number
        assert hash_prefix(digest, int(block.one("prefix_bytes"))).hex() == block.one("prefix"), block.number
        assert hash_prefix(digest) == digest[:4]


def test_url_hashes_give_the_published_webrisk_prefixes() -> None:
    """npm webrisk-hash: getPrefixes('https://google.com/a/test/index.html?abc123') = these five 4-byte prefixes."""
    prefixes = {hash_prefix(d) for d in url_hashes("https://google.com/a/test/index.html?abc123")}
    assert prefixes == {bytes(p) for p in ([136, 152, 30, 98], [166, 49, 51, 141], [184, 40, 242, 237],
                                           [24, 12, 238, 174], [92, 148, 141, 10])}


def test_at_most_30_and_the_windows_stop_where_v4_stops() -> None:
    got = expressions(canonicalize("http://a.b.c.d.e.f.g/1/2/3/4/5.html?x=1"))
    assert len(got) == 30
    assert "b.c.d.e.f.g/" not in got and "c.d.e.f.g/" in got and "g/" not in got  # 5-label window, no bare TLD
    assert "a.b.c.d.e.f.g/1/2/3/" in got and "a.b.c.d.e.f.g/1/2/3/4/" not in got  # root + 3 directories
    assert "f.g/1/2/3/4/5.html?x=1" in got and "f.g/1/2/3/4/5.html" in got


@pytest.mark.parametrize(("url", "expected"), [
    ("http://1.2.3.4/1/", {"1.2.3.4/1/", "1.2.3.4/"}),  # an address gets no suffixes
    ("http://[2001:db8::1]/a", {"[2001:db8::1]/a", "[2001:db8::1]/"}),
    ("http://example/", {"example/"}),  # one label: nothing more
    ("http://a.example/q?", {"a.example/q", "a.example/"}),  # an empty query adds nothing; never the bare TLD
    ("http://a.b.example/?x", {"a.b.example/", "a.b.example/?x", "b.example/", "b.example/?x"}),
    ("http://a.b.example/d/", {"a.b.example/d/", "a.b.example/", "b.example/d/", "b.example/"}),
])
def test_small_cases(url: str, expected: set[str]) -> None:
    assert set(expressions(canonicalize(url))) == expected


def test_hashes_are_sha256_of_the_expressions() -> None:
    url = "http://a.b.c/1/2.html?param=1"
    assert url_hashes(url) == [sha256(e.encode()).digest() for e in expressions(canonicalize(url))]


def test_refusals() -> None:
    with pytest.raises(UrlError, match="no scheme"):
        expressions("a.b.c/1/")
    with pytest.raises(UrlError, match="scheme 'javascript'"):
        url_hashes("javascript:alert(1)")
    with pytest.raises(ValueError):
        hash_prefix(b"\0" * 32, 33)


def test_the_public_names_the_url_list_store_builds_on() -> None:
    import hashwarden.urls as urls

    assert urls.__all__ == ["DigestTable", "canonicalize", "expression_hash", "expressions", "hash_prefix",
                            "url_hashes"]
    assert all(callable(getattr(urls, name)) for name in urls.__all__)
