"""Checking URLs against the URL list: canonicalize, at most 30 expressions, SHA-256 each, look each up (issue 19).

The checker holds only the listed expressions' hashes and their entries' public ids, never the expressions, so
what it answers (listed or not, an opaque id) cannot give the list away. A listed URL and an unlisted one take the
same steps: every expression is hashed and looked up, the first hit kept, so the time of an answer does not depend
on whether, or by which expression, the URL is listed (tests/urllist/test_checker.py measures it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from hashwarden.errors import UrlError
from hashwarden.store.urls import current_hashes, list_version
from hashwarden.urls import url_hashes


@dataclass(frozen=True)
class UrlVerdict:
    """One URL checked: listed or not, the entry's public id when listed, or why the URL was refused."""

    listed: bool
    entry: str | None = None
    error: str | None = None


class UrlChecker:
    """The URL list in memory at one version: expression SHA-256 -> entry public id."""

    def __init__(self, listed: dict[bytes, str], version: int) -> None:
        self._listed = listed
        self.version = version

    @classmethod
    def from_store(cls, conn: Connection) -> "UrlChecker":
        return cls(current_hashes(conn), list_version(conn))

    def __len__(self) -> int:
        return len(self._listed)

    def hashes(self) -> list[bytes]:
        """The listed expression hashes (for the prefix API's full hashes)."""
        return list(self._listed)

    def check(self, url: str | bytes) -> UrlVerdict:
        """The verdict on one URL (a refusal when it does not canonicalize: not listed, with the reason)."""
        try:
            hashes = url_hashes(url)
        except UrlError as exc:
            return UrlVerdict(False, error=str(exc))
        found = None
        for digest in hashes:  # all of them, hit or not: the same work whatever the answer
            entry = self._listed.get(digest)
            if found is None:
                found = entry
        return UrlVerdict(found is not None, found)
