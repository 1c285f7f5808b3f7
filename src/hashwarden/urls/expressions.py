"""Safe Browsing's lookup expressions of a canonical URL, and their SHA-256 hashes.

An expression is `host/path` without the scheme: the exact host and up to four suffixes from its last five
labels (never the bare top-level label; none for an IP address), times the root, up to three directory prefixes,
the exact path and the exact path with its query: at most 5 x 6 = 30. A list entry `host/` then blocks a host and
its subdomains, `host/dir/` a directory, `host/path?query` one exact URL, all by exact set membership.

Expressions and their hashes are made by the compiled `_urlc` (canonical.py configures it); `DigestTable` is its
lookup of them in a URL list (urllist/checker.py).
"""

from __future__ import annotations

from hashlib import sha256

from hashwarden.urls import _urlc
from hashwarden.urls.canonical import canonicalize  # noqa: F401 - configures _urlc before any use

_SHA256_BYTES = 32
DigestTable = _urlc.DigestTable


def expressions(canonical: str) -> list[str]:
    """The host-suffix x path-prefix expressions of `canonical` (an output of canonicalize()), most specific
    host first; at most 30, no duplicates.

    Raises:
        UrlError: `canonical` has no `scheme://` or no `host/` after it (not an output of canonicalize()).
    """
    return _urlc.expressions(canonical)


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
    """The SHA-256 of every expression of `url`: canonicalize, expressions, hash (in one C call).

    Raises:
        UrlError: as canonicalize().
    """
    return _urlc.url_hashes(url)
