"""Checking URLs against the URL list: canonicalize, at most 30 expressions, SHA-256 each, look each up (issue 19).

The checker holds only the listed expressions' hashes and their entries' public ids, never the expressions, so
what it answers (listed or not, an opaque id) cannot give the list away. The hashes are held in a compiled
`DigestTable` (urls/_urlc.c), which does the whole check of a URL in one call. A listed URL and an unlisted one
take the same steps: every expression is hashed and looked up, the first hit kept, and the answer is an object
built beforehand either way (each entry's verdict, or the one "not listed"), so the time of an answer does not
depend on whether, or by which expression, the URL is listed (tests/service/test_urls_routes.py measures it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from sqlalchemy.engine import Connection, Engine

from hashwarden.errors import UrlError
from hashwarden.store.urls import current_hashes, list_version
from hashwarden.urls import DigestTable


class UrlVerdict(NamedTuple):
    """One URL checked: listed or not, the entry's public id when listed, or why the URL was refused. (A named
    tuple: immutable and small, one held per entry.)"""

    listed: bool
    entry: str | None = None
    error: str | None = None


_NOT_LISTED = UrlVerdict(False)


def _refused(exc: UrlError) -> UrlVerdict:
    return UrlVerdict(False, error=str(exc))


class UrlChecker:
    """The URL list in memory at one version: expression SHA-256 -> the verdict naming the entry's public id
    (built once: about 120 bytes an entry with the table, besides the id).

    `check(url) -> UrlVerdict` is the table's own compiled method (no Python frame per URL): the held verdict of
    the first listed expression, else the one "not listed"; a URL that does not canonicalize is not listed, with
    the reason in `error`.
    """

    check: Callable[[str | bytes], UrlVerdict]

    def __init__(self, listed: dict[bytes, str], version: int) -> None:
        self._table = DigestTable({digest: UrlVerdict(True, entry) for digest, entry in listed.items()},
                                  _NOT_LISTED, _refused)
        self.check = self._table.check  # every expression hashed and looked up, hit or not
        self.version = version

    @classmethod
    def from_store(cls, conn: Connection) -> "UrlChecker":
        return cls(current_hashes(conn), list_version(conn))

    def __len__(self) -> int:
        return len(self._table)

    def hashes(self) -> list[bytes]:
        """The listed expression hashes (for the prefix API's full hashes)."""
        return self._table.digests()


class UrlListCache:
    """A process's `UrlChecker`, read again when the list's version moved (asked at most every `interval` s): what
    the service's URL routes and the squid helper answer from, so neither serves a stale list for longer.

    `confirmed` is when the list held was last known current (in `clock`'s time); a failed read raises, and is tried
    again after `interval`, the list held meanwhile still `current`.
    """

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._checker: UrlChecker | None = None
        self._asked = 0.0
        self.confirmed = 0.0

    @property
    def current(self) -> UrlChecker | None:
        return self._checker

    def get(self, engine: Engine) -> UrlChecker:
        with self._lock:
            now = self.clock()
            if self._checker is None or now - self._asked >= self._interval:
                self._asked = now  # a failed read is tried again after the interval, not at every call
                with engine.connect() as conn:
                    if self._checker is None or list_version(conn) != self._checker.version:
                        self._checker = UrlChecker.from_store(conn)
                self.confirmed = now
            return self._checker
