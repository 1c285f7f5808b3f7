"""Safe Browsing canonicalization: the 33 official cases, then each hostile form the brief names, with a result or
a clear refusal (UrlError naming the reason)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hashwarden.config import MAX_URL_BYTES
from hashwarden.errors import HashwardenError, UrlError
from hashwarden.urls import canonicalize
from hashwarden.urls._urlc import unescape as unescape_fully
from tests.urls.vectors import INVALID, canon_cases


def test_the_33_official_cases_pass(conformance: Path) -> None:
    cases = canon_cases(conformance)
    assert len(cases) == 33
    wrong = []
    for case in cases:
        try:
            got = canonicalize(case.input)
        except UrlError as exc:
            got = f"{INVALID} ({exc.reason})"
        if got != case.expected:
            wrong.append((case.id, case.input, case.expected, got))
        if case.input.isascii():  # the same URL given as text
            assert canonicalize(case.input.decode("ascii")) == got
    assert wrong == []


def test_the_port_is_dropped_as_v4_does() -> None:
    assert canonicalize("http://www.gotaport.com:1234/") == "http://www.gotaport.com/"
    assert canonicalize("https://h.example:443/a?b") == "https://h.example/a?b"
    assert canonicalize("http://h.example:/") == "http://h.example/"


@pytest.mark.parametrize(("url", "reason"), [
    ("", "empty URL"),
    ("  \t\r\n ", "empty URL"),
    ("#only-a-fragment", "empty URL"),
    ("javascript:alert(1)", "scheme 'javascript' is not http or https"),
    ("JavaScript://%0aalert(1)", "scheme 'javascript' is not http or https"),
    ("data:text/html;base64,PHNjcmlwdD4=", "scheme 'data' is not http or https"),
    ("mailto:someone@example.com", "scheme 'mailto' is not http or https"),
    ("ftp://files.example.com/x", "scheme 'ftp' is not http or https"),
    ("http:/one-slash.example/", "no '//' after 'http:'"),
    ("http://", "no host"),
    ("http:///path", "no host"),
    ("http://user@/", "no host"),
    ("http://.../", "no host"),
    ("/just/a/path", "no host"),
    ("http://host.example:8o80/", "port '8o80' is not a number"),
    ("http://[::1/", "IPv6 literal without a closing ']'"),
    ("http://[::1]junk/", "text after the IPv6 literal that is not a port"),
    ("http://[not:an:address]/", "not a valid IPv6 address"),
    ("http://a:b:c/", "not a valid IPv6 address"),
    ("http://ａ／ｂ.example/", "maps to a URL delimiter"),
    ("http://.[/", "'[' or ']' in a host that is not an IPv6 literal"),
    ("http://a]b.example/", "'[' or ']' in a host"),
])
def test_refusals_name_their_reason(url: str, reason: str) -> None:
    with pytest.raises(UrlError) as caught:
        canonicalize(url)
    assert reason in caught.value.reason
    assert isinstance(caught.value, HashwardenError)
    if url:
        assert repr(url)[:40] in str(caught.value) or url[:20] in str(caught.value)


def test_a_10_mb_url_is_refused_at_once_as_text_and_bytes() -> None:
    huge = "http://host.example/" + "a%25" * 2_500_000
    for given in (huge, huge.encode()):
        start = time.perf_counter()
        with pytest.raises(UrlError, match=f"longer than {MAX_URL_BYTES:,} bytes"):
            canonicalize(given)
        assert time.perf_counter() - start < 0.05
    assert len(str(UrlError("x", huge))) < 200  # the message shows the start of the input only


def test_the_cap_counts_bytes_and_the_escaped_result() -> None:
    head = "http://h.example/"
    assert canonicalize(head + "a" * (MAX_URL_BYTES - len(head))).endswith("a")
    with pytest.raises(UrlError, match="longer than"):
        canonicalize(head + "é" * (MAX_URL_BYTES // 2))  # fewer characters than the cap, more bytes
    with pytest.raises(UrlError, match="once escaped"):
        canonicalize(head + "\x01" * (MAX_URL_BYTES // 2))  # each byte escapes to three


def test_a_1000_deep_nested_escape_is_answered_in_bounded_time() -> None:
    deep = "http://host.example/%" + "25" * 1000 + "41"  # '%' escaped a thousand times, then '41': 'A'
    start = time.perf_counter()
    assert canonicalize(deep) == "http://host.example/A"
    widest = "http://host.example/%" + "25" * ((MAX_URL_BYTES - 30) // 2) + "41"
    assert canonicalize(widest) == "http://host.example/A"
    many = "http://host.example/" + ("%" + "25" * 40 + "41") * ((MAX_URL_BYTES - 30) // 83)
    assert set(canonicalize(many)[len("http://host.example/"):]) == {"A"}
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(("raw", "expected"), [
    (b"%2541", b"A"), (b"%%41", b"%A"), (b"%4%31", b"A"), (b"%%%", b"%%%"), (b"%zz%4", b"%zz%4"),
    (b"%252525252541", b"A"), (b"%2%35%34%31", b"A"),
])
def test_unescaping_reaches_the_fixed_point(raw: bytes, expected: bytes) -> None:
    assert unescape_fully(raw) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("http://3279880203/blah", "http://195.127.0.11/blah"),  # one decimal number
    ("http://0xc37f000b/", "http://195.127.0.11/"),  # one hex number
    ("http://0303.0177.0.013/", "http://195.127.0.11/"),  # octal parts
    ("http://195.127.11/", "http://195.127.0.11/"),  # three parts: the last fills two bytes
    ("http://195.8323083/", "http://195.127.0.11/"),  # two parts: the last fills three bytes
    ("http://0x12.0x43.0x44.0x01/", "http://18.67.68.1/"),
    ("http://0X12.0x43.0x44.0x01/", "http://18.67.68.1/"),
    ("http://12.0x12.01234/", "http://12.18.2.156/"),
    ("http://012.034.01.055/", "http://10.28.1.45/"),
    ("http://%31%39%35.127.0.11/", "http://195.127.0.11/"),  # escaped digits
    ("http://000000000000000000000000177.1/", "http://127.0.0.1/"),  # any number of leading zeros
    ("http://123.123.0.0.1/", "http://123.123.0.0.1/"),  # five parts: a name
    ("http://276.2.3/", "http://276.2.3/"),  # out of range: a name (Go would say 20.2.0.3)
    ("http://1.2.3.256/", "http://1.2.3.256/"),
    ("http://08.1.2.3/", "http://08.1.2.3/"),  # 8 is no octal digit: a name
    ("http://0x/", "http://0x/"),
    ("http://4294967296/", "http://4294967296/"),  # 2^32
    ("http://4294967295/", "http://255.255.255.255/"),
    ("http://1.2.3.4./", "http://1.2.3.4/"),
])
def test_ipv4_in_every_legacy_spelling(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


def test_leading_zero_parts_are_octal_so_a_9_makes_a_name() -> None:
    assert canonicalize("http://0195.1.1.1/") == "http://0195.1.1.1/"
    assert canonicalize("http://0177.1/") == "http://127.0.0.1/"


@pytest.mark.parametrize(("url", "expected"), [
    ("http://[2001:0DB8:0000::1]/", "http://[2001:db8::1]/"),
    ("http://[2001:db8::1]:8080/x", "http://[2001:db8::1]/x"),
    ("http://[::ffff:1.2.3.4]/", "http://1.2.3.4/"),  # IPv4-mapped, as v5
    ("http://[64:ff9b::1.2.3.4]/", "http://1.2.3.4/"),  # NAT64, as v5
    ("http://[fe80::1%25eth0]/", "http://[fe80::1]/"),  # zone id dropped: it names the viewer's interface
    ("http://[fe80::1%eth0]:80/", "http://[fe80::1]/"),
    ("http://2001:db8::1/", "http://[2001:db8::1]/"),  # written bare: taken as the address, never as a port
    ("http://user@[::1]/", "http://[::1]/"),
])
def test_ipv6_literals(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("http://www.ümlat.com/", "http://www.xn--mlat-zra.com/"),
    ("http://WWW.ÜMLAT.COM/", "http://www.xn--mlat-zra.com/"),
    ("http://www.%C3%BCmlat.com/", "http://www.xn--mlat-zra.com/"),  # escaped UTF-8
    ("http://faß.de/", "http://xn--fa-hia.de/"),  # UTS 46 non-transitional, as browsers (IDNA 2003: fass.de)
    ("http://bücher。example/", "http://xn--bcher-kva.example/"),  # ideographic full stop is a dot
    ("http://１.２.３.４/", "http://1.2.3.4/"),  # fullwidth digits map to an address
    ("http://i❤.ws/", "http://xn--i-7iq.ws/"),  # refused by IDNA 2008; the punycode a browser sends to DNS
    ("http://a\ufffdb.example/", "http://a%EF%BF%BDb.example/"),  # disallowed by UTS 46: kept as escaped bytes
])
def test_internationalised_names(url: str, expected: str) -> None:
    assert canonicalize(url) == expected
    assert canonicalize(url.encode("utf-8")) == expected


def test_idna_refusal_is_a_documented_fallback_not_an_error() -> None:
    import idna

    with pytest.raises(idna.IDNAError):
        idna.encode("i❤.ws", uts46=True)
    long_label = "ü" + "a" * 70  # over 63 characters: no DNS name; kept as escaped bytes, deterministic
    first = canonicalize(f"http://{long_label}.example/")
    assert first == "http://%C3%BC" + "a" * 70 + ".example/" and canonicalize(first) == first


def test_a_long_internationalised_host_is_answered_at_once() -> None:
    """Punycode's cost grows with length x distinct characters: 20,000 distinct CJK characters in one label would
    take minutes; a label over 63 characters is never encoded."""
    label = "".join(chr(0x4E00 + i) for i in range(20_000))
    start = time.perf_counter()
    with pytest.raises(UrlError, match="once escaped"):  # 60,000 bytes, escaped to 180,000
        canonicalize(f"http://{label}/")
    assert canonicalize(f"http://{label[:5000]}/").startswith("http://%E4%B8%80")
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(("raw", "expected"), [
    (b"http://\xff\xfe.example/", "http://%FF%FE.example/"),  # invalid UTF-8 in the host: escaped bytes
    (b"http://host.example/\xff\x80?\xc3", "http://host.example/%FF%80?%C3"),
    (b"http://host.example/\xc3\xa9", "http://host.example/%C3%A9"),
    (b"http://HOST\xc3.example/", "http://host%C3.example/"),  # ASCII lowercased, other bytes kept
])
def test_invalid_utf8_bytes_are_escaped(raw: bytes, expected: str) -> None:
    assert canonicalize(raw) == expected


def test_text_from_surrogateescape_gives_back_its_bytes_and_a_lone_surrogate_is_refused() -> None:
    assert canonicalize(b"http://h.example/\xff".decode("utf-8", "surrogateescape")) == "http://h.example/%FF"
    with pytest.raises(UrlError, match="lone surrogate"):
        canonicalize("http://h.example/\ud800")


@pytest.mark.parametrize(("url", "expected"), [
    ("http://h.example/a\x00b\x01c\x7f", "http://h.example/a%00b%01c%7F"),
    ("http://h.example/a\tb\rc\nd", "http://h.example/abcd"),  # TAB, CR, LF removed
    ("http://h.example/a%09b%0Ac", "http://h.example/a%09b%0Ac"),  # escaped ones stay, escaped
    ("http://h.e\x01xample/", "http://h.e%01xample/"),
    ("\x0c\x0bhttp://h.example/ \x0b", "http://h.example/"),  # ASCII whitespace trimmed at both ends
    ("http://h.example/a b", "http://h.example/a%20b"),
])
def test_control_characters(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("http://trusted@evil.example/", "http://evil.example/"),
    ("http://trusted.example@evil.example/", "http://evil.example/"),
    ("http://user:pass@evil.example:8080/", "http://evil.example/"),
    ("http://a@b@evil.example/", "http://evil.example/"),  # the last '@' ends the userinfo
    ("http://trusted.example%40evil.example/", "http://evil.example/"),  # unescaped before parsing
    ("http://evil.example\\@trusted.example/", "http://evil.example/@trusted.example/"),  # '\' is '/', as browsers
    ("http:\\\\evil.example\\a\\b?c\\d", "http://evil.example/a/b?c\\d"),  # not in the query
    ("http://trusted.example/@evil.example/", "http://trusted.example/@evil.example/"),  # '@' in the path
])
def test_userinfo_tricks_resolve_to_the_host_a_browser_visits(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize(("url", "expected"), [
    ("HTTPS://Host.Example/Path", "https://host.example/Path"),  # paths keep their case
    ("google.com:443/abc", "http://google.com/abc"),  # host:port without a scheme
    ("localhost:8080", "http://localhost/"),
    ("http://h.example?q", "http://h.example/?q"),
    ("http://h.example/a/b/..", "http://h.example/a/"),  # a trailing /.. names a directory
    ("http://h.example/a/b/.", "http://h.example/a/b/"),
    ("http://h.example/a/./b/../c", "http://h.example/a/c"),
    ("http://h.example/../../x", "http://h.example/x"),  # never above the root
    ("http://h.example/a%2Fb", "http://h.example/a/b"),  # unescaping is total
    ("http://h.example/%2E%2E/x", "http://h.example/x"),
    ("http://h.example/q?r?s%3F", "http://h.example/q?r?s?"),
    ("http://h.example/p?a//b/./c/../d", "http://h.example/p?a//b/./c/../d"),  # path rules stop at the query
    ("http://h.example/p%3Fq#r%23s", "http://h.example/p?q"),
])
def test_scheme_path_and_query(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


@pytest.mark.parametrize("url", [
    "http://www.example.com/", "https://a.b-c.example/x/y.html?q=1&r=~", "http://xn--mlat-zra.com/a/b/?x?y",
    "http://h.example/a;b/c!d$e'(f)*+,=:@", "http://h.example/.x", "http://1.2.3.4/",
])
def test_a_canonical_str_is_returned_as_the_same_object(url: str) -> None:
    assert canonicalize(url) is url
    assert canonicalize(url.encode()) == url


@pytest.mark.parametrize(("url", "expected"), [
    ("http://h.example//x", "http://h.example/x"), ("http://h.example/x/.", "http://h.example/x/"),
    ("http://h.example", "http://h.example/"), ("http://H.example/", "http://h.example/"),
])
def test_almost_canonical_urls_are_not_returned_as_given(url: str, expected: str) -> None:
    assert canonicalize(url) == expected
