"""A URL list entry from a URL and a kind, and what is wrong or weak about it (issue 19).

Why here: an entry is matched the way Safe Browsing matches, by its expression among a URL's lookup expressions
(`urls.expressions`), so what an entry can match follows from its expression. A **domain** entry is `host/`: the
host and all its subdomains (within the 5 host labels expressions take); a **path** entry is `host/dir/`: every URL
under that directory (up to 3 directories deep); a **page** or **image** entry is `host/path[?query]`: that one URL,
query included. Entries are made from the same canonicalization every lookup uses, so `HTTP://Host/%2561.jpg` and
`host/a.jpg` are one entry.

Refused (`UrlListError`): a URL that does not canonicalize, an unknown kind, and a domain or path entry on a bare
public suffix (`co.uk/`, `github.io/`: every site under it). Warned (the entry is still made): entries that can
never match beyond themselves (a path entry deeper than 3 directories, a domain entry of more than 5 host labels:
lookups never generate those as prefixes or suffixes) and parts of the URL the kind ignores (a domain entry's path,
a path entry's file and query).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from publicsuffixlist import PublicSuffixList

from hashwarden.errors import UrlError, UrlListError
from hashwarden.store.urls import APPEALS, KINDS, NewUrlEntry
from hashwarden.urls import canonicalize

MAX_PATH_DIRECTORIES = 3  # directory prefixes a lookup generates below `/`
MAX_HOST_LABELS = 5  # host suffixes a lookup generates come from the last 5 labels
_PSL = PublicSuffixList()


@dataclass(frozen=True)
class Derived:
    """An entry to add, and the warnings about it."""

    entry: NewUrlEntry
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CanonicalParts:
    """A canonical URL (`scheme://host/path?query`, as `urls.canonicalize` writes it) cut into its parts."""

    host: str
    path: str
    query: str | None

    @classmethod
    def of(cls, canonical: str) -> "CanonicalParts":
        rest = canonical.split("://", 1)[1]
        slash = rest.find("/")
        host, path_query = (rest, "/") if slash < 0 else (rest[:slash], rest[slash:])
        path, mark, query = path_query.partition("?")
        return cls(host, path, query if mark else None)


def derive_entry(url: str | bytes, kind: str, *, category: str | None = None, source: str | None = None,
                 reporter: str | None = None, evidence_sha256: str | None = None, appeal: str = "none") -> Derived:
    """The entry of `kind` for `url`, with its warnings.

    Raises:
        UrlListError: the URL is refused by canonicalization, the kind or appeal state is unknown, the evidence
            is not a SHA-256, or the entry would block a whole public suffix.
    """
    shown = url if isinstance(url, str) else url.decode("utf-8", "backslashreplace")
    if kind not in KINDS:
        raise UrlListError(f"{shown[:200]!r}: unknown kind {kind!r} (one of {', '.join(KINDS)})")
    if appeal not in APPEALS:
        raise UrlListError(f"{shown[:200]!r}: unknown appeal state {appeal!r} (one of {', '.join(APPEALS)})")
    if evidence_sha256 is not None and not _is_sha256(evidence_sha256):
        raise UrlListError(f"{shown[:200]!r}: evidence must be a SHA-256 of 64 hex digits, not {evidence_sha256!r}")
    try:
        canonical = canonicalize(url)
    except UrlError as exc:
        raise UrlListError(f"{shown[:200]!r}: not a URL the list can hold: {exc}") from exc
    parts = CanonicalParts.of(canonical)
    warnings: list[str] = []
    if kind == "domain":
        expression = f"{parts.host}/"
        if parts.path != "/" or parts.query is not None:
            warnings.append("a domain entry blocks the whole host: its path and query are ignored")
        if parts.host.count(".") + 1 > MAX_HOST_LABELS and not _is_ip(parts.host):
            warnings.append(f"a host of more than {MAX_HOST_LABELS} labels matches only itself, never its "
                            "subdomains (lookups take host suffixes from the last 5 labels)")
    elif kind == "path":
        directory = parts.path[:parts.path.rfind("/") + 1]
        expression = f"{parts.host}{directory}"
        if directory != parts.path or parts.query is not None:
            warnings.append(f"a path entry blocks the directory {directory}: the file name and query are ignored")
        if directory.count("/") - 1 > MAX_PATH_DIRECTORIES:
            warnings.append(f"a path deeper than {MAX_PATH_DIRECTORIES} directories matches only URLs whose whole "
                            "path is that directory (lookups take at most 3 directory prefixes)")
    else:
        expression = f"{parts.host}{parts.path}" + (f"?{parts.query}" if parts.query is not None else "")
    if kind in ("domain", "path") and _is_public_suffix(parts.host):
        raise UrlListError(f"{shown[:200]!r}: {parts.host} is a public suffix; a {kind} entry on it would block "
                           "every site under it")
    return Derived(NewUrlEntry(expression, kind, category, source, reporter,
                               evidence_sha256.lower() if evidence_sha256 else None, appeal), warnings)


def _is_public_suffix(host: str) -> bool:
    return not _is_ip(host) and (_PSL.is_public(host) or "." not in host)


def _is_ip(host: str) -> bool:
    return host.startswith("[") or host.replace(".", "").isdigit()


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)
