"""The compiled canonicalizer (urls/_urlc.c, the product's) against the pure-Python reference (tests/urls/
reference.py): the same canonical URL or the same refusal, the same expressions in the same order and the same
hashes, on hypothesis' random and structured hostile URLs (text, raw bytes, invalid UTF-8), the official cases,
the bench's corpus and inputs at and past the size limit (answered in bounded time)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings, strategies as st

from hashwarden.config import MAX_URL_BYTES
from hashwarden.errors import UrlError
from hashwarden.urls import DigestTable, canonicalize, expressions, url_hashes
from hashwarden.urls.host import punycode
from tests.urls import reference
from tests.urls.vectors import canon_cases

_PIECES = ["%", "%2", "%25", "%2525", "%2E", "%2e", "%2F", "%3F", "%23", "%40", "%5C", "%3A", "%00", "%20", "%C3%BC",
           "%ff", "%E3%80%82", "/", "//", "/./", "/../", ".", "..", "...", "?", "#", "@", ":", ":80", ":8o", "\\",
           " ", "\t", "\n", "\r", "\x0b", "\x00", "\x7f", "\x80", "ü", "ß", "❤", "．", "／", "。", "１", "[", "]",
           "::1", "::ffff:1.2.3.4", "%25eth0", "0x", "0X1f", "012", "08", "255", "256", "4294967295", "4294967296",
           "a", "B", "xn--", "-", "~", "%41", "www", "com", "co.uk"]
_piece_text = st.lists(st.sampled_from(_PIECES) | st.text(max_size=3), max_size=10).map("".join)
_ip = st.one_of(
    st.integers(0, 2**32 + 5).map(str), st.integers(0, 2**32).map(hex),
    st.lists(st.integers(0, 300), min_size=1, max_size=5).map(lambda parts: ".".join(map(str, parts))),
    st.lists(st.integers(0, 300), min_size=1, max_size=5).map(lambda parts: ".".join(f"0{p:o}" for p in parts)),
    st.lists(st.integers(0, 300), min_size=1, max_size=5).map(lambda parts: ".".join(hex(p) for p in parts)))
_host = st.one_of(_piece_text, _ip, st.sampled_from(["bücher.example", "faß.de", "WWW.Example.COM", "a..b...c.",
                                                     "[2001:db8::1]", "[fe80::1%25eth0]:80", "i❤.ws", "ａ.ｂ"]))
_structured = st.builds(
    lambda scheme, user, host, port, path, query, fragment: scheme + user + host + port + path + query + fragment,
    st.sampled_from(["http://", "https://", "HTTP://", "HtTpS://", "", "//", "http:", "http:/", "ftp://",
                     "javascript:", " \t http://", "http:\\\\"]),
    st.sampled_from(["", "user@", "a:b@", "trusted.example@", "x@y@"]), _host,
    st.sampled_from(["", ":80", ":", ":8080", ":x1"]),
    st.lists(st.sampled_from(["/", "a", "b", ".", "..", "%2E", "%2F", "//", "%2525", "\\", "ü", "%ff", " "]),
             max_size=10).map("".join),
    st.sampled_from(["", "?", "?q=1", "?a//b/../c", "?%23x", "?é"]), st.sampled_from(["", "#f", "#a?b", "#%"]))
_urls = _structured | _piece_text | st.text(max_size=40) | st.binary(max_size=40) | _structured.map(
    lambda url: url.encode("utf-8", "surrogateescape"))


def outcome(canon, url: str | bytes) -> tuple[str, str]:
    try:
        return "canonical", canon(url)
    except UrlError as exc:
        return "refused", exc.reason


def assert_same(url: str | bytes) -> None:
    ours, theirs = outcome(canonicalize, url), outcome(reference.canonicalize, url)
    assert ours == theirs, url
    if ours[0] == "canonical":
        found = expressions(ours[1])
        assert found == reference.expressions(ours[1]), url
        assert url_hashes(url) == reference.url_hashes(url), url


@settings(max_examples=4000, deadline=None)
@given(_urls)
@example(b"http://\xff\xfe.example/\xc3")
@example("http://%25%32%35%25%32%35/")
@example("http://0x7f.1/a/b/c/d/e?x")
@example("http://a.b.c.d.e.f.g/1/2/3/4/5.html?x=1")
@example("http://www.ümlat.com/../a/./b//c/..")
@example(b"http://h.example/\xed\xa0\x80")  # a UTF-8-encoded surrogate: not UTF-8, escaped
def test_the_c_canonicalizer_agrees_with_the_reference(url: str | bytes) -> None:
    assert_same(url)


_IDN_PIECES = ["ü", "ß", "❤", "。", "．", "｡", "Ａ", "A", "e", "\u0301", "\u0308", "\ufffd", "\u00ad", "ﬁ", "İ", "ς",
               "\u200d", "日本", "пример", "ελλάδα", "١", "a", "-", "xn--", ".", "..", "\x01", " ", "%", "／",
               "ü" * 64, "a" * 70]
_idn_hosts = (st.lists(st.sampled_from(_IDN_PIECES) | st.characters(min_codepoint=0x80, max_codepoint=0x2FFFF),
                       min_size=1, max_size=12).map(lambda parts: "".join(parts).encode("utf-8", "surrogatepass"))
              | st.binary(max_size=20).map(lambda raw: b"\xc3" + raw))


@settings(max_examples=3000, deadline=None)
@given(_idn_hosts)
@example("ü\u0301.e\u0301".encode())  # a combining mark on each side of a dot
@example(("a." * 120 + "ü").encode())  # longer than a DNS name: converted whole
def test_idn_pieces_between_dots_convert_as_the_whole_host(host: bytes) -> None:
    assert punycode(host) == reference.punycode(host)
    assert punycode(host) == reference.punycode(host)  # the second time from the cache


def test_the_official_cases_and_the_benchs_corpus_agree(conformance: Path) -> None:
    import bench.urls as bench

    for case in canon_cases(conformance):
        assert_same(case.input)
    corpus, _ = bench.make_corpus(random.Random(7), 3000)
    for url in corpus:
        assert_same(url)


@pytest.mark.parametrize("url", [
    "http://host.example/" + "a%25" * 2_500_000,  # 10 MB: refused by its length before any work
    "http://host.example/%" + "25" * 1000 + "41",  # '%' escaped a thousand times
    "http://host.example/%" + "25" * ((MAX_URL_BYTES - 30) // 2) + "41",
    "http://h.example/" + "a" * (MAX_URL_BYTES - 17),  # exactly at the limit
    "http://h.example/" + "\x01" * (MAX_URL_BYTES // 3),  # under the limit given, over it once escaped
    "http://h.example/" + "é" * (MAX_URL_BYTES // 2),  # fewer characters than the limit, more bytes
    "http://" + "a." * (MAX_URL_BYTES // 2 - 8) + "/",  # a host of 32k labels
    "http://h.example/" + "../" * (MAX_URL_BYTES // 3 - 8),
    "http://" + "ü" * 20_000 + "/",  # a long internationalised label: never encoded
    "http://[" + "1:" * 20_000 + "]/",
    "http://h.example/\ud800",  # a lone surrogate
])
def test_hostile_inputs_agree_as_text_and_bytes_in_bounded_time(url: str) -> None:
    for given_url in (url, url.encode("utf-8", "surrogatepass")):
        start = time.perf_counter()
        ours = outcome(canonicalize, given_url)
        assert time.perf_counter() - start < 0.5
        assert ours == outcome(reference.canonicalize, given_url)


def test_the_table_answers_as_a_set_of_the_reference_hashes() -> None:
    """DigestTable.check: the value of the first listed expression (most specific host, then path), else None."""
    urls = ["http://a.b.example/d/e.jpg?x", "http://b.example/", "http://c.example/x", "HTTP://A.B.EXAMPLE/d/"]
    listed = {reference.url_hashes("http://b.example/d/")[1]: "dir", reference.url_hashes("http://b.example/")[0]:
              "host", reference.url_hashes("http://c.example/y")[-1]: "other"}
    table = DigestTable(listed)
    assert len(table) == 3 and sorted(table.digests()) == sorted(listed)
    for url in urls:
        first = next((listed[d] for d in reference.url_hashes(url) if d in listed), None)
        assert table.check(url) == first, url
    assert [table.check(url) for url in urls] == ["host", "host", None, "host"]
    with pytest.raises(UrlError, match="scheme 'javascript'"):
        table.check("javascript:alert(1)")
    with pytest.raises(ValueError, match="32 bytes"):
        DigestTable({b"short": "x"})
    assert DigestTable({}).check("http://a.example/") is None
    nothing = object()
    assert DigestTable(listed, nothing).check("http://d.example/") is nothing
    assert DigestTable(listed, default=nothing).check("http://b.example/") == "host"
    answered = DigestTable(listed, refused=lambda exc: ("refused", exc.reason))
    assert answered.check("data:,x") == ("refused", "scheme 'data' is not http or https")
    assert answered.check("http://c.example/y") == "other"
    with pytest.raises(TypeError):
        answered.check(None)  # not a URL refused: a caller's error, raised


def test_threads_checking_at_once_get_the_sequential_answers() -> None:
    """The service checks in a thread pool: a check that calls into Python (an internationalised name) may let
    another thread run meanwhile, so every call works on its own buffers."""
    from concurrent.futures import ThreadPoolExecutor

    corpus = [f"http://bücher{i}.example/a/{i}/b.jpg?x={i}" if i % 2 else f"HTTP://Host{i}.example/%2561/{i}"
              for i in range(4000)]
    listed = {url_hashes(url)[0]: url for url in corpus[::3]}
    table = DigestTable(listed)
    sequential = [table.check(url) for url in corpus]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(table.check, corpus, chunksize=50)) == sequential
    assert sequential[::3] == corpus[::3] and sequential[1] is None
