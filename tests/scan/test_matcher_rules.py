"""The matcher's rules, one at a time, on hand-built indexes (issue 16, mutation testing): which digest an exact
match is reported by, that an exact match outranks PDQ, the transform a rotated copy is found through, the order
of matches, the quality rule for items, the video percentages, an item's status, and what `from_store` indexes.
Each rule here is a verdict or what the examiner reads about it; a slip in any is silent in a whole-scan test."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hashwarden.errors import ScanError
from hashwarden.index import ExactIndex, HammingIndex
from hashwarden.index.video import VideoIndex
from hashwarden.scan import matcher as matcher_module
from hashwarden.scan.matcher import Matcher, describe_with_flags, item_status
from hashwarden.scan.store_sets import require_alert_entries, sets_in_use
from hashwarden.signals.crypto import DIGESTS
from hashwarden.signals.pdq import DIHEDRAL_NAMES
from hashwarden.store import create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord

MD5, SHA1, SHA256 = "a" * 32, "b" * 40, "c" * 64


def code(seed: int) -> str:
    return np.random.default_rng(seed).integers(0, 256, size=32, dtype=np.uint8).tobytes().hex()


def flip(hex_code: str, bits: int) -> str:
    return f"{int(hex_code, 16) ^ ((1 << bits) - 1):064x}"


def build(exact: dict[str, list[tuple[str, int]]] | None = None, pdq: list[tuple[str, int]] | None = None,
          details: dict[int, dict[str, Any]] | None = None, **options: Any) -> Matcher:
    """A matcher over the given (hex, entry id) pairs; every entry is in alert set "s" unless `details` says."""
    exact = exact or {}
    indexes = {d.name: ExactIndex.from_pairs(d.hex_length // 2, [(bytes.fromhex(h), i) for h, i in
                                                                 exact.get(d.name, [])]) for d in DIGESTS}
    hamming = HammingIndex.from_pairs([(bytes.fromhex(h), i) for h, i in pdq or []])

    def describe(ids: list[int]) -> dict[int, dict[str, Any]]:
        assert ids, "the store is asked only when something matched"
        return {i: (details or {}).get(i, {"set": "s", "kind": "alert"}) for i in ids}

    return Matcher(indexes, hamming, describe, options.pop("pdq_threshold", 31), options.pop("pdq_min_quality", 50),
                   **options)


def test_an_entry_is_reported_by_the_strongest_digest_that_matched_it() -> None:
    matcher = build({"md5": [(MD5, 1), (MD5, 2), (MD5, 3)], "sha1": [(SHA1, 2), (SHA1, 3)], "sha256": [(SHA256, 3)]})
    found = matcher.match({"md5": MD5, "sha1": SHA1, "sha256": SHA256})
    assert {m["entry"]: m["method"] for m in found} == {1: "md5", 2: "sha1", 3: "sha256"}
    assert matcher.match({"md5": MD5.upper()})[0]["method"] == "md5"
    assert matcher.match({"md5": None, "sha1": "", "sha256": "d" * 64}) == []


def test_a_known_file_filter_answers_like_the_exact_index() -> None:
    class Known:
        def find(self, digest: str, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
            numbers = [number for number, key in enumerate(keys) if (digest, key) == ("sha1", bytes.fromhex(SHA1))]
            return np.array(numbers, dtype=np.int64), np.full(len(numbers), 7, dtype=np.int64)

    matcher = build({"md5": [(MD5, 7)]}, details={7: {"set": "nsrl", "kind": "ignorable"}}, known=Known())
    assert [(m["entry"], m["method"], m["set"]) for m in matcher.match({"md5": MD5, "sha1": SHA1})] == [
        (7, "sha1", "nsrl")]
    assert matcher.match({"md5": MD5})[0]["method"] == "md5"


def test_an_exact_match_outranks_pdq_and_pdq_says_distance_and_transform() -> None:
    hashed = code(1)
    matcher = build({"md5": [(MD5, 1)]}, [(hashed, 1), (flip(hashed, 3), 2)])
    found = matcher.match({"md5": MD5, "pdq": hashed, "pdq_quality": 90})
    assert found == [{"set": "s", "kind": "alert", "method": "md5", "entry": 1},
                     {"set": "s", "kind": "alert", "method": "pdq", "distance": 3, "transform": "orig", "entry": 2}]


def test_a_copy_found_through_a_dihedral_form_names_that_form() -> None:
    known = code(2)
    forms = [code(100 + i) for i in range(len(DIHEDRAL_NAMES))]
    forms[5] = flip(known, 2)
    found = build(pdq=[(known, 1)]).match({"pdq": forms[0], "pdq_quality": 90, "pdq_dihedral": forms})
    assert [(m["distance"], m["transform"]) for m in found] == [(2, DIHEDRAL_NAMES[5])]
    assert DIHEDRAL_NAMES[5] != "orig"


@pytest.mark.parametrize("quality, dihedral, found", [
    (None, None, True),  # a hash from a list without quality is looked up
    (50, None, True), (49, None, False), (49, "forms", False),
    (90, [], True),  # no dihedral forms: the hash itself
])
def test_which_items_are_looked_up_by_pdq(quality, dihedral, found: bool) -> None:
    known = code(3)
    item = {"pdq": known, "pdq_quality": quality, "pdq_dihedral": [known, code(4)] if dihedral == "forms" else dihedral}
    assert bool(build(pdq=[(known, 1)]).match(item)) is found
    assert build(pdq=[(known, 1)]).match({"pdq": None, "pdq_quality": 90}) == []


def test_the_pdq_threshold_is_inclusive_and_is_the_matcher_s_own() -> None:
    known = code(5)
    matcher = build(pdq=[(flip(known, 10), 1)], pdq_threshold=10)
    assert [m["distance"] for m in matcher.match({"pdq": known})] == [10]
    assert build(pdq=[(flip(known, 11), 1)], pdq_threshold=10).match({"pdq": known}) == []


def test_matches_are_ordered_alert_first_then_distance_set_entry_and_method() -> None:
    known = code(6)
    details = {1: {"set": "b", "kind": "ignorable"}, 2: {"set": "b", "kind": "alert"},
               3: {"set": "a", "kind": "alert"}, 4: {"set": "a", "kind": "alert"}, 5: {"set": "a", "kind": "alert"}}
    matcher = build({"md5": [(MD5, 1), (MD5, 5)], "sha1": [(SHA1, 4)]}, [(flip(known, 4), 2), (flip(known, 1), 3)],
                    details)
    found = matcher.match({"md5": MD5, "sha1": SHA1, "pdq": known})
    assert [m["entry"] for m in found] == [4, 5, 3, 2, 1]


def test_match_many_answers_each_item_as_match_does() -> None:
    known = code(7)
    matcher = build({"md5": [(MD5, 1)]}, [(known, 2)])
    items = [{"md5": MD5}, {"pdq": known}, {"md5": "0" * 32}]
    assert matcher.match_many(items) == [matcher.match(item) for item in items]
    assert [len(found) for found in matcher.match_many(items)] == [1, 1, 0]


def test_each_item_of_a_mixed_batch_gets_what_it_gets_alone() -> None:
    """A batch is searched index by index and answered hit by hit: no item gets another's hits, an item without
    a hit gets none, whatever mix of digests, PDQ, dihedral forms and low-quality hashes sits around it."""
    near, other = code(11), code(12)
    matcher = build({"md5": [(MD5, 1), (MD5, 5)], "sha1": [(SHA1, 1), (SHA1, 4)], "sha256": [(SHA256, 6)]},
                    [(near, 1), (flip(near, 3), 2), (other, 3)])
    forms = [code(200 + i) for i in range(len(DIHEDRAL_NAMES))]
    forms[3] = flip(other, 2)
    items = [{"md5": MD5}, {}, {"sha1": SHA1, "md5": MD5}, {"pdq": near, "pdq_quality": 90},
             {"pdq": near, "pdq_quality": 10}, {"md5": "0" * 32}, {"pdq": forms[0], "pdq_dihedral": forms,
                                                                  "pdq_quality": 90},
             {"md5": MD5, "pdq": near}, {"sha256": SHA256, "pdq": flip(near, 3)}]
    alone = [matcher.match(item) for item in items]
    assert [[(m["entry"], m["method"]) for m in found] for found in alone] == [
        [(1, "md5"), (5, "md5")], [], [(1, "sha1"), (4, "sha1"), (5, "md5")], [(1, "pdq"), (2, "pdq")], [], [],
        [(3, "pdq")], [(1, "md5"), (5, "md5"), (2, "pdq")], [(2, "pdq"), (6, "sha256"), (1, "pdq")]]
    assert alone[6][0]["transform"] == DIHEDRAL_NAMES[3] and alone[8][2]["distance"] == 3
    batch = items[::-1] + items + items[3:]
    assert matcher.match_many(batch) == [matcher.match(item) for item in batch]


def frames(*codes: str, quality: int = 90) -> list[dict[str, Any]]:
    return [{"frame": n, "quality": quality, "pdq": c, "timestamp": float(n)} for n, c in enumerate(codes)]


def test_a_video_matches_by_its_two_percentages_rounded_to_one_decimal() -> None:
    a, b, c = code(8), code(9), code(10)
    videos = VideoIndex([(1, np.frombuffer(bytes.fromhex(a + b), np.uint8).reshape(-1, 32))])
    item = {"vpdq": frames(a, c, code(11))}  # 1 of its 3 frames is known; 1 of the video's 2 is found
    found = build(videos=videos, video_percents=(33.0, 50.0)).match(item)
    assert found == [{"set": "s", "kind": "alert", "method": "vpdq", "query_percent": 33.3, "compared_percent": 50.0,
                      "entry": 1}]
    assert build(videos=videos, video_percents=(34.0, 0.0)).match(item) == []
    assert build(videos=videos, video_percents=(0.0, 51.0)).match(item) == []
    assert build(videos=videos).match(item) == []  # the defaults: 80 % of the query
    assert build(videos=videos, video_percents=(0.0, 0.0)).match({"vpdq": frames(a, quality=49)}) == []
    stricter = build(videos=videos, video_percents=(0.0, 0.0), pdq_min_quality=60)  # the matcher's own minimum
    assert stricter.match({"vpdq": frames(a, quality=59)}) == [] and stricter.match({"vpdq": frames(a, quality=60)})
    assert build(videos=VideoIndex([]), video_percents=(0.0, 0.0)).match(item) == []
    assert build(video_percents=(0.0, 0.0)).match(item) == []
    near = {"vpdq": frames(flip(a, 20))}
    assert build(videos=videos, video_percents=(100.0, 0.0)).match(near)[0]["query_percent"] == 100.0
    assert build(videos=videos, video_percents=(100.0, 0.0), pdq_threshold=19).match(near) == []


def test_an_exact_match_of_a_video_is_reported_as_exact() -> None:
    a = code(12)
    videos = VideoIndex([(1, np.frombuffer(bytes.fromhex(a), np.uint8).reshape(-1, 32))])
    found = build({"md5": [(MD5, 1)]}, videos=videos, video_percents=(0.0, 0.0)).match({"md5": MD5,
                                                                                          "vpdq": frames(a)})
    assert [m["method"] for m in found] == ["md5"]


def test_unique_frames_keep_each_entry_s_distinct_hashes_in_order() -> None:
    a, b = bytes(range(32)), bytes(range(1, 33))
    out = [(entry_id, codes.tobytes()) for entry_id, codes in
           matcher_module._unique_frames_by_entry([(1, a), (1, a), (1, b), (1, a), (2, b)])]
    assert out == [(1, a + b), (2, b)]


@pytest.mark.parametrize("kinds, error, status", [
    (["ignorable", "alert"], "decode failed", "known"), (["alert"], None, "known"),
    (["ignorable"], "decode failed", "ignorable"), ([], "decode failed", "error"), ([], None, "unknown"),
    (["ignorable"], None, "ignorable"),
])
def test_item_status_order(kinds: list[str], error: str | None, status: str) -> None:
    assert item_status([{"kind": kind} for kind in kinds], error) == status


@pytest.fixture()
def store(fresh_store):
    with fresh_store.begin() as conn:
        create_set(conn, "alerts", "alert", version="v3", category_scheme="vics-us")
        create_set(conn, "benign", "ignorable")
    return fresh_store


def test_from_store_indexes_each_digest_and_pdq_by_quality(store) -> None:
    low, none, good = code(20), code(21), code(22)
    import_entries(store, "alerts", [
        EntryRecord(md5=MD5), EntryRecord(sha1=SHA1), EntryRecord(sha256=SHA256),
        EntryRecord(md5="1" * 32, pdq=low, pdq_quality=49), EntryRecord(md5="2" * 32, pdq=none),
        EntryRecord(md5="3" * 32, pdq=good, pdq_quality=50),
    ], {"file": "t"})
    matcher = Matcher.from_store(store)
    assert (matcher.pdq_threshold, matcher.pdq_min_quality) == (31, 50)
    assert [m["method"] for m in matcher.match({"md5": MD5, "sha1": SHA1, "sha256": SHA256})] == ["md5", "sha1",
                                                                                                    "sha256"]
    assert [bool(matcher.match({"pdq": h})) for h in (low, none, good)] == [False, True, True]
    assert bool(Matcher.from_store(store, pdq_min_quality=49).match({"pdq": low, "pdq_quality": 49})) is True
    assert Matcher.from_store(store, pdq_threshold=3).pdq_threshold == 3


def test_from_store_indexes_videos_and_ignorable_digests_without_a_filter(store) -> None:
    from hashwarden.signals.vpdq import VpdqFrame

    a = code(23)
    import_entries(store, "alerts", [EntryRecord(vpdq=[VpdqFrame(0, 90, a, 0.0), VpdqFrame(1, 90, a, 1.0)], line=1)],
                   {"file": "t"})
    import_entries(store, "benign", [EntryRecord(md5=MD5)], {"file": "t"})
    matcher = Matcher.from_store(store, video_percents=(100.0, 100.0))
    assert matcher.video_percents == (100.0, 100.0)
    assert [(m["method"], m["query_percent"]) for m in matcher.match({"vpdq": frames(a)})] == [("vpdq", 100.0)]
    assert [(m["set"], m["kind"]) for m in matcher.match({"md5": MD5})] == [("benign", "ignorable")]


def test_require_alert_entries_refuses_a_database_that_cannot_say_known(store) -> None:
    with store.connect() as conn:
        with pytest.raises(ScanError) as info:
            require_alert_entries(conn, "x.db")
        assert str(info.value) == ("x.db holds 1 alert set(s), all empty: every item would be reported unknown. "
                                   "Import a hash set first, or pass --allow-empty to hash and list the evidence "
                                   "without matching")
    import_entries(store, "benign", [EntryRecord(md5=MD5)], {"file": "t"})
    with store.connect() as conn:
        with pytest.raises(ScanError, match="1 alert set"):
            require_alert_entries(conn, "x.db")
    import_entries(store, "alerts", [EntryRecord(md5="1" * 32)], {"file": "t"})
    with store.connect() as conn:
        require_alert_entries(conn, "x.db")


def test_require_alert_entries_without_any_alert_set(fresh_store) -> None:
    with fresh_store.connect() as conn:
        with pytest.raises(ScanError, match=r"^y\.db holds no alert set: "):
            require_alert_entries(conn, "y.db")


def test_matches_carry_series_and_victim_status_where_known_and_sets_in_use_describe_the_sets(store) -> None:
    import_entries(store, "alerts", [EntryRecord(md5="1" * 32, series="S1", victim_identified=False, category="1"),
                                     EntryRecord(md5="2" * 32, victim_identified=True),
                                     EntryRecord(md5="3" * 32)], {"file": "t"})
    with store.connect() as conn:
        described = describe_with_flags(conn, [1, 2, 3])
        in_use = sets_in_use(conn)
    assert described[1] == {"set": "alerts", "kind": "alert", "category": "1", "scheme": "vics-us", "series": "S1",
                            "victim_identified": False}
    assert described[2]["victim_identified"] is True and "series" not in described[2]
    assert "series" not in described[3] and "victim_identified" not in described[3]
    assert in_use == [
        {"name": "alerts", "kind": "alert", "source": "local", "version": "v3", "category_scheme": "vics-us",
         "entries": 3},
        {"name": "benign", "kind": "ignorable", "source": "local", "version": None, "category_scheme": None,
         "entries": 0},
    ]


def test_a_two_form_item_names_the_form_that_matched() -> None:
    known = code(30)
    found = build(pdq=[(known, 1)]).match({"pdq": code(31), "pdq_dihedral": [code(31), known]})
    assert [m["transform"] for m in found] == [DIHEDRAL_NAMES[1]]


def test_the_compared_percentage_is_rounded_to_one_decimal_too() -> None:
    a, b, c = code(32), code(33), code(34)
    videos = VideoIndex([(1, np.frombuffer(bytes.fromhex(a + b + c), np.uint8).reshape(-1, 32))])
    found = build(videos=videos, video_percents=(0.0, 0.0)).match({"vpdq": frames(a)})
    assert [(m["query_percent"], m["compared_percent"]) for m in found] == [(100.0, 33.3)]


def test_with_a_known_file_filter_ignorable_digests_are_the_filter_s_to_answer(store) -> None:
    import_entries(store, "benign", [EntryRecord(md5=MD5)], {"file": "t"})
    import_entries(store, "alerts", [EntryRecord(md5="1" * 32)], {"file": "t"})

    class Filter:
        def __init__(self, answer: list[int]) -> None:
            self.answer = answer

        def find(self, digest: str, keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
            numbers = [number for number, key in enumerate(keys) if key == bytes.fromhex(MD5)]
            return (np.repeat(np.array(numbers, dtype=np.int64), len(self.answer)),
                    np.tile(np.array(self.answer, dtype=np.int64), len(numbers)))

    assert Matcher.from_store(store, known=Filter([])).match({"md5": MD5}) == []  # not held twice
    found = Matcher.from_store(store, known=Filter([1])).match({"md5": MD5})
    assert [(m["entry"], m["set"]) for m in found] == [(1, "benign")]
    assert [m["set"] for m in Matcher.from_store(store, known=Filter([])).match({"md5": "1" * 32})] == ["alerts"]


def test_describe_with_flags_describes_only_the_entries_asked_for(store) -> None:
    import_entries(store, "alerts", [EntryRecord(md5="1" * 32, series="S1"), EntryRecord(md5="2" * 32)],
                   {"file": "t"})
    with store.connect() as conn:
        assert describe_with_flags(conn, [2]) == {2: {"set": "alerts", "kind": "alert", "category": None,
                                                      "scheme": None}}
