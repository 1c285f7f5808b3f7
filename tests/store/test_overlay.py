"""The overlay of subscribed sets (store/overlay.py) and the live entries every reader sees (store/live.py).

A published delta applied to the overlay must leave every reader answering as if it had been applied to `entry`:
the exports, the counts, the matcher's indexes and its descriptions of hits, the known-file filter, the content
digest `audit verify` recomputes, the vPDQ frames, the lookups of later deltas. And a merge must change nothing a
reader sees, ids included. Checked against a model of the set, over random deltas, on both backends.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest
from sqlalchemy import func, select

from hashwarden.scan.known_files import open_known_filter
from hashwarden.scan.matcher import Matcher
from hashwarden.signals.vpdq import VpdqFrame, frames_sha256
from hashwarden.store import live, overlay
from hashwarden.store.audit import verify
from hashwarden.store.hashsets import (count_entries, create_set, delete_set, describe_entries, get_set,
                                       iter_entries, iter_match_rows, iter_video_frames, list_sets)
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store.revision import entries_of, entry_keys, revise_set
from hashwarden.store.schema import entry, entry_gone, entry_recent, vpdq_frame, vpdq_frame_recent

Key = tuple[str | None, ...]


def _record(n: int, category: str = "A", line: int = 1) -> EntryRecord:
    """Entry number `n`: every seventh a video with frames, every eleventh a video known by its frames alone."""
    frames = [VpdqFrame(i, 90, f"{n * 8 + i:064x}", float(i)) for i in range(3)] if n % 7 == 0 or n % 11 == 0 \
        else None
    if n % 11 == 0:
        return EntryRecord(category=category, vpdq=frames, line=line)
    return EntryRecord(md5=f"{n:032x}", sha256=f"{n:064x}", pdq=f"{n * 3:064x}", pdq_quality=90, category=category,
                       vpdq=frames, line=line)


def _key(record: EntryRecord) -> Key:
    video = frames_sha256(record.vpdq).hex() if not (record.md5 or record.pdq) else None
    return record.md5, record.sha256, record.pdq, video


def _exported(conn, set_id: int) -> list[tuple]:
    """The set as an export writes it, in export order (frames included)."""
    return [(r.md5, r.sha256, r.pdq, r.category, tuple(f.pdq for f in r.vpdq or ()))
            for r in iter_entries(conn, set_id, frames=True)]


def _expected(model: dict[Key, EntryRecord]) -> list[tuple]:
    return [(r.md5, r.sha256, r.pdq, r.category, tuple(f.pdq for f in r.vpdq or ())) for r in model.values()]


def _check(engine, model: dict[Key, EntryRecord], name: str = "s") -> list[tuple]:
    """Every reader against the model; returns (entry id, hashes) of the live entries, to compare across a merge."""
    with engine.connect() as conn:
        target = get_set(conn, name)
        # export order is the order the model's entries were added in: ids only grow
        assert _exported(conn, target.id) == _expected(model)
        assert count_entries(conn, target.id) == len(model)
        assert {s.name: s.entries for s in list_sets(conn)}[name] == len(model)
        keys = {entry_id: key for entry_id, key, _, _ in entry_keys(conn, target.id)}
        every = [row.entry_id for row in iter_match_rows(conn)]
        assert len(set(every)) == len(every)  # ids unique across sets, overlay or not
        matched = sorted((row.entry_id, row.md5, row.sha256, row.pdq) for row in iter_match_rows(conn)
                         if row.entry_id in keys)
        described = describe_entries(conn, list(keys))
        assert sorted(d["category"] for d in described.values() if d["set"] == name) == sorted(
            r.category for r in model.values())
        with_frames = {entry_id for entry_id, _ in iter_video_frames(conn, 0)}
        assert len(with_frames & set(keys)) == sum(1 for r in model.values() if r.vpdq)
        found, missing = entries_of(conn, target.id, list(model.values()))
        assert not missing and sorted(found.ids) == sorted(keys)
        assert verify(conn).ok
    return matched


def _delta(engine, remove: Iterable[EntryRecord], add: list[EntryRecord], version: str) -> None:
    with engine.begin() as conn:
        target = get_set(conn, "s")
        found, missing = entries_of(conn, target.id, list(remove))
        assert not missing
        revise_set(conn, target, found, add, fmt="test-delta", file="", version=version, details={},
                   into_overlay=True)


@pytest.fixture
def seeded(store_engine, monkeypatch: pytest.MonkeyPatch):
    """A set of 60 entries (videos among them), and its model; the overlay merged only on request."""
    monkeypatch.setattr(overlay, "MERGE_SHARE", 100.0)
    with store_engine.begin() as conn:
        create_set(conn, "s", "alert")
        create_set(conn, "other", "alert")
    records = [_record(n, line=n) for n in range(1, 61)]
    import_entries(store_engine, "s", records, {})
    return store_engine, {_key(r): r for r in records}


def test_random_deltas_into_the_overlay_read_as_the_model_and_a_merge_changes_nothing(seeded) -> None:
    engine, model = seeded
    rng = random.Random(19)
    fresh = iter(range(1000, 10_000))
    for version in range(1, 9):
        gone = rng.sample(list(model.values()), 8)
        for record in gone:
            del model[_key(record)]
        added = [_record(next(fresh), line=i) for i in range(1, 7)]
        added.append(_record(gone[0].line or 1, category="B", line=7) if gone[0].md5 else _record(next(fresh), line=7))
        added.append(added[0])  # repeated in the delta: added once
        added.append(next(iter(model.values())))  # already held: a duplicate, not added
        for record in added:
            model.setdefault(_key(record), record)
        _delta(engine, gone, added, str(version))
        with engine.connect() as conn:
            assert live.present(conn)
        before = _check(engine, model)
        if version % 3 == 0:
            with engine.begin() as conn:
                merged = overlay.merge(conn)
                assert merged.added and merged.removed
                assert not live.present(conn)
            assert _check(engine, model) == before  # ids kept


def test_an_import_elsewhere_merges_first_and_ids_stay_unique(seeded) -> None:
    engine, model = seeded
    _delta(engine, list(model.values())[:5], [_record(500, line=1)], "2")
    for record in list(model.values())[:5]:
        del model[_key(record)]
    model[_key(_record(500))] = _record(500, line=1)
    before = _check(engine, model)
    import_entries(engine, "other", [_record(600, line=1), _record(601, line=2)], {})
    with engine.connect() as conn:
        assert not live.present(conn)  # the import merged the overlay before it wrote `entry`
        other = [row.entry_id for row in iter_match_rows(conn) if row.entry_id not in {r[0] for r in before}]
    assert len(other) == 2
    assert min(other) > max(row[0] for row in before)
    assert _check(engine, model) == before


def test_a_later_delta_removes_an_addition_still_in_the_overlay(seeded) -> None:
    engine, model = seeded
    _delta(engine, [], [_record(700, line=1), _record(770, line=2)], "2")  # 770: a video with frames
    _delta(engine, [_record(700), _record(770)], [], "3")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(entry_recent)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(vpdq_frame_recent)).scalar_one() == 0
    _check(engine, model)


def test_a_delta_passing_the_share_merges_the_overlay_first(seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, model = seeded
    monkeypatch.setattr(overlay, "MERGE_SHARE", 0.1)  # 6 of the 60 entries
    _delta(engine, list(model.values())[:4], [], "2")
    with engine.connect() as conn:
        assert live.pending(conn, get_set(conn, "s").id) == 4
    _delta(engine, list(model.values())[4:8], [], "3")  # 4 pending: not due yet
    with engine.connect() as conn:
        assert live.pending(conn, get_set(conn, "s").id) == 8
    _delta(engine, list(model.values())[8:9], [], "4")  # 8 > 6: merged before this delta
    with engine.connect() as conn:
        assert live.pending(conn, get_set(conn, "s").id) == 1
        gone = conn.execute(select(func.count()).select_from(entry_gone)).scalar_one()
    assert gone == 1
    for record in list(model.values())[:9]:
        del model[_key(record)]
    _check(engine, model)


def test_the_matcher_and_the_known_file_filter_see_the_overlay(seeded) -> None:
    engine, model = seeded
    removed, kept = _record(2), _record(3)
    _delta(engine, [removed], [_record(900, category="C", line=1)], "2")
    matcher = Matcher.from_store(engine)
    assert matcher.match({"md5": removed.md5}) == []
    assert [m["category"] for m in matcher.match({"md5": kept.md5})] == ["A"]
    assert [m["category"] for m in matcher.match({"md5": f"{900:032x}"})] == ["C"]
    # an ignorable set followed by deltas: the filter holds what the set holds now
    with engine.begin() as conn:
        create_set(conn, "known-good", "ignorable")
    import_entries(engine, "known-good", [_record(n, line=n) for n in (41, 42)], {})
    with engine.begin() as conn:
        target = get_set(conn, "known-good")
        found, _ = entries_of(conn, target.id, [_record(41)])
        revise_set(conn, target, found, [_record(43, line=1)], fmt="test-delta", file="", version="2", details={},
                   into_overlay=True)
        assert live.present(conn)
    known = open_known_filter(engine)
    assert known is not None
    assert known.lookup("md5", bytes.fromhex(_record(41).md5)) == []
    assert known.lookup("md5", bytes.fromhex(_record(42).md5)) and known.lookup("md5", bytes.fromhex(_record(43).md5))


def test_a_gone_entry_is_not_described_and_a_deleted_set_takes_its_overlay(seeded) -> None:
    engine, model = seeded
    with engine.connect() as conn:
        first = min(row.entry_id for row in iter_match_rows(conn))
    _delta(engine, [_record(1)], [_record(800, line=1)], "2")
    with engine.begin() as conn:
        assert first not in describe_entries(conn, [first])
        assert delete_set(conn, "s") == 60
        for table in (entry_recent, entry_gone, vpdq_frame_recent):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() == 0
        assert live.count(conn, select(func.count()).select_from(vpdq_frame)) == 0
        assert verify(conn).ok


def test_a_reader_sees_one_state_while_a_merge_runs(seeded) -> None:
    """A reader that has read `entry` must not then find the overlay merged away: SQLite keeps its snapshot, and
    on PostgreSQL (a snapshot per statement) a merge that may be put off is, while a reader has the overlay open,
    and goes through once it has let go."""
    engine, model = seeded
    _delta(engine, [_record(1)], [_record(901, line=1)], "2")
    del model[_key(_record(1))]
    model[_key(_record(901))] = _record(901, line=1)
    with engine.connect() as reader:
        md5s = select(entry.c.md5).where(entry.c.set_id == get_set(reader, "s").id, entry.c.md5.is_not(None))
        rows = live.rows(reader, md5s)
        first = next(rows)  # the older entries' part has begun
        with engine.begin() as writer:
            merged = overlay.merge(writer, wait=False)
        seen = {bytes(first[0]).hex(), *(bytes(row[0]).hex() for row in rows)}
    assert seen == {r.md5 for r in model.values() if r.md5}
    if engine.dialect.name == "postgresql":
        assert merged.deferred
        with engine.begin() as writer:
            merged = overlay.merge(writer, wait=False)
    assert (merged.added, merged.removed, merged.deferred) == (1, 1, False)
    _check(engine, model)
