"""The host part of a URL in Safe Browsing's canonical form: userinfo and port dropped, internationalised names to
punycode, dots cleaned, IPv4 in any legal spelling written as four decimal octets, IPv6 literals compressed.

Everything here works on the host's bytes *after* the whole URL was unescaped (canonical.py), because Safe
Browsing unescapes before it parses: `%31%36%38...` in a host is an IP address.
"""

from __future__ import annotations

import ipaddress
import re

import idna

from hashwarden.errors import UrlError

_DOTS = re.compile(rb"\.{2,}")
# Go's reference client (google/safebrowsing urls.go, possibleIPRegexp): only digits, dots and 0x-hex runs can be
# an IPv4 address in one of its legacy spellings (decimal, octal, hex, mixed, fewer than four parts).
_POSSIBLE_IPV4 = re.compile(rb"(?:0[xX][0-9a-fA-F]+|[0-9.])+\Z")
# UTS 46 maps fullwidth forms to ASCII (U+FF0F to '/', U+FF20 to '@' ...): a host that would then hold a delimiter
# is refused, as WHATWG's forbidden host code points refuse it, else its canonical form would parse differently.
_MAPPED_DELIMITERS = re.compile(rb"[/?#@:%\\\[\]]")
# A DNS label's limit (RFC 1035): a longer internationalised label names no host, so it is not encoded.
_MAX_LABEL = 63
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# A part of a legacy IPv4 address: 2^32 has 10 decimal, 11 octal or 8 hex digits after leading zeros.
_MAX_NUMBER_DIGITS = 11


def canonical_host(hostish: bytes, url: str | bytes) -> bytes:
    """The canonical host (raw bytes, not yet escaped) of the authority `hostish` (`user:pass@host:port`).

    The host is what follows the *last* `@`, so `http://trusted@evil/` is `evil`, as a browser reads it.

    Raises:
        UrlError: no host, a port that is not a number, a malformed IPv6 literal.
    """
    host = hostish[hostish.rfind(b"@") + 1:]
    if host.startswith(b"["):
        return _bracketed_ipv6(host, url)
    colon = host.rfind(b":")
    if colon >= 0:
        if b":" in host[:colon]:  # more than one colon without brackets: an IPv6 address written bare
            return _ipv6(host, url)
        port = host[colon + 1:]
        if port and not port.isdigit():
            raise UrlError(f"port {port.decode('utf-8', 'backslashreplace')!r} is not a number", url)
        host = host[:colon]
    if not host.isascii():
        host = _punycode(_clean_dots(host))
        if _MAPPED_DELIMITERS.search(host):
            raise UrlError("internationalised host maps to a URL delimiter (/ ? # @ : % \\ [ ]), as fullwidth "
                           "forms do; browsers refuse such a host", url)
    host = _clean_dots(host)
    if not host:
        raise UrlError("no host", url)
    if b"[" in host or b"]" in host:
        raise UrlError("'[' or ']' in a host that is not an IPv6 literal", url)
    return _ipv4(host) or host.lower()


def _clean_dots(host: bytes) -> bytes:
    """Runs of dots collapsed to one, leading and trailing dots removed (`www.google.com...` is `www.google.com`)."""
    if b".." in host:
        host = _DOTS.sub(b".", host)
    return host.strip(b".")


def _punycode(host: bytes) -> bytes:
    """A host holding non-ASCII bytes in ASCII: IDNA by UTS 46 (non-transitional, as browsers do: `faß.de` is
    `xn--fa-hia.de`), then each non-ASCII label as its A-label.

    Two fallbacks, so that a name is never refused for its spelling (a blocklist must still match what a browser
    can visit), and the same input always gives the same output:
    - a label the `idna` package refuses under IDNA 2008 (symbols and emoji such as `i❤`, which browsers still
      resolve) is written as raw punycode of its UTS 46 mapping: `xn--i-7iq`, the name a browser sends to DNS;
    - bytes that are not UTF-8 (`\\x01\\x80.com`), text UTS 46 disallows outright (U+FFFD), or a non-ASCII
      label over 63 characters (no DNS name) stay bytes and are percent-escaped like any other byte
      (`%01%80.com`), as the Safe Browsing test list expects.
    """
    try:
        text = host.decode("utf-8")
        mapped = idna.uts46_remap(text, std3_rules=False, transitional=False)
    except (UnicodeDecodeError, idna.IDNAError):
        return host
    labels = []
    for label in mapped.split("."):
        if label.isascii():
            labels.append(label.encode("ascii"))
            continue
        if len(label) > _MAX_LABEL:  # no such name in DNS; and punycode costs length x distinct characters
            return host
        try:
            labels.append(idna.alabel(label))
        except (idna.IDNAError, UnicodeError):
            labels.append(b"xn--" + label.encode("punycode"))
    return b".".join(labels)


def _ipv4(host: bytes) -> bytes | None:
    """Four decimal octets if `host` is an IPv4 address in any legacy spelling, else None.

    `3279880203`, `0xc37f000b`, `0303.0177.0.013` and `195.127.11` are all `195.127.0.11`: the last part fills
    the remaining bytes. Policy where Safe Browsing's Go client differs: a part out of range (`276.2.3`, which Go
    reduces modulo 256) makes the host *not* an address, a name kept as written, as inet_aton and browsers refuse
    it as an address.
    """
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
    """A part of a legacy IPv4 address as C's strtoul reads it: `0x` hex, a leading `0` octal, else decimal."""
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


def _bracketed_ipv6(host: bytes, url: str | bytes) -> bytes:
    """`[2001:db8::1]` or `[2001:db8::1]:8080`: the literal, compressed; anything after `]` but a port refused."""
    end = host.find(b"]")
    if end < 0:
        raise UrlError("IPv6 literal without a closing ']'", url)
    after = host[end + 1:]
    if after and not (after.startswith(b":") and (after[1:].isdigit() or after == b":")):
        raise UrlError("text after the IPv6 literal that is not a port", url)
    return _ipv6(host[1:end], url)


def _ipv6(literal: bytes, url: str | bytes) -> bytes:
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
