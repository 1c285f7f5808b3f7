"""The URL list's domain entries as a DNS Response Policy Zone (issue 19), for a resolver that blocks by name
(unbound, BIND, Knot Resolver, PowerDNS Recursor all load RPZ).

Why only domain entries: a resolver sees a name, never a path. An entry for a page or a directory must never
widen to its host, which would block every other page of a shared host (the 2008 Wikipedia incident, research
§1.5), so page, image and path entries are left out, and so are IP hosts (an RPZ name trigger cannot match them).
Each domain entry blocks its name and every name under it (`name` and `*.name`, as `host/` does in a lookup).

The zone is hostile-input safe: only names that are plain DNS names are written (labels of letters, digits,
hyphen and underscore, at most 63 characters, 253 in all: what canonicalization leaves of an internationalised
name is punycode), so no entry can bring a newline, a `$INCLUDE` or a quote into the zone file; other hosts are
counted as skipped. The serial is the list's version, so secondaries and resolvers see each change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from hashwarden.errors import UrlListError
from hashwarden.store.urls import UrlEntry

_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
ACTIONS = ("nxdomain", "cname")


@dataclass(frozen=True)
class RpzResult:
    """What went into the zone: names written, and domain entries left out because their host is not a DNS name
    (an IP address, or characters no DNS name has)."""

    written: int
    skipped: int


def is_dns_name(name: str) -> bool:
    """A plain DNS name (no trailing dot): LDH-and-underscore labels of 1-63 characters, 253 in all, not all
    digits at the end (an IPv4 address)."""
    labels = name.split(".")
    return (0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
            and not labels[-1].isdigit())


def write_rpz(entries: Iterable[UrlEntry], out: TextIO, zone: str, serial: int, action: str = "nxdomain",
              block_host: str | None = None, ttl: int = 300) -> RpzResult:
    """Write the zone `zone` of the domain entries among `entries`: each answered NXDOMAIN (`CNAME .`) or, with
    action "cname", as an alias of `block_host` (the block page's host).

    Raises:
        UrlListError: a zone or block host that is not a DNS name, an unknown action.
    """
    zone = zone.rstrip(".")
    if not is_dns_name(zone):
        raise UrlListError(f"zone {zone!r} is not a DNS name")
    if action not in ACTIONS:
        raise UrlListError(f"unknown RPZ action {action!r} (one of {', '.join(ACTIONS)})")
    if action == "cname":
        if block_host is None or not is_dns_name(block_host.rstrip(".")):
            raise UrlListError(f"the cname action needs --block-host, a DNS name (not {block_host!r})")
        target = block_host.rstrip(".") + "."
    else:
        target = "."
    out.write(f"; hashwarden URL list, version {serial}: domain entries only\n")
    out.write(f"$TTL {ttl}\n")
    out.write(f"@ SOA localhost. hostmaster.localhost. {serial} 3600 600 86400 {ttl}\n")
    out.write("@ NS localhost.\n")
    written = skipped = 0
    for entry in entries:
        if entry.kind != "domain" or entry.removed_at is not None:
            continue
        host = entry.expression.rstrip("/")
        if not is_dns_name(host):
            skipped += 1
            continue
        out.write(f"{host} CNAME {target}\n*.{host} CNAME {target}\n")
        written += 1
    return RpzResult(written, skipped)
