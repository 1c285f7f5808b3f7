"""Squid's external ACL helper on the URL list (issue 19): `hashwarden url squid-helper`.

Squid starts the helper (`external_acl_type hw concurrency=N ttl=0 %URI hashwarden url squid-helper`) and writes one
request a line: `<channel-id> <URL> [more values]`, each value URL-escaped by squid (so a space or `%` in the URL
arrives as `%20`, `%25`) and `-` for a value it does not have (squid appends `%DATA`, `-` without acl arguments).
The helper answers each line with one line, the channel id first: `OK` when the URL is listed (an
`http_access deny` on the ACL then blocks it, and `deny_info` shows the block page), `ERR` when it is not, `BH`
("broken helper") with a `message=` when the line cannot be answered (no channel id, no URL, longer than
`MAX_SQUID_HELPER_LINE`, the list unreadable for too long or emptied). Nothing of the entry is ever sent: squid
learns listed or not, never which entry matched.

The URL is unescaped once (undoing squid's escaping) and checked as `url check` checks it (`UrlChecker`: Safe
Browsing canonicalization, its expressions, their SHA-256). For an HTTPS `CONNECT`, squid's `%URI` is `host:443`:
only domain entries can match it (the path is inside TLS).

Answers are in request order, each flushed as soon as it is written (squid waits on it). The list is re-read when
its version moved, asked at most every `SQUID_HELPER_REFRESH_SECONDS` (an entry added or removed is answered within
that); a store that cannot be read keeps the list held answering for `SQUID_HELPER_MAX_STALE_SECONDS` at most, then
every line is BH, so a helper never serves an old list forever. The helper refuses to start on an empty list (every
answer `ERR` would look like nothing is listed) and ends cleanly at the end of its input (squid closing it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import BinaryIO
from urllib.parse import unquote_to_bytes

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from hashwarden.config import MAX_SQUID_HELPER_LINE, SQUID_HELPER_MAX_STALE_SECONDS
from hashwarden.errors import UrlListError
from hashwarden.urllist.checker import UrlChecker, UrlListCache

LISTED = b"OK"
NOT_LISTED = b"ERR"
BROKEN = b"BH"
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

    def start(self) -> UrlChecker:
        """The list read once before the first line.

        Raises:
            UrlListError: the list is empty (nothing to check against).
        """
        checker = self._cache.get(self._engine)
        if not len(checker):
            raise UrlListError("the URL list is empty: a helper answering ERR to every URL would look like nothing "
                               "is listed (`url add`, `url import` first)")
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
            return channel + BROKEN + b" message=" + quoted(problem)
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
        except SQLAlchemyError as exc:
            if not self._failing:
                self._log(f"cannot read the URL list ({type(exc).__name__}); answering from the list held")
                self._failing = True
            checker = self._cache.current
            stale = self._cache.clock() - self._cache.confirmed
            if checker is None or stale > self._max_stale:
                return None, f"the URL list could not be read for {stale:.0f} s"
        if not len(checker):
            return None, "the URL list is empty"
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


def _to_stderr(text: str) -> None:
    """Squid writes its helpers' stderr to its cache.log."""
    print(f"hashwarden squid-helper: {text}", file=sys.stderr, flush=True)
