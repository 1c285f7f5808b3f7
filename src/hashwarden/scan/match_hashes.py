"""Matching a list of hashes (JSON lines as `hashwarden hash` writes them) against the store, in batches.

Why a batch path next to the scan: a platform or a second examiner often has only hashes (an upload log, another
lab's `hashwarden hash` output), millions of them. Their PDQ forms go through the index as one join per batch,
several times faster than one lookup per line (bench/pdq_index.py), while each output line says exactly what the
scan would have said about the same item: `status` and `matches`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, Protocol, TextIO

from sqlalchemy.engine import Engine

from hashwarden.config import MATCH_BATCH_LINES, ScanSettings
from hashwarden.errors import FormatError, InvalidSignal
from hashwarden.index.known_filter import KnownFilter
from hashwarden.formats.jsonl import HASH_FIELDS, check_quality, object_lines, parse_vpdq
from hashwarden.scan.index_generations import current_key, open_generation
from hashwarden.scan.known_files import open_known_filter
from hashwarden.scan.matcher import Matcher, item_status
from hashwarden.scan.store_sets import refuse_empty_store
from hashwarden.signals import PDQ


class ItemMatcher(Protocol):
    """What `match_lines` matches with: a local `Matcher`, or the remote client's (remote/lookup.py), which asks a
    hashwarden service; so the lines written are the same whichever answers."""

    def match_many(self, items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]: ...


def matcher_for(engine: Engine, settings: ScanSettings, known: KnownFilter | None = None) -> Matcher:
    """The Matcher that `hashwarden match`, the scan and the service's lookup answer from: the settings'
    thresholds, quality rule and vPDQ percentages, the known-file filter unless turned off; one place, so they
    cannot differ. Its indexes are the store's current generation, memory-mapped (built first if no process has:
    scan/index_generations.py); `matcher.generation` names it. `known`: the filter when the caller opened it
    already (the scan, whose workers use it before the matcher exists).

    Raises:
        ScanError: the store holds no alert entry and `settings.allow_empty` is false (see require_alert_entries),
            or the sets kept changing while the generation was built.
    """
    if not settings.allow_empty:
        refuse_empty_store(engine)
    key, indexes = open_generation(engine, settings.pdq_min_quality, ignorable_digests=not settings.known_filter)
    # Opened after the generation: a change of the ignorable sets in between makes the filter newer than the key,
    # never older, and the next `generation_for` differs, so a refreshing service switches again.
    if known is None and settings.known_filter:
        known = open_known_filter(engine)
    return Matcher.from_indexes(indexes, engine, settings.pdq_threshold, settings.pdq_min_quality, known,
                                (settings.vpdq_query_percent, settings.vpdq_compared_percent), generation=key)


def generation_for(engine: Engine, settings: ScanSettings) -> str:
    """The key of the generation `matcher_for(engine, settings)` would open now: a process that holds a Matcher
    compares it with `matcher.generation` to know when to switch."""
    return current_key(engine, settings.pdq_min_quality, ignorable_digests=not settings.known_filter)


def match_lines(matcher: ItemMatcher, fp: BinaryIO, path: str, out: TextIO,
                advance: Callable[[int], None] | None = None, batch_lines: int = MATCH_BATCH_LINES) -> dict[str, int]:
    """Write each line of `fp` back with `status` and `matches` added, `batch_lines` lines per `match_many`;
    return the count per status.

    Raises:
        FormatError: a line is not a JSON object or holds a malformed hash (file and line named); lines before it
            have been written.
    """
    counts: dict[str, int] = {}
    for batch in _batches(fp, path, batch_lines):
        for item, matches in zip(batch, matcher.match_many(batch)):
            item["status"] = item_status(matches, item.get("error"))
            item["matches"] = matches
            counts[item["status"]] = counts.get(item["status"], 0) + 1
            out.write(json.dumps(item, ensure_ascii=False) + "\n")
        if advance:
            advance(len(batch))
    return counts


def _batches(fp: BinaryIO, path: str, size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for number, item in object_lines(fp, path):
        batch.append(checked_item(item, path, number))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def checked_item(item: dict[str, Any], path: str, number: int) -> dict[str, Any]:
    """One line's item with its hashes checked and made lower-case hex of the right length (the service checks
    a lookup's items with it too).

    Raises:
        FormatError: a malformed hash, naming `path`, `number` and the field.
    """
    for key, check in _CHECKS.items():
        value = item.get(key)
        if value is not None:
            try:
                item[key] = check(value)
            except (InvalidSignal, ValueError) as exc:
                raise FormatError(f"field {key}: {exc}", path, number) from exc
    return item


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, not {type(value).__name__}")
    return value


def _hash_check(validate: Callable[[str], str]) -> Callable[[object], str]:
    """The check of a hash field: a string that `validate` accepts. One call for the usual string (it runs for
    each hash of a batch); `_text` says what else was given."""
    def check(value: object) -> str:
        return validate(value if isinstance(value, str) else _text(value))
    return check


def _forms(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("expected a list of PDQ hashes")
    return [PDQ.validate(_text(form)) for form in value]


_CHECKS: dict[str, Callable[[object], Any]] = {
    **{key: _hash_check(signal.validate) for key, signal in HASH_FIELDS.items()},
    "pdq_dihedral": _forms,
    "pdq_quality": check_quality,
    "vpdq": lambda value: [frame.to_json() for frame in parse_vpdq(value) or []],
}
