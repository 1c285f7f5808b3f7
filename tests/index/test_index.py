"""Matchers: exact digests (including keys ending in zero bytes) and PDQ range search with exact recall."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashwarden.index import ExactIndex, HammingIndex
from hashwarden.index.exact import FEW_KEYS, KEYS_PER_FENCE, MAX_FENCE_BITS, fence_bits, fences_of


def test_exact_index_finds_every_key_and_only_it() -> None:
    keys = [b"\x00" * 16, b"\x01" + b"\x00" * 15, b"\x00" * 15 + b"\x01", bytes(range(16)), bytes(range(16))]
    index = ExactIndex.from_pairs(16, ((k, i) for i, k in enumerate(keys)))
    assert index.query(b"\x00" * 16) == [0]
    assert index.query(b"\x00" * 15 + b"\x01") == [2]
    assert sorted(index.query(bytes(range(16)))) == [3, 4]
    assert index.query(b"\x02" * 16) == [] and index.query(b"short") == []
    assert ExactIndex.from_pairs(20, []).query(b"\x00" * 20) == []


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=4, max_size=4), max_size=40), st.lists(st.binary(min_size=0, max_size=5),
                                                                           max_size=40))
def test_exact_query_many_answers_as_query_does(stored: list[bytes], asked: list[bytes]) -> None:
    """The batch form (the service's 1,000-item lookups) gives each key exactly what `query` gives it: repeated
    keys, keys of the wrong width, an empty index, an empty batch."""
    index = ExactIndex.from_pairs(4, ((k, i) for i, k in enumerate(stored)))
    asked = asked + stored[::3]  # some of them in the index
    assert [sorted(ids) for ids in index.query_many(asked)] == [sorted(index.query(key)) for key in asked]


def _hostile_keys(rng: np.random.Generator) -> list[bytes]:
    """4-byte keys a list could hold to defeat the fence table: most share their leading bits (one range of nearly
    all keys), runs of one digest on either side of a fence, the smallest and largest keys, and a uniform rest."""
    shared = [b"\x00\x00" + rng.bytes(2) for _ in range(1500)]
    runs = [key for key in (b"\x00\x01\x00\x00", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00") for _ in range(70)]
    ends = [b"\x00" * 4] * 3 + [b"\xff" * 4] * 2
    return shared + runs + ends + [rng.bytes(4) for _ in range(500)]


@pytest.mark.parametrize("seed", range(4))
def test_exact_find_answers_exactly_whatever_the_keys_share(seed: int) -> None:
    """The fenced search gives every stored key all its entries and a key not stored none, when most keys fall
    between two fences, when a digest repeats across fences, at both ends of the key space; as `query` does."""
    rng = np.random.default_rng(seed)
    stored = _hostile_keys(rng)
    rng.shuffle(stored)
    index = ExactIndex.from_pairs(4, ((k, i) for i, k in enumerate(stored)))
    assert len(index._fences) > 2  # the table is in use: these keys are spread over several fences
    held: dict[bytes, list[int]] = {}
    for entry_id, key in enumerate(stored):
        held.setdefault(key, []).append(entry_id)
    neighbours = [(int.from_bytes(k, "big") + d) % 2**32 for k in stored[::5] for d in (-1, 1)]
    asked = stored + [n.to_bytes(4, "big") for n in neighbours] + [rng.bytes(4) for _ in range(300)] + [b"abc", b""]
    numbers, entry_ids = index.find(asked)
    answers: dict[int, list[int]] = {}
    for number, entry_id in zip(numbers.tolist(), entry_ids.tolist()):
        answers.setdefault(number, []).append(entry_id)
    assert {n: sorted(ids) for n, ids in answers.items()} == {n: held[k] for n, k in enumerate(asked) if k in held}
    assert [sorted(ids) for ids in index.query_many(asked)] == [held.get(key, []) for key in asked]
    assert [sorted(index.query(key)) for key in asked] == [held.get(key, []) for key in asked]  # one by one
    few = asked[:FEW_KEYS - 1] + [b"abc"]
    assert [sorted(ids) for ids in index.query_many(few)] == [held.get(key, []) for key in few]


def test_exact_fences_mark_where_each_leading_value_starts() -> None:
    keys = np.array([[0x00, 1], [0x00, 2], [0x40, 0], [0xC0, 0], [0xC0, 9], [0xFF, 0]], dtype=np.uint8)
    assert fences_of(keys, 2).tolist() == [0, 2, 3, 3, 6]
    assert fences_of(keys, 0).tolist() == [0, 6] and fences_of(keys[:0], 3).tolist() == [0] * 9
    assert fence_bits(10_000_000, 16) == (10_000_000 // KEYS_PER_FENCE).bit_length() and fence_bits(15, 16) == 0
    assert fence_bits(10**12, 16) == MAX_FENCE_BITS and fence_bits(10**6, 1) == 8


def _popcount_distance(a: bytes, b: bytes) -> int:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def _flip(code: bytes, bits: list[int]) -> bytes:
    value = int.from_bytes(code, "big")
    for bit in bits:
        value ^= 1 << bit
    return value.to_bytes(32, "big")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), radius=st.integers(0, 31))
def test_hamming_recall_is_exact_on_clustered_data(seed: int, radius: int) -> None:
    rng = np.random.default_rng(seed)
    centres = [rng.bytes(32) for _ in range(5)]
    codes = [c for c in centres]
    for centre in centres:  # near copies at distances 0..40
        for distance in rng.integers(0, 41, size=20):
            codes.append(_flip(centre, rng.choice(256, size=int(distance), replace=False).tolist()))
    codes += [rng.bytes(32) for _ in range(100)]
    index = HammingIndex.from_pairs((c, i) for i, c in enumerate(codes))
    query = _flip(centres[0], rng.choice(256, size=int(rng.integers(0, 10)), replace=False).tolist())
    other_form = rng.bytes(32)
    hits = {h.entry_id: h for h in index.query([other_form, query], radius)}
    for entry_id, code in enumerate(codes):
        best = min(_popcount_distance(code, other_form), _popcount_distance(code, query))
        if best <= radius:
            assert hits[entry_id].distance == best
        else:
            assert entry_id not in hits


def test_hamming_empty_and_block_boundaries() -> None:
    assert HammingIndex.from_pairs([]).query([b"\0" * 32], 31) == []
    rng = np.random.default_rng(1)
    codes = [rng.bytes(32) for _ in range(40_000)]  # more than one block of the brute-force scan
    index = HammingIndex.from_pairs((c, i) for i, c in enumerate(codes))
    hits = index.query([codes[0], codes[-1], codes[20_000]], 0)
    assert sorted((h.entry_id, h.query_index) for h in hits) == [(0, 0), (20_000, 2), (39_999, 1)]


def test_hamming_query_many_names_each_items_own_form() -> None:
    """Items of 0, 1 and 8 forms in one batch (a lookup mixes them): each hit names the form of its own item that
    came nearest, as the item alone would (the form numbers are computed for the whole batch at once)."""
    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, size=(50, 32), dtype=np.uint8)
    index = HammingIndex(codes.tobytes(), np.arange(100, 150))
    items = []
    for n, count in enumerate([0, 1, 8, 3, 0, 8, 1]):
        forms = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes() for _ in range(count)]
        if count:
            forms[(n * 5) % count] = _flip(codes[n].tobytes(), [n, n + 40])  # a near copy at a varying form
        items.append(forms)
    answers = index.query_many(items, 31)
    assert answers == [index.query(forms, 31) for forms in items]
    assert [[(h.entry_id, h.query_index) for h in hits] for hits in answers] == [
        [(100 + n, (n * 5) % len(forms))] if forms else [] for n, forms in enumerate(items)]
