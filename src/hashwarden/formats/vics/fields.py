"""Parsing one Media field (hashes, flags, counts, text, tags, category codes, dates): lenient where writers
disagree, an error naming the field (`BadField`) where a value would change meaning."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from hashwarden.config import MAX_VICS_TEXT_CHARS
from hashwarden.errors import InvalidSignal


class BadField(Exception):
    """A field of one record is invalid (turned into a FormatError with file and record number)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def type_name(value: Any) -> str:
    return "null" if value is None else {bool: "a boolean", int: "a number", float: "a number", str: "a string",
                                         list: "an array", dict: "an object"}.get(type(value), type(value).__name__)


_HEX_FULL = {n: re.compile(f"[0-9a-fA-F]{{{n}}}").fullmatch for n in (32, 40, 64)}
_FLAG_TEXT = {"true": True, "false": False, "": None, "True": True, "False": False, "TRUE": True, "FALSE": False}
_MISSING = object()


def parse_digest(signal: Any, length: int, value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        if len(value) == length and _HEX_FULL[length](value):
            return value.lower()  # the common case, without the signal's general (slower) path
        if len(value) > 300:
            raise BadField(name, f"not a {signal.name} hash: {len(value)} characters")
        try:
            return signal.validate(value)
        except InvalidSignal as exc:
            raise BadField(name, str(exc)) from None
    raise BadField(name, f"must be a hex string, not {type_name(value)}")


def parse_flag(value: Any, name: str) -> bool | None:
    if value is None or value is True or value is False:
        return value
    if type(value) is str:
        found = _FLAG_TEXT.get(value, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        text = value.strip().lower()
        if text in _FLAG_TEXT:
            return _FLAG_TEXT[text]
    shown = repr(value) if len(repr(value)) < 40 else type_name(value)
    raise BadField(name, f"a flag must be true, false or null, not {shown}")


def parse_count(value: Any, name: str, upper: int | None = None) -> int | None:
    """A non-negative integer given as a JSON number or a digit string ('' and null: unknown)."""
    kind = type(value)
    if value is None:
        return None
    if kind is int:
        number = value
    elif kind is str and (value.strip() == "" or (value.strip().isascii() and value.strip().isdigit())):
        if value.strip() == "":
            return None
        number = int(value.strip())
    elif kind is float and value.is_integer():
        number = int(value)
    else:
        raise BadField(name, f"must be a non-negative integer, not {type_name(value)} {str(value)[:40]!r}")
    if number < 0 or (upper is not None and number > upper):
        raise BadField(name, f"out of range: {number}")
    return number


def parse_text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if type(value) is str:
        if len(value) > MAX_VICS_TEXT_CHARS:
            raise BadField(name, f"{len(value)} characters, over the {MAX_VICS_TEXT_CHARS}-character limit for a "
                                 "text field")
        return value
    if type(value) in (int, float):
        return str(value)
    raise BadField(name, f"must be a string, not {type_name(value)}")


def parse_tags(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if type(value) is str:
        if len(value) > MAX_VICS_TEXT_CHARS:
            raise BadField("Tags", f"{len(value)} characters, over the {MAX_VICS_TEXT_CHARS}-character limit for a "
                                   "text field")
        return [tag for tag in (part.strip() for part in value.split(",")) if tag]
    if type(value) is list and all(type(tag) is str for tag in value):  # not VICS, but seen; split like the string
        return [tag for tag in (part.strip() for item in value for part in item.split(",")) if tag]
    raise BadField("Tags", f"must be a comma-delimited string, not {type_name(value)}")


def parse_category(value: Any) -> str | None:
    kind = type(value)
    if kind is int and value >= 0:
        return str(value)
    if kind is str:
        text = value.strip()
        if text == "":
            return None
        if text.isascii() and text.isdigit():
            return str(int(text))
    if kind is float and value.is_integer() and value >= 0:
        return str(int(value))
    raise BadField("Category",
                   f"must be a non-negative integer code or null, not {type_name(value)} {str(value)[:40]!r}")


_UTC = timezone.utc
CODE_TEXT = [str(code) for code in range(256)]


@lru_cache(maxsize=4096)
def normal_date(text: str) -> tuple[str | None, bool]:
    """(UTC ISO 8601 with Z, whether that equals `text`), or (None, False) when `text` is not a date.

    A time without a zone is taken as UTC; `+01:00Z` (an invalid form one X-Ways X-Tension wrote) as `+01:00`.
    """
    value = text.strip()
    if len(value) > 64:
        return None, False
    if len(value) > 7 and value.endswith("Z") and value[-7] in "+-" and value[-4] == ":":
        value = value[:-1]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    moment = moment.astimezone(_UTC).replace(tzinfo=None)
    micro = moment.microsecond
    spec = "seconds" if micro == 0 else "milliseconds" if micro % 1000 == 0 else "microseconds"
    out = moment.isoformat(timespec=spec) + "Z"
    return out, out == text
