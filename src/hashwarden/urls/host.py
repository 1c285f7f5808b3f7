"""The two host conversions the compiled canonicalizer (_urlc.c) hands to Python, because a library does them:
internationalised names to punycode (`idna`, UTS 46) and IPv6 literals (`ipaddress`). What they return goes on
through the C steps (dots cleaned, IPv4 spellings, lowercase, escaping), so `http://１２７.０.０.１/` still ends as
`127.0.0.1`.

Both work on the host's bytes *after* the whole URL was unescaped, because Safe Browsing unescapes before it
parses: `%31%36%38...` in a host is an IP address, `%C3%BC` an internationalised name.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

import idna

from hashwarden.errors import UrlError

# UTS 46 maps fullwidth forms to ASCII (U+FF0F to '/', U+FF20 to '@' ...): a host that would then hold a delimiter
# is refused (by the C), as WHATWG's forbidden host code points refuse it, else its canonical form would parse
# differently. The C checks the same bytes; tests/urls/reference.py uses this pattern.
MAPPED_DELIMITERS = re.compile(rb"[/?#@:%\\\[\]]")
# A DNS label's limit (RFC 1035): a longer internationalised label names no host, so it is not encoded.
_MAX_LABEL = 63
# A DNS name's limit (RFC 1035): a host up to this many bytes is converted a label at a time, through the cache.
_MAX_NAME = 253
# Labels converted and remembered: a proxy or a log sees the same few internationalised names again and again, and
# converting one costs ~10-20 us (idna). Only labels of at most _MAX_NAME bytes are cached: at most ~1 MB held.
_LABEL_CACHE = 4096
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def punycode(host: bytes) -> bytes:
    """A host holding non-ASCII bytes (dots already cleaned) in ASCII: IDNA by UTS 46 (non-transitional, as
    browsers do: `faß.de` is `xn--fa-hia.de`), then each non-ASCII label as its A-label.

    Two fallbacks, so that a name is never refused for its spelling (a blocklist must still match what a browser
    can visit), and the same input always gives the same output:
    - a label the `idna` package refuses under IDNA 2008 (symbols and emoji such as `i❤`, which browsers still
      resolve) is written as raw punycode of its UTS 46 mapping: `xn--i-7iq`, the name a browser sends to DNS;
    - bytes that are not UTF-8 (`\\x01\\x80.com`), text UTS 46 disallows outright (U+FFFD), or a non-ASCII
      label over 63 characters (no DNS name) stay bytes, the whole host, and are percent-escaped like any other
      byte (`%01%80.com`), as the Safe Browsing test list expects.

    A host of DNS length is converted between its ASCII dots, each non-ASCII piece once (cached): the same as
    converting the whole, because UTS 46 maps each character alone and '.' neither composes under NFC nor is
    reordered (tests/urls/test_differential.py compares the two). Longer hosts are converted whole.
    """
    if len(host) > _MAX_NAME:
        converted = _convert(host)
        return host if converted is None else converted
    pieces = host.split(b".")
    for index, piece in enumerate(pieces):
        if piece.isascii():
            pieces[index] = piece.lower()  # UTS 46 maps ASCII capitals to small letters, keeps the rest
            continue
        converted = _convert_cached(piece)
        if converted is None:
            return host
        pieces[index] = converted
    return b".".join(pieces)


def _convert(host: bytes) -> bytes | None:
    """`host` (or a piece between ASCII dots) by UTS 46 and IDNA 2008; None when it stays bytes (the fallbacks)."""
    try:
        text = host.decode("utf-8")
        mapped = idna.uts46_remap(text, std3_rules=False, transitional=False)
    except (UnicodeDecodeError, idna.IDNAError):
        return None
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label.encode("ascii"))
            continue
        if len(label) > _MAX_LABEL:  # no such name in DNS; and punycode costs length x distinct characters
            return None
        try:
            labels.append(idna.alabel(label))
        except (idna.IDNAError, UnicodeError):
            labels.append(b"xn--" + label.encode("punycode"))
    return b".".join(labels)


_convert_cached = lru_cache(maxsize=_LABEL_CACHE)(_convert)


def bracketed_ipv6(host: bytes, url: str | bytes) -> bytes:
    """`[2001:db8::1]` or `[2001:db8::1]:8080`: the literal, compressed; anything after `]` but a port refused."""
    end = host.find(b"]")
    if end < 0:
        raise UrlError("IPv6 literal without a closing ']'", url)
    after = host[end + 1:]
    if after and not (after.startswith(b":") and (after[1:].isdigit() or after == b":")):
        raise UrlError("text after the IPv6 literal that is not a port", url)
    return ipv6(host[1:end], url)


def ipv6(literal: bytes, url: str | bytes) -> bytes:
    """An IPv6 address in brackets, compressed and lowercase (`[2001:0db8:0000::1]` is `[2001:db8::1]`), or, as
    Safe Browsing v5 does, its IPv4 address when it is IPv4-mapped (`::ffff:1.2.3.4`) or NAT64 (`64:ff9b::/96`).

    A zone id (`fe80::1%eth0`, written `%25eth0` in a URL) names an interface of the viewer's own machine, not
    anything of the server: it is dropped, so the address is matched without it.

    Raises:
        UrlError: not an IPv6 address.
    """
    address_text = literal.split(b"%", 1)[0]
    try:
        address = ipaddress.IPv6Address(address_text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise UrlError("host is not a valid IPv6 address (or has a ':' that is not a port)", url) from None
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped).encode("ascii")
    if address in _NAT64:
        return str(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)).encode("ascii")
    return f"[{address.compressed}]".encode("ascii")
