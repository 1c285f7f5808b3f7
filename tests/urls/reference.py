"""The pure-Python statement of Safe Browsing canonicalization and expressions: the differential oracle of the
compiled canonicalizer (src/hashwarden/urls/_urlc.c), never used by the product.

Why it is kept (docs/architecture.md, "URL canonicalization"): it is the rules written as the specification
reads, step by step with Python's own bytes operations (split, strip, partition, regexes, `unquote_to_bytes`),
where the C does the same in one buffer with pointer arithmetic. Two independent writings that agree on every
official case and on hypothesis' random and hostile URLs (tests/urls/test_differential.py) catch what a single
one cannot: an off-by-one, a missed bound, an order of steps. IPv6 literals are host.py's functions (`ipaddress`
does the work), called by both; internationalised names are converted here the whole host at once, where host.py
converts them a cached piece between dots at a time, so the differential test covers that shortcut too.
It was the product's canonicalizer until the C replaced it for speed (bench/urls.py).
"""

from __future__ import annotations

import re
from hashlib import sha256
from urllib.parse import unquote_to_bytes

import idna

from hashwarden.config import MAX_URL_BYTES, URL_HOST_SUFFIXES, URL_PATH_PREFIXES
from hashwarden.errors import UrlError
from hashwarden.urls.host import MAPPED_DELIMITERS, bracketed_ipv6, ipv6

SCHEMES = (b"http", b"https")
_NEEDS_ESCAPE = re.compile(rb"[\x00-\x20\x7f-\xff#%]")
_ESCAPES = [b"%%%02X" % byte for byte in range(256)]
_PORT_AFTER_COLON = re.compile(rb":\d+(?:/|\Z)")
_DOTS = re.compile(rb"\.{2,}")
_POSSIBLE_IPV4 = re.compile(rb"(?:0[xX][0-9a-fA-F]+|[0-9.])+\Z")
_MAX_NUMBER_DIGITS = 11
_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+\Z")
_DIGIT_OR_BRACKET = frozenset("0123456789]")


def canonicalize(url: str | bytes) -> str:
    if len(url) > MAX_URL_BYTES:
        raise UrlError(f"longer than {MAX_URL_BYTES:,} bytes", url)
    if isinstance(url, str):
        try:
            raw = url.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise UrlError("holds a lone surrogate, not text that UTF-8 can encode", url) from None
        if len(raw) > MAX_URL_BYTES:
            raise UrlError(f"longer than {MAX_URL_BYTES:,} bytes", url)
    else:
        raw = bytes(url)
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
    if len(canonical) > MAX_URL_BYTES:
        raise UrlError(f"longer than {MAX_URL_BYTES:,} bytes once escaped", url)
    return canonical.decode("ascii")


def unescape_fully(raw: bytes) -> bytes:
    """Whole passes of `unquote_to_bytes` until nothing changes (a `%25` chain collapsed first, so a thousand-deep
    escape takes one step)."""
    if b"%25" in raw:
        raw = re.sub(rb"%(?:25)+", b"%", raw)
    while True:
        unescaped = unquote_to_bytes(raw)
        if unescaped == raw:
            return raw
        raw = unescaped


def _split_scheme(raw: bytes) -> tuple[bytes | None, bytes]:
    for index, byte in enumerate(raw):
        if 0x61 <= byte | 0x20 <= 0x7A:
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
    return _NEEDS_ESCAPE.sub(lambda match: _ESCAPES[match[0][0]], part)


