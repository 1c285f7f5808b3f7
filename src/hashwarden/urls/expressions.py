"""Safe Browsing's lookup expressions of a canonical URL, and their SHA-256 hashes.

An expression is `host/path` without the scheme: the exact host and up to four suffixes from its last five
labels (never the bare top-level label; none for an IP address), times the root, up to three directory prefixes,
the exact path and the exact path with its query: at most 5 x 6 = 30. A list entry `host/` then blocks a host and
its subdomains, `host/dir/` a directory, `host/path?query` one exact URL, all by exact set membership.
"""

from __future__ import annotations

import re
from hashlib import sha256

from hashwarden.config import URL_HOST_SUFFIXES, URL_PATH_PREFIXES
from hashwarden.errors import UrlError
from hashwarden.urls.canonical import canonicalize

_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+\Z")
_DIGIT_OR_BRACKET = frozenset("0123456789]")
_SHA256_BYTES = 32


def expressions(canonical: str) -> list[str]:
    """The host-suffix x path-prefix expressions of `canonical` (an output of canonicalize()), most specific
    host first; at most 30, no duplicates.

    Raises:
        UrlError: `canonical` has no `scheme://`.
    """
    scheme_end = canonical.find("://")
    if scheme_end < 0:
        raise UrlError("not a canonical URL (no scheme://)", canonical)
    host, slash, tail = canonical[scheme_end + 3:].partition("/")
    path, has_query, query = (slash + tail).partition("?")
    paths = _paths(path or "/", query)
    return [name + p for name in _hosts(host) for p in paths]


def _hosts(host: str) -> list[str]:
    """The exact host, then the suffixes of its last five labels, shortest first (`a.b.c` gives `b.c`; never the
    bare top-level label). Found by searching dots from the right: no split and join per URL."""
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
    """The root, up to three directory prefixes, the exact path, and the path with its query if it has one (an
    empty query adds nothing). A canonical path has no empty segment, so each `/` after the first ends one."""
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


def expression_hash(expression: str) -> bytes:
    """SHA-256 of the expression's bytes (UTF-8, which for a canonical expression is ASCII): what a hashed list
    holds, so members never hold a readable list."""
    return sha256(expression.encode("utf-8")).digest()


def hash_prefix(digest: bytes, n: int = 4) -> bytes:
    """The first `n` bytes of a digest (Safe Browsing's prefixes are 4 to 32 bytes, mostly 4).

    Raises:
        ValueError: `n` outside 1..32.
    """
    if not 1 <= n <= _SHA256_BYTES:
        raise ValueError(f"a hash prefix is 1 to {_SHA256_BYTES} bytes, not {n}")
    return digest[:n]


def url_hashes(url: str | bytes) -> list[bytes]:
    """The SHA-256 of every expression of `url`: canonicalize, expressions, hash.

    Raises:
        UrlError: as canonicalize().
    """
    return [sha256(e.encode("utf-8")).digest() for e in expressions(canonicalize(url))]
