"""Safe Browsing (v4 "URLs and Hashing") canonicalization of one URL, written here because no Python library passes
the official test list (research: gglsbl and urlcanon keep the port, others do not unescape repeatedly).

The steps, in the order the test list forces (docs/architecture.md, "URL canonicalization"):
1. the fragment is cut on the raw text, before unescaping (`/ab%23cd` keeps `%23cd`);
2. leading and trailing ASCII whitespace is trimmed; every TAB, CR and LF is removed;
3. the whole URL is percent-unescaped until nothing changes (`%252525` is `%`);
4. it is parsed leniently: an optional `scheme:` (only http and https are accepted, followed by `//`; without a
   scheme, `host/path` is http), the query from the first `?`, the host up to the first `/` (a backslash before the
   query is a `/`, as browsers read it);
5. host (host.py) and path (`.` and `..` resolved, `//` collapsed, empty is `/`) are normalised;
6. every byte <= 0x20, >= 0x7F, `#` and `%` is escaped as `%XX` (uppercase hex), in host, path and query.

The port is dropped, as v4 and Web Risk do (v2 kept it).
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from hashwarden.config import MAX_URL_BYTES
from hashwarden.errors import UrlError
from hashwarden.urls.host import canonical_host

SCHEMES = (b"http", b"https")
# What is escaped: every byte but printable ASCII (0x21 to 0x7E), and '#' and '%'; as `%XX`, uppercase hex.
_NEEDS_ESCAPE = re.compile(rb"[\x00-\x20\x7f-\xff#%]")
_ESCAPES = [b"%%%02X" % byte for byte in range(256)]
_PORT_AFTER_COLON = re.compile(rb":\d+(?:/|\Z)")
_PERCENT_CHAIN = re.compile(rb"%(?:25)+")
_HEX = frozenset(b"0123456789abcdefABCDEF")
# Global unescaping passes tried before switching to the linear-time unescaper (most URLs need 1 or 2).
_GLOBAL_PASSES = 4


def _fast_pattern() -> str:
    """A URL this matches is already canonical, so canonicalize() returns it as given: http(s), a lowercase ASCII
    name whose last label starts with a letter (so it is no IPv4 spelling) with no port or userinfo, a path of
    segments that do not start with '.' (no dot segments) and are never empty (no `//`), no '%', '#', '\\',
    whitespace or control byte anywhere. The common case in a list or a log goes through one regex match."""
    def chars(exclude: str) -> str:
        return "[" + "".join(re.escape(chr(c)) for c in range(0x21, 0x7F) if chr(c) not in exclude) + "]"

    first, rest, query = chars("/?#%\\."), chars("/?#%\\"), chars("#%")
    host = r"(?:[a-z0-9-]+\.)*[a-z][a-z0-9-]*"
    return rf"https?://{host}(?:(?:/{first}{rest}*)+/?|/)(?:\?{query}*)?\Z"


_FAST_TEXT = re.compile(_fast_pattern())
_FAST_BYTES = re.compile(_fast_pattern().encode("ascii"))


def canonicalize(url: str | bytes) -> str:
    """The Safe Browsing canonical form of `url`: `scheme://host/path[?query]`, pure ASCII.

    `url` as bytes is taken exactly (a line read from a file: invalid UTF-8 is escaped byte by byte); as str, it is
    encoded as UTF-8 (lone surrogates from a `surrogateescape` decoding give back their bytes).

    Raises:
        UrlError: empty, longer than config.MAX_URL_BYTES (as given, or once escaped), a scheme other than
            http(s) (`javascript:`, `data:`, `mailto:`, `ftp://`), no host, a port that is not a number, a malformed
            IPv6 literal, an internationalised host that maps to a delimiter.
    """
    if len(url) > MAX_URL_BYTES:  # a character is at least one byte: refused before any other work
        raise UrlError(f"longer than {MAX_URL_BYTES:,} bytes", url)
    if isinstance(url, str):
        if _FAST_TEXT.match(url):
            return url
        try:
            raw = url.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise UrlError("holds a lone surrogate, not text that UTF-8 can encode", url) from None
        if len(raw) > MAX_URL_BYTES:
            raise UrlError(f"longer than {MAX_URL_BYTES:,} bytes", url)
    else:
        raw = bytes(url)
        if _FAST_BYTES.match(raw):
            return raw.decode("ascii")
    return _canonicalize_bytes(raw, url)


def _canonicalize_bytes(raw: bytes, url: str | bytes) -> str:
    """Steps 1-6 of the module docstring on the URL's bytes."""
    raw = raw.split(b"#", 1)[0].strip().translate(None, b"\t\r\n")
    raw = unescape_fully(raw)
    if not raw:
        raise UrlError("empty URL", url)
    scheme, rest = _split_scheme(raw)
    rest, has_query, query = rest.partition(b"?")
    rest = rest.replace(b"\\", b"/")
    if scheme is None:
        scheme = b"http"
    else:
        scheme = scheme.lower()
        if scheme not in SCHEMES:
            shown = scheme.decode("utf-8", "backslashreplace")
            raise UrlError(f"scheme {shown!r} is not http or https", url)
        if not rest.startswith(b"//"):
            raise UrlError(f"no '//' after '{scheme.decode()}:'", url)
        rest = rest[2:]
    hostish, slash, path = rest.partition(b"/")
    if not hostish:
        raise UrlError("no host", url)
    host = canonical_host(hostish, url)
    path = _clean_path(slash + path)
    canonical = scheme + b"://" + _escape(host) + _escape(path)
    if has_query:
        canonical += b"?" + _escape(query)
    if len(canonical) > MAX_URL_BYTES:  # escaping triples a byte: refused, so every canonical URL is accepted again
        raise UrlError(f"longer than {MAX_URL_BYTES:,} bytes once escaped", url)
    return canonical.decode("ascii")


