"""Squid's external ACL helper on the URL list (issue 19): `hashwarden url squid-helper`.

Squid starts the helper (`external_acl_type hw concurrency=N ttl=0 %URI hashwarden url squid-helper`) and writes one
request a line: `<channel-id> <URL> [more values]`, each value URL-escaped by squid (so a space or `%` in the URL
arrives as `%20`, `%25`) and `-` for a value it does not have (squid appends `%DATA`, `-` without acl arguments).
The helper answers each line with one line, the channel id first: `OK` when the URL is listed (an
`http_access deny` on the ACL then blocks it, and `deny_info` shows the block page), `ERR` when it is not, `BH`
("broken helper") with a `message=` when the line itself cannot be answered (no channel id, no URL, longer than
`MAX_SQUID_HELPER_LINE`). Nothing of the entry is ever sent: squid learns listed or not, never which entry matched.

When the list cannot be consulted (the database missing or unreadable for too long, the list empty) the answer is
`OK tag=hw_unavailable` with a `message=`: the request is refused (fail closed: a broken filter must not let a
listed page through), and the tag lets squid.conf show the honest 503 page (`ERR_HW_UNAVAILABLE`: "this page could
not be checked") instead of the block page, which would tell the visitor that a page nobody listed "may contain
images of child sexual abuse":

    acl hw_listed external hw
    acl hw_unavailable tag hw_unavailable
    http_access deny hw_listed hw_unavailable
    http_access deny hw_listed
    deny_info 503:ERR_HW_UNAVAILABLE hw_unavailable
    deny_info 403:ERR_HW_BLOCKED hw_listed

(squid shows the deny_info page of the last ACL of the matching line.) A squid.conf without the two new lines still
fails closed, with the block page. For the same reason the helper never exits on an unusable list: a helper that
dies at start leaves squid nothing to ask, and squid then denies with the block page too (or stops, when helpers
die too fast); it keeps answering `hw_unavailable`, says why on stderr (squid's cache.log), and tries the database
again every `--refresh` seconds.

The URL is unescaped once (undoing squid's escaping) and checked as `url check` checks it (`UrlChecker`: Safe
Browsing canonicalization, its expressions, their SHA-256). For an HTTPS `CONNECT`, squid's `%URI` is `host:443`:
only domain entries can match it (the path is inside TLS).

Answers are in request order, each flushed as soon as it is written (squid waits on it). The list is re-read when
its version moved, asked at most every `SQUID_HELPER_REFRESH_SECONDS` (an entry added or removed is answered within
that); a store that cannot be read keeps the list held answering for `SQUID_HELPER_MAX_STALE_SECONDS` at most, then
every line is `hw_unavailable`, so a helper never serves an old list forever. An empty list is never answered from
(every answer `ERR` would look like nothing is listed). The helper ends cleanly at the end of its input (squid
closing it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hashwarden.config import MAX_SQUID_HELPER_LINE, SQUID_HELPER_MAX_STALE_SECONDS
from hashwarden.errors import StoreError
from hashwarden.urllist.checker import UrlChecker, UrlListCache

LISTED = b"OK"
NOT_LISTED = b"ERR"
BROKEN = b"BH"
UNAVAILABLE_TAG = "hw_unavailable"  # squid.conf's `acl hw_unavailable tag hw_unavailable`
UNAVAILABLE = LISTED + b" tag=" + UNAVAILABLE_TAG.encode()  # refused, and tagged so squid shows the 503 page
_SKIP_CHUNK = 64 * 1024  # the rest of a line too long is read and dropped this much at a time


def quoted(message: str) -> bytes:
    """A `message=` value as squid reads it: in double quotes, `\\` and `"` escaped, one line of ASCII."""
    text = message.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    return b'"' + text.encode("ascii", "replace") + b'"'


class SquidHelper:
    """Answers squid's request lines from the URL list held by `cache`, read from `engine`."""

    def __init__(self, engine: Engine, cache: UrlListCache, channels: bool = True,
                 max_stale: float = SQUID_HELPER_MAX_STALE_SECONDS, log: Callable[[str], None] | None = None
                 ) -> None:
        self._engine = engine
        self._cache = cache
        self._channels = channels
        self._max_stale = max_stale
        self._log = log if log is not None else _to_stderr
        self._failing = False

    def start(self) -> UrlChecker | None:
        """The list read once before the first line, or None (said on stderr) when it cannot be used yet: the
        helper then answers `hw_unavailable` until it can."""
        checker, problem = self._checker()
        if checker is None:
            self._log(f"{problem}: every request is refused as unavailable (tag {UNAVAILABLE_TAG}) until the list "
                      "can be used")
        return checker

    def answer(self, line: bytes) -> bytes:
        """The reply to one request line (its line ending taken off or not), without the newline."""
        parts = line.rstrip(b"\r\n").split()
        channel = b""
        if self._channels:
            if not parts or not parts[0].isdigit() or len(parts[0]) > 9:
                return BROKEN + b" message=" + quoted("expected '<channel-id> <URL>' (external_acl_type ... "
                                                      "concurrency=N), got no channel id")
            channel, parts = parts[0] + b" ", parts[1:]
        if not parts:
            return channel + BROKEN + b" message=" + quoted("no URL on the line (external_acl_type format: %URI)")
        checker, problem = self._checker()
        if checker is None:
            return channel + UNAVAILABLE + b" message=" + quoted(problem)
        verdict = checker.check(unquote_to_bytes(parts[0]))
        if verdict.listed:
            return channel + LISTED
        if verdict.error is not None:
            return channel + NOT_LISTED + b" message=" + quoted("not a URL the list can check")
        return channel + NOT_LISTED

    def too_long(self, start: bytes) -> bytes:
        """The reply to a line longer than the limit, from its first bytes (the channel id is at the start)."""
        parts = start.split(maxsplit=1)
        channel = parts[0] + b" " if self._channels and parts and parts[0].isdigit() and len(parts[0]) <= 9 else b""
        return channel + BROKEN + b" message=" + quoted(f"line longer than {MAX_SQUID_HELPER_LINE:,} bytes")

    def _checker(self) -> tuple[UrlChecker | None, str]:
        """The list to answer from, or None and why not (unreadable for too long, or emptied)."""
        try:
            checker = self._cache.get(self._engine)
            if self._failing:
                self._log("the URL list can be read again")
                self._failing = False
        except (SQLAlchemyError, StoreError) as exc:
            if not self._failing:
                self._log(f"cannot read the URL list ({type(exc).__name__}: {exc}); answering from the list held "
                          "while it is fresh enough")
                self._failing = True
            checker = self._cache.current
            if checker is None:
                return None, f"the URL list cannot be read ({type(exc).__name__}: {exc})"
            stale = self._cache.clock() - self._cache.confirmed
            if stale > self._max_stale:
                return None, f"the URL list could not be read for {stale:.0f} s"
        if not len(checker):
            return None, ("the URL list is empty: answering ERR to every URL would look like nothing is listed "
                          "(`url add`, `url import` first)")
        return checker, ""


