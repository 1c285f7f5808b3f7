"""JSON lines as written by `hashwarden hash`, with optional `category`, `series`, `tags`, `comments` keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from hashwarden.formats import ReadReport
from hashwarden.errors import FormatError, InvalidSignal
from hashwarden.formats._lines import text_lines
from hashwarden.signals import MD5, PDQ, SHA1, SHA256
from hashwarden.store.hashsets import EntryRecord

_HASH_FIELDS = {"md5": MD5, "sha1": SHA1, "sha256": SHA256, "pdq": PDQ}


def read(fp: BinaryIO, path: str, report: ReadReport | None = None) -> Iterator[EntryRecord]:
    """Yield one record per line.

    Raises:
        FormatError: a line is not a JSON object, holds an invalid hash or no hash at all.
    """
    for number, text in text_lines(fp, path, comment=None):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"not valid JSON: {exc.msg} at column {exc.colno}", path, number) from exc
        if not isinstance(obj, dict):
            raise FormatError("each line must be a JSON object", path, number)
        try:
            yield _record(obj, f"{path}:{number}")
        except (InvalidSignal, TypeError, ValueError) as exc:
            raise FormatError(str(exc), path, number) from exc


def _record(obj: dict[str, Any], provenance: str) -> EntryRecord:
    hashes = {}
    for key, signal in _HASH_FIELDS.items():
        value = obj.get(key)
        if value is not None:
            if not isinstance(value, str):
                raise ValueError(f"{key} must be a string")
            hashes[key] = signal.validate(value)
    if not hashes:
        raise ValueError("no md5, sha1, sha256 or pdq on this line")
    tags = obj.get("tags") or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("tags must be a list of strings")
    category = obj.get("category")
    quality = obj.get("pdq_quality")
    if quality is not None and (not isinstance(quality, int) or not 0 <= quality <= 100):
        raise ValueError("pdq_quality must be an integer from 0 to 100")
    size = obj.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ValueError("size must be a non-negative integer")
    return EntryRecord(
        **hashes,
        pdq_quality=quality,
        media=obj.get("media"),
        size=size,
        category=None if category is None else str(category),
        series=obj.get("series"),
        tags=tags,
        comments=obj.get("comments"),
        provenance=provenance,
    )
