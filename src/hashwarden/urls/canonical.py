"""Safe Browsing (v4 "URLs and Hashing") canonicalization of one URL, written here because no Python library passes
the official test list (research: gglsbl and urlcanon keep the port, others do not unescape repeatedly).

The work is done by the compiled `_urlc` (one implementation, in C for speed: bench/urls.py), configured here with
the limits, the error class and host.py's two library conversions. The steps, in the order the test list forces
(docs/architecture.md, "URL canonicalization"):
1. the fragment is cut on the raw text, before unescaping (`/ab%23cd` keeps `%23cd`);
2. leading and trailing ASCII whitespace is trimmed; every TAB, CR and LF is removed;
3. the whole URL is percent-unescaped until nothing changes (`%252525` is `%`), in one linear pass;
4. it is parsed leniently: an optional `scheme:` (only http and https are accepted, followed by `//`; without a
   scheme, `host/path` is http), the query from the first `?`, the host up to the first `/` (a backslash before the
   query is a `/`, as browsers read it), userinfo up to the last `@` and the port dropped;
5. host (dots cleaned, IPv4 spellings, lowercase; internationalised names and IPv6 through host.py) and path
   (`.` and `..` resolved, `//` collapsed, empty is `/`) are normalised;
6. every byte <= 0x20, >= 0x7F, `#` and `%` is escaped as `%XX` (uppercase hex), in host, path and query.

The port is dropped, as v4 and Web Risk do (v2 kept it).
"""

from __future__ import annotations

from hashwarden.config import MAX_URL_BYTES, URL_HOST_SUFFIXES, URL_PATH_PREFIXES
from hashwarden.errors import UrlError
from hashwarden.urls import _urlc
from hashwarden.urls.host import bracketed_ipv6, ipv6, punycode

_urlc.configure(MAX_URL_BYTES, UrlError, punycode, bracketed_ipv6, ipv6, f"longer than {MAX_URL_BYTES:,} bytes",
                f"longer than {MAX_URL_BYTES:,} bytes once escaped", URL_HOST_SUFFIXES, URL_PATH_PREFIXES)


def canonicalize(url: str | bytes) -> str:
    """The Safe Browsing canonical form of `url`: `scheme://host/path[?query]`, pure ASCII (a str already
    canonical is returned as the same object).

    `url` as bytes is taken exactly (a line read from a file: invalid UTF-8 is escaped byte by byte); as str, it is
    encoded as UTF-8 (lone surrogates from a `surrogateescape` decoding give back their bytes).

    Raises:
        UrlError: empty, longer than config.MAX_URL_BYTES (as given, or once escaped), a scheme other than
            http(s) (`javascript:`, `data:`, `mailto:`, `ftp://`), no host, a port that is not a number, a malformed
            IPv6 literal, an internationalised host that maps to a delimiter.
    """
    return _urlc.canonicalize(url)