def run(helper: SquidHelper, stdin: BinaryIO, stdout: BinaryIO, max_line: int = MAX_SQUID_HELPER_LINE) -> int:
    """Answer every line of `stdin` on `stdout` until the end of input; return how many lines were answered."""
    helper.start()
    answered = 0
    while True:
        line = stdin.readline(max_line + 1)
        if not line:
            return answered
        if len(line) > max_line and not line.endswith(b"\n"):
            reply = helper.too_long(line[:64])
            while line and not line.endswith(b"\n"):  # the rest of the line, dropped as it comes
                line = stdin.readline(_SKIP_CHUNK)
        else:
            reply = helper.answer(line)
        stdout.write(reply + b"\n")
        stdout.flush()
        answered += 1


class OpenedLater:
    """An engine opened on first use and, while opening fails, tried again at most every `retry` seconds (the
    failure raised again meanwhile): the helper starts, and answers, whether or not the database is there yet."""

    def __init__(self, opener: Callable[[], Engine], retry: float, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._opener, self._retry, self._clock = opener, retry, clock
        self._engine: Engine | None = None
        self._failed: tuple[float, Exception] | None = None

    def connect(self) -> Any:
        if self._engine is None:
            now = self._clock()
            if self._failed is not None and now - self._failed[0] < self._retry:
                raise self._failed[1]
            try:
                self._engine = self._opener()
            except (SQLAlchemyError, StoreError) as exc:
                self._failed = (now, exc)
                raise
        return self._engine.connect()


def _to_stderr(text: str) -> None:
    """Squid writes its helpers' stderr to its cache.log."""
    print(f"hashwarden squid-helper: {text}", file=sys.stderr, flush=True)
