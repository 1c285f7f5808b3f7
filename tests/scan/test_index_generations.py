"""Index generations built from the store (scan/index_generations.py, `matcher_for`), on both backends.

What must hold: a matcher on a generation answers exactly as `Matcher.from_store` reading the same store; every
kind of change that can change an answer moves the key, so a stale generation is never the one opened (the worst
failure here is a wrong "not known"); a store that changes during a build does not get its generation filed under
the old key; an unwritable cache directory still gives correct answers.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from hashwarden.config import ScanSettings
from hashwarden.errors import ScanError
from hashwarden.formats.nsrl.delta import DeltaOp
from hashwarden.index import generation
from hashwarden.scan import index_generations
from hashwarden.scan.known_files import open_known_filter
from hashwarden.scan.match_hashes import generation_for, matcher_for
from hashwarden.scan.matcher import Matcher
from hashwarden.signals.vpdq import VpdqFrame
from hashwarden.store import create_set
from hashwarden.store.delta import apply_delta
from hashwarden.store.hashsets import delete_set, get_set, rename_set
from hashwarden.store.import_run import record_import
from hashwarden.store.loader import import_entries
from hashwarden.store.schema import hash_set
from hashwarden.store.records import EntryRecord
from tests.scan.test_matcher_rules import code, flip, frames

BENIGN_MD5 = "b" * 32
ALERT_MD5 = "a" * 32
SHARED_SHA1 = "5" * 40  # in both kinds of set
LOW, MID, GOOD, NONE = code(40), code(41), code(42), code(43)  # PDQ codes of quality 45, 49, 90 and none
VIDEO = [code(44), code(45)]


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Generations of a PostgreSQL store go under the user's cache directory: the test's own one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def store(store_engine: Any) -> Any:
    with store_engine.begin() as conn:
        create_set(conn, "alerts", "alert", category_scheme="vics-us")
        create_set(conn, "benign", "ignorable")
    import_entries(store_engine, "alerts", [
        EntryRecord(md5=ALERT_MD5, sha256="c" * 64, line=1), EntryRecord(sha1=SHARED_SHA1, line=2),
        EntryRecord(md5="1" * 32, pdq=LOW, pdq_quality=45, line=3),
        EntryRecord(md5="2" * 32, pdq=MID, pdq_quality=49, line=4),
        EntryRecord(md5="3" * 32, pdq=GOOD, pdq_quality=90, line=5), EntryRecord(pdq=NONE, line=6),
        EntryRecord(vpdq=[VpdqFrame(i, 90, h, float(i)) for i, h in enumerate(VIDEO)], line=7),
    ], {"file": "alerts"})
    import_entries(store_engine, "benign", [EntryRecord(md5=BENIGN_MD5, line=1), EntryRecord(sha1=SHARED_SHA1, line=2),
                                            EntryRecord(sha256="d" * 64, line=3)], {"file": "benign"})
    return store_engine


QUERIES: list[dict[str, Any]] = [
    {"md5": ALERT_MD5}, {"sha256": "c" * 64}, {"sha1": SHARED_SHA1}, {"md5": BENIGN_MD5}, {"sha256": "d" * 64},
    {"md5": "9" * 32}, {"pdq": flip(LOW, 3), "pdq_quality": 90}, {"pdq": flip(MID, 10)}, {"pdq": GOOD},
    {"pdq": flip(GOOD, 31)}, {"pdq": flip(GOOD, 32)}, {"pdq": NONE, "pdq_quality": 20},
    {"pdq": code(50), "pdq_dihedral": [code(50), flip(GOOD, 5)]}, {"vpdq": frames(*VIDEO)}, {"vpdq": frames(VIDEO[0])},
]
SETTINGS = [ScanSettings(), ScanSettings(known_filter=False), ScanSettings(pdq_min_quality=40),
            ScanSettings(pdq_threshold=10, vpdq_query_percent=40.0, vpdq_compared_percent=40.0)]


def reference(engine: Any, settings: ScanSettings,
              queries: list[dict[str, Any]] = QUERIES) -> list[list[dict[str, Any]]]:
    """What `Matcher.from_store` (every row read now) answers to `queries` with these settings."""
    known = open_known_filter(engine) if settings.known_filter else None
    matcher = Matcher.from_store(engine, settings.pdq_threshold, settings.pdq_min_quality, known,
                                 (settings.vpdq_query_percent, settings.vpdq_compared_percent))
    return answers(matcher, queries)


def answers(matcher: Matcher, queries: list[dict[str, Any]] = QUERIES) -> list[list[dict[str, Any]]]:
    return matcher.match_many([dict(q) for q in queries])


@pytest.mark.parametrize("settings", SETTINGS, ids=["default", "no-filter", "quality-40", "threshold-10"])
def test_a_generation_answers_as_from_store(store: Any, settings: ScanSettings) -> None:
    expected = reference(store, settings)
    assert sum(map(bool, expected)) >= 8  # the queries do hit: the comparison cannot pass on empty answers
    built = matcher_for(store, settings)
    assert answers(built) == expected
    assert built.generation == generation_for(store, settings)
    reopened = matcher_for(store, settings)  # mapped from the files the first call wrote, not rebuilt
    assert reopened.generation == built.generation and answers(reopened) == expected
    root = index_generations.generations_directory(store)
    assert [p.name for p in root.iterdir() if p.is_dir()] == [built.generation]
    if store.dialect.name == "sqlite":  # beside the database, as the README says
        assert root == Path(f"{store.url.database}.index-generations")


def _delta(engine: Any, set_name: str, ops: list[DeltaOp]) -> None:
    with engine.begin() as conn:
        result = apply_delta(conn, get_set(conn, set_name), ops, file="delta.sql", warnings=[], ignored=Counter())
        record_import(conn, set_name, result, fmt="nsrl-delta", file="delta.sql", file_sha256=None, details=None)


def _sql_kind(engine: Any, name: str, kind: str) -> None:
    with engine.begin() as conn:  # no command changes a set's kind; a change in SQL must still move the key
        conn.execute(update(hash_set).where(hash_set.c.name == name).values(kind=kind))


def _in_transaction(change: Callable[..., Any], *args: Any) -> Callable[[Any], None]:
    def run(engine: Any) -> None:
        with engine.begin() as conn:
            change(conn, *args)
    return run


# (what changes, the change, a query whose answer it changes)
CHANGES: list[tuple[str, Callable[[Any], None], dict[str, Any]]] = [
    ("alert import", lambda e: import_entries(e, "alerts", [EntryRecord(md5="e" * 32, line=1)], {"file": "x"}),
     {"md5": "e" * 32}),
    ("ignorable import", lambda e: import_entries(e, "benign", [EntryRecord(md5="f" * 32, line=1)], {"file": "x"}),
     {"md5": "f" * 32}),
    ("pdq import", lambda e: import_entries(e, "alerts", [EntryRecord(pdq=code(60), pdq_quality=80, line=1)],
                                            {"file": "x"}), {"pdq": flip(code(60), 4)}),
    ("video import", lambda e: import_entries(e, "alerts", [EntryRecord(sha256="6" * 64, line=1, vpdq=[
                                                                        VpdqFrame(0, 90, code(61), 0.0)])], {"file": "x"}),
     {"vpdq": frames(code(61))}),
    ("nsrl delta insert", lambda e: _delta(e, "benign", [DeltaOp("insert", "FILE", 1,
                                                                 record=EntryRecord(sha256="7" * 64))]),
     {"sha256": "7" * 64}),
    ("nsrl delta delete", lambda e: _delta(e, "benign", [DeltaOp("delete", "FILE", 1, key={"md5": BENIGN_MD5})]),
     {"md5": BENIGN_MD5}),
    ("alert entries deleted by a delta", lambda e: _delta(e, "alerts", [DeltaOp("delete", "FILE", 1,
                                                                                key={"md5": ALERT_MD5})]),
     {"md5": ALERT_MD5}),
    ("set deleted", _in_transaction(delete_set, "alerts"), {"sha256": "c" * 64}),
    ("set renamed", _in_transaction(rename_set, "alerts", "renamed"), {"md5": ALERT_MD5}),
    ("ignorable set made alert", lambda e: _sql_kind(e, "benign", "alert"), {"md5": BENIGN_MD5}),
    ("alert set made ignorable", lambda e: _sql_kind(e, "alerts", "ignorable"), {"md5": ALERT_MD5}),
    ("set created and filled", lambda e: (_in_transaction(create_set, "new", "alert")(e), import_entries(
        e, "new", [EntryRecord(sha1="8" * 40, line=1)], {"file": "x"})), {"sha1": "8" * 40}),
]


@pytest.mark.parametrize("settings", [dataclasses.replace(s, allow_empty=True) for s in SETTINGS[:2]],
                         ids=["filter", "no-filter"])  # some changes leave no alert entry
@pytest.mark.parametrize("change", CHANGES, ids=[c[0] for c in CHANGES])
def test_every_change_of_an_answer_moves_the_generation(
        store: Any, change: tuple[str, Callable[[Any], None], dict[str, Any]], settings: ScanSettings) -> None:
    """The key moves, and the generation opened afterwards answers as the store does now: had the key stayed, the
    old generation would be opened (in a fresh process too), and for most of these changes it answers otherwise."""
    _, apply, probe = change
    before = matcher_for(store, settings)
    answered_before = reference(store, settings, [probe])
    apply(store)
    after = matcher_for(store, settings)
    assert after.generation != before.generation
    assert after.generation == generation_for(store, settings)
    expected = reference(store, settings, [*QUERIES, probe])
    assert expected[-1:] != answered_before  # the change does change an answer...
    assert answers(after, [*QUERIES, probe]) == expected  # ...and the new generation gives the store's answers


def test_the_settings_that_shape_the_indexes_are_in_the_key(store: Any) -> None:
    keys = {generation_for(store, s) for s in (ScanSettings(), ScanSettings(known_filter=False),
                                               ScanSettings(pdq_min_quality=40), ScanSettings(pdq_min_quality=49))}
    assert len(keys) == 4
    # thresholds and percentages are applied at query time: one generation serves them all
    assert generation_for(store, ScanSettings(pdq_threshold=5, vpdq_query_percent=10.0)) == \
        generation_for(store, ScanSettings())


def test_a_change_during_the_build_is_never_filed_under_the_old_key(store: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    real = index_generations.read_indexes
    calls = []

    def importing_once(engine: Any, *args: Any, **kwargs: Any) -> Any:
        indexes = real(engine, *args, **kwargs)
        if not calls:  # an import commits after the build has read the entries
            import_entries(engine, "alerts", [EntryRecord(md5="e" * 32, line=1)], {"file": "during"})
        calls.append(1)
        return indexes

    monkeypatch.setattr(index_generations, "read_indexes", importing_once)
    matcher = matcher_for(store, ScanSettings())
    assert len(calls) == 2  # the first build was discarded
    assert matcher.generation == generation_for(store, ScanSettings())
    assert [m["method"] for m in matcher.match({"md5": "e" * 32})] == ["md5"]

    def always_importing(engine: Any, *args: Any, **kwargs: Any) -> Any:
        import_entries(engine, "alerts", [EntryRecord(md5=f"{len(calls):032x}", line=1)], {"file": "during"})
        calls.append(1)
        return real(engine, *args, **kwargs)

    monkeypatch.setattr(index_generations, "read_indexes", always_importing)
    import_entries(store, "alerts", [EntryRecord(md5="d" * 32, line=1)], {"file": "after"})  # a build is due
    with pytest.raises(ScanError, match="changed during each of 3 index builds"):
        matcher_for(store, ScanSettings())


def test_an_unwritable_cache_still_answers_from_the_store(store: Any, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    def refused(*_args: Any) -> Any:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(generation, "open_or_build", refused)
    with caplog.at_level(logging.WARNING, logger="hashwarden.scan.index_generations"):
        matcher = matcher_for(store, ScanSettings())
    assert "indexes built in memory" in caplog.text
    assert answers(matcher) == reference(store, ScanSettings())
    assert matcher.generation == generation_for(store, ScanSettings())


def test_matcher_for_refuses_an_empty_store_before_building(store_engine: Any) -> None:
    with pytest.raises(ScanError, match="no alert set"):
        matcher_for(store_engine, ScanSettings())
    assert not index_generations.generations_directory(store_engine).exists()
    empty = matcher_for(store_engine, dataclasses.replace(ScanSettings(), allow_empty=True))
    assert empty.match({"md5": ALERT_MD5}) == []
