"""Every error hashwarden raises on purpose, in one flat hierarchy.

    HashwardenError
     ├── InvalidSignal        a hash string that is not what its signal type expects
     ├── EvidenceReadError    an item could not be read or decoded (carries location and byte offset)
     │    └── ImageTooLarge   declared pixels or predicted decode memory above the limit: refused before allocating
     ├── FormatError          a malformed hash list or import line (carries file and line)
     ├── StoreError           the hash database refused an operation (unknown set, duplicate name, ...)
     ├── AuditError           the audit chain does not verify
     ├── ScanError            a scan cannot start or go on (bad case directory, resume mismatch)
     ├── GradingError         a grading vote refused (a category not of its scheme, a bad age band ...: field named)
     │    └── SeriesError     a series or victim refused (its `kind`: invalid, unknown code, code exists)
     ├── RemoteError          a hashwarden service refused a request or could not be reached (server named)
     ├── UrlError             a URL refused by the canonicalizer (no host, not http(s), too long ...: reason named)
     ├── UrlListError         a URL list entry refused, or the list cannot serve (empty: nothing to check against)
     ├── BlockPageError       a block page configuration or template refused (file and what is wrong named)
     └── DistributionError    a TUF repository refused (expired, rollback, bad signature, hash mismatch) or unusable

The CLI catches only `HashwardenError` and prints `TypeName: message`; anything else is a bug and shows a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class HashwardenError(Exception):
    """Base class: an expected failure with a message fit for the user."""


class InvalidSignal(HashwardenError):
    """A hash string does not match its signal type (wrong length, not hex, ...)."""


class EvidenceReadError(HashwardenError):
    """An evidence item could not be read or decoded.

    `location` names the item (its report path) and `offset` the byte position where reading failed, if known.
    """

    def __init__(self, message: str, location: str | None = None, offset: int | None = None) -> None:
        super().__init__(message)
        self.location = location
        self.offset = offset

    def __str__(self) -> str:
        text = super().__str__()
        where = []
        if self.location is not None:
            where.append(self.location)
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        return f"{text} ({', '.join(where)})" if where else text


class ImageTooLarge(EvidenceReadError):
    """An image header declares more pixels, or implies more decode memory, than the configured limits (a
    decompression bomb or an absurd size)."""


class FormatError(HashwardenError):
    """A hash list or import file is malformed. `path`, `line` or byte `offset`, and `field` say where.

    Binary or JSON formats without useful line numbers give the byte offset instead; `field` names the column or
    JSON key at fault, so an analyst can fix a 5 GB export without guessing.
    """

    def __init__(
        self, message: str, path: str | None = None, line: int | None = None,
        offset: int | None = None, field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.offset = offset
        self.field = field

    def __str__(self) -> str:
        text = super().__str__()
        if self.field is not None:
            text = f"field {self.field}: {text}"
        where = self.path or ""
        if self.line is not None:
            where += f":{self.line}"
        if self.offset is not None:
            where += f" (byte {self.offset})"
        return f"{where}: {text}" if where else text


class StoreError(HashwardenError):
    """The hash database refused an operation."""


class AuditError(HashwardenError):
    """The audit log's hash chain does not verify."""


class ScanError(HashwardenError):
    """A scan cannot start or continue."""


class GradingError(HashwardenError):
    """A grading vote was refused; `field` names what was wrong (`category`, `age_band`, `md5` ...), so a batch
    of votes from a viewer's export or the service can say which value to fix."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __str__(self) -> str:
        text = super().__str__()
        return f"field {self.field}: {text}" if self.field is not None else text


class SeriesError(GradingError):
    """A series or victim record or link was refused (store/series.py); `field` names the value at fault (`code`,
    `date`, `series` ...); `kind` says which refusal it is, INVALID, UNKNOWN (no series, victim or set of that code
    or name) or EXISTS (the code is taken), so the service answers 422, 404 or 409 while the CLI prints one type."""

    INVALID, UNKNOWN, EXISTS = "invalid", "unknown", "exists"

    def __init__(self, message: str, field: str | None = None, kind: str = INVALID) -> None:
        super().__init__(message, field)
        self.kind = kind


class UrlListError(HashwardenError):
    """A URL list entry was refused (urllist/): the URL does not canonicalize, the kind is unknown, or the entry
    would block a whole public suffix; the message names the URL."""


class BlockPageError(HashwardenError):
    """A block page configuration or template was refused (urllist/block_page.py): unreadable, an unknown key or
    placeholder, a status other than 403 or 451, a help-line link that is not http(s); the message names the file."""


class RemoteError(HashwardenError):
    """A hashwarden service refused a request (its status and JSON message) or could not be reached; the message
    names the server."""


class UrlError(HashwardenError):
    """A URL was refused by the canonicalizer (urls/canonical.py): `reason` says why (no host, a scheme that is
    not http or https, longer than config.MAX_URL_BYTES ...), `url` is the input, shortened for messages."""

    def __init__(self, reason: str, url: str | bytes | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.url = url

    def __str__(self) -> str:
        if self.url is None:
            return self.reason
        text = self.url.decode("utf-8", "backslashreplace") if isinstance(self.url, bytes) else self.url
        if len(text) > 120:
            text = text[:120] + "..."
        return f"{text!r}: {self.reason}"


class DistributionError(HashwardenError):
    """Publishing or subscribing to a signed repository of hash sets failed (distribution/): the repository's
    metadata did not verify (named: expired, rolled back, bad signature, hash or length mismatch), a key or the
    repository directory is unusable, or a subscriber's set cannot follow the published one. A refused
    subscription leaves the database as it was."""


def describe(exc: BaseException) -> str:
    """Any exception as one line in words for the report: its type and first line (the traceback goes to the
    debug log), never a raw tuple or an empty string; our own errors as they read."""
    if isinstance(exc, EvidenceReadError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror if exc.errno == 5 else f"{type(exc).__name__}: {exc.strerror}"
    text = str(exc).strip()
    message = text.splitlines()[0] if text else "no detail given"
    if isinstance(exc, EOFError) and "end" not in message.lower():
        message = f"the data ends too early ({message})"
    return f"{type(exc).__name__}: {message}"


@contextlib.contextmanager
def at_location(location: str) -> Iterator[None]:
    """Attach `location` to any EvidenceReadError (or OSError) raised inside, so the report can name the item.

    Raises:
        EvidenceReadError: wrapping an OSError, or the original one with its location filled in.
    """
    try:
        yield
    except EvidenceReadError as exc:
        if exc.location is None:
            exc.location = location
        raise
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise EvidenceReadError(reason, location=location) from exc