def unescape_fully(raw: bytes) -> bytes:
    """`raw` percent-unescaped until nothing changes: `%` + two hex digits is one byte, anything else literal.

    The result does not depend on the order escapes are decoded in (two escapes never overlap), so chains of
    `%25` (the usual deep nesting, `%25252525...41` a thousand deep) are collapsed first, then a few whole passes
    are tried, and any deeper nesting is finished by one linear scan that re-checks only the end of what it has
    written: time linear in the length, never a refusal for depth.
    """
    if b"%25" in raw:  # '%' escaped k times is '%', whatever follows: k steps of unescaping at once
        raw = _PERCENT_CHAIN.sub(b"%", raw)
    for _ in range(_GLOBAL_PASSES):
        if b"%" not in raw:
            return raw
        unescaped = unquote_to_bytes(raw)
        if unescaped == raw:
            return raw
        raw = unescaped
    return _unescape_linear(raw)


def _unescape_linear(raw: bytes) -> bytes:
    """The fixed point of unescaping in one pass: after each byte written, an escape it completes is decoded,
    and so on backwards while decoding completes another one. Called with at least one '%' in `raw`: what
    precedes the first is copied as it is."""
    first = raw.find(b"%")
    out = bytearray(raw[:first])
    for byte in raw[first:]:
        out.append(byte)
        while len(out) >= 3 and out[-3] == 0x25 and out[-2] in _HEX and out[-1] in _HEX:
            value = int(out[-2:].decode("ascii"), 16)
            del out[-3:]
            out.append(value)
    return bytes(out)


def _split_scheme(raw: bytes) -> tuple[bytes | None, bytes]:
    """(scheme, rest) as Safe Browsing's Go client reads it: letters then letters, digits, `+`, `-`, `.` up to a
    `:`; a `:` followed by a port (`www.abc.com:80/`) is not a scheme's. (None, raw) when there is no scheme."""
    for index, byte in enumerate(raw):
        if 0x61 <= byte | 0x20 <= 0x7A:  # an ASCII letter
            continue
        if byte in b"0123456789+-." and index > 0:
            continue
        if byte == 0x3A and index > 0:
            if _PORT_AFTER_COLON.match(raw, index):
                continue
            return raw[:index], raw[index + 1:]
        return None, raw
    return None, raw


def _clean_path(path: bytes) -> bytes:
    """`/./` and `/../` resolved (never above the root), runs of `/` collapsed, an empty path `/`. A path ending in
    `/`, `/.` or `/..` names a directory and keeps a trailing `/` (`/blah/..` is `/`, `/a/b/..` is `/a/`)."""
    if not path:
        return b"/"
    if b"//" not in path and b"/." not in path:
        return path
    segments = path.split(b"/")[1:]
    kept: list[bytes] = []
    for segment in segments:
        if segment == b"..":
            if kept:
                kept.pop()
        elif segment and segment != b".":
            kept.append(segment)
    cleaned = b"/" + b"/".join(kept)
    if kept and segments[-1] in (b"", b".", b".."):
        cleaned += b"/"
    return cleaned


def _escape(part: bytes) -> bytes:
    """Every byte <= 0x20, >= 0x7F, '#' and '%' as `%XX`, uppercase hex; the rest literal."""
    return _NEEDS_ESCAPE.sub(_escaped, part)


def _escaped(match: re.Match[bytes]) -> bytes:
    return _ESCAPES[match[0][0]]