def canonical_host(hostish: bytes, url: str | bytes) -> bytes:
    host = hostish[hostish.rfind(b"@") + 1:]
    if host.startswith(b"["):
        return bracketed_ipv6(host, url)
    colon = host.rfind(b":")
    if colon >= 0:
        if b":" in host[:colon]:
            return ipv6(host, url)
        port = host[colon + 1:]
        if port and not port.isdigit():
            raise UrlError(f"port {port.decode('utf-8', 'backslashreplace')!r} is not a number", url)
        host = host[:colon]
    if not host.isascii():
        host = punycode(_clean_dots(host))
        if MAPPED_DELIMITERS.search(host):
            raise UrlError("internationalised host maps to a URL delimiter (/ ? # @ : % \\ [ ]), as fullwidth "
                           "forms do; browsers refuse such a host", url)
    host = _clean_dots(host)
    if not host:
        raise UrlError("no host", url)
    if b"[" in host or b"]" in host:
        raise UrlError("'[' or ']' in a host that is not an IPv6 literal", url)
    return _ipv4(host) or host.lower()


def punycode(host: bytes) -> bytes:
    """The whole host by UTS 46, each non-ASCII label as its A-label (IDNA 2008, else raw punycode); the host
    unchanged when it is not UTF-8, UTS 46 disallows it, or a non-ASCII label is over 63 characters."""
    try:
        mapped = idna.uts46_remap(host.decode("utf-8"), std3_rules=False, transitional=False)
    except (UnicodeDecodeError, idna.IDNAError):
        return host
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label.encode("ascii"))
        elif len(label) > 63:
            return host
        else:
            try:
                labels.append(idna.alabel(label))
            except (idna.IDNAError, UnicodeError):
                labels.append(b"xn--" + label.encode("punycode"))
    return b".".join(labels)


def _clean_dots(host: bytes) -> bytes:
    if b".." in host:
        host = _DOTS.sub(b".", host)
    return host.strip(b".")


def _ipv4(host: bytes) -> bytes | None:
    if not _POSSIBLE_IPV4.match(host):
        return None
    parts = host.split(b".")
    if len(parts) > 4:
        return None
    packed = b""
    for index, part in enumerate(parts):
        value = _number(part)
        width = 5 - len(parts) if index == len(parts) - 1 else 1
        if value is None or value >= 1 << (8 * width):
            return None
        packed += value.to_bytes(width, "big")
    return ".".join(str(octet) for octet in packed).encode("ascii")


def _number(part: bytes) -> int | None:
    lowered = part.lower()
    if lowered.startswith(b"0x"):
        digits, base = lowered[2:], 16
    elif len(lowered) > 1 and lowered.startswith(b"0"):
        digits, base = lowered[1:], 8
    else:
        digits, base = lowered, 10
    significant = digits.lstrip(b"0")
    if not digits or len(significant) > _MAX_NUMBER_DIGITS:
        return None
    try:
        return int(significant or b"0", base)
    except ValueError:
        return None


def expressions(canonical: str) -> list[str]:
    scheme_end = canonical.find("://")
    if scheme_end < 0:
        raise UrlError("not a canonical URL (no scheme://)", canonical)
    host, slash, tail = canonical[scheme_end + 3:].partition("/")
    path, has_query, query = (slash + tail).partition("?")
    paths = _paths(path or "/", query)
    return [name + p for name in _hosts(host) for p in paths]


def _hosts(host: str) -> list[str]:
    if host[-1] in _DIGIT_OR_BRACKET and (host[0] == "[" or _IPV4.match(host)):
        return [host]
    hosts = [host]
    dot = host.rfind(".")
    for _ in range(URL_HOST_SUFFIXES):
        if dot <= 0:
            break
        dot = host.rfind(".", 0, dot)
        if dot < 0:
            break
        hosts.append(host[dot + 1:])
    return hosts


def _paths(path: str, query: str) -> list[str]:
    paths = ["/"]
    if path != "/":
        slash = 0
        last = len(path) - 1
        for _ in range(URL_PATH_PREFIXES):
            slash = path.find("/", slash + 1)
            if slash < 0 or slash == last:
                break
            paths.append(path[:slash + 1])
        paths.append(path)
    if query:
        paths.append(f"{path}?{query}")
    return paths


def url_hashes(url: str | bytes) -> list[bytes]:
    return [sha256(e.encode("utf-8")).digest() for e in expressions(canonicalize(url))]
