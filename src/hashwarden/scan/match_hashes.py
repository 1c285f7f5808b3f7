"""Matching a list of hashes (JSON lines as `hashwarden hash` writes them) against the store, in batches.

Why a batch path next to the scan: a platform or a second examiner often has only hashes (an upload log, another
lab's `hashwarden hash` output), millions of them. Their PDQ forms go through the index as one join per batch,
several times faster than one lookup per line (bench/pdq_index.py), while each output line says exactly what the
scan would have said about the same item: `status` and `matches`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TextIO

from hashwarden.config import MATCH_BATCH_LINES
from hashwarden.errors import FormatError, InvalidSignal
from hashwarden.formats.jsonl import HASH_FIELDS, check_quality, object_lines, parse_vpdq
from hashwarden.scan.matcher import Matcher, item_status
from hashwarden.signals import PDQ



def match_lines(matcher: Matcher, fp: BinaryIO, path: str, out: TextIO,
                advance: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write each line of `fp` back with `status` and `matches` added; return the count per status.

    Raises:
        FormatError: a line is not a JSON object or holds a malformed hash (file and line named); lines before it
            have been written.
    """
    counts: dict[str, int] = {}
    for batch in _batches(fp, path):
        for item, matches in zip(batch, matcher.match_many(batch)):
            item["status"] = item_status(matches, item.get("error"))
            item["matches"] = matches
            counts[item["status"]] = counts.get(item["status"], 0) + 1
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
        if advance:
            advance(len(batch))
    return counts


def _batches(fp: BinaryIO, path: str) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for number, item in object_lines(fp, path):
        batch.append(_checked(item, path, number))
        if len(batch) >= MATCH_BATCH_LINES:
            yield batch
            batch = []
    if batch:
        yield batch


def _checked(item: dict[str, Any], path: str, number: int) -> dict[str, Any]:
    """One line's item with its hashes checked (lower-case hex of the right length)."""
    for key, check in _CHECKS.items():
        if item.get(key) is not None:
            try:
                item[key] = check(item[key])
            except (InvalidSignal, ValueError) as exc:
                raise FormatError(f"field {key}: {exc}", path, number) from exc
    return item


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, not {type(value).__name__}")
    return value


def _forms(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("expected a list of PDQ hashes")
    return [PDQ.validate(_text(form)) for form in value]


_CHECKS: dict[str, Callable[[object], Any]] = {
    **{key: (lambda value, signal=signal: signal.validate(_text(value))) for key, signal in HASH_FIELDS.items()},
    "pdq_dihedral": _forms,
    "pdq_quality": check_quality,
    "vpdq": lambda value: [frame.to_json() for frame in parse_vpdq(value) or []],
}
