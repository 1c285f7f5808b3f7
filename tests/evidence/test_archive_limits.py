"""The decompression limits, unit by unit (issue 16, mutation testing): where each cut-off sits, what a cut-off
is reported as, and that a shared allowance is shared. A limit one byte off lets a bomb through or refuses an
ordinary member; the scan-level tests in test_archive.py cannot see a boundary that precise."""

from __future__ import annotations

import io

import pytest

from hashwarden.config import MAX_MEMBER_BYTES, MAX_MEMBER_RATIO
from hashwarden.errors import EvidenceReadError
from hashwarden.evidence import archive
from hashwarden.evidence.archive import Allowance, BombGuard, LimitedReader, member_limit


class Tracked(io.BytesIO):
    """A BytesIO that remembers whether it was closed and how much each read asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().read(size)


def test_member_limit_is_the_ratio_cap_floored_at_1_mib_and_capped_absolutely() -> None:
    assert MAX_MEMBER_RATIO == 1000
    assert member_limit(0) == MAX_MEMBER_BYTES  # size not declared: only the absolute cap
    assert member_limit(-1) == MAX_MEMBER_BYTES
    assert member_limit(1) == 1 << 20  # a tiny member may still expand to 1 MiB
    floor = (1 << 20) // MAX_MEMBER_RATIO
    assert member_limit(floor) == 1 << 20
    assert member_limit(floor + 1) == (floor + 1) * MAX_MEMBER_RATIO
    assert member_limit(5000) == 5_000_000
    cap = MAX_MEMBER_BYTES // MAX_MEMBER_RATIO
    assert member_limit(cap + 1) == MAX_MEMBER_BYTES
    assert member_limit(MAX_MEMBER_BYTES) == MAX_MEMBER_BYTES


def test_compressed_size_is_the_whole_container_and_rewinds() -> None:
    container = io.BytesIO(b"x" * 1234)
    container.seek(100)
    assert archive._compressed_size(container) == 1234
    assert container.tell() == 0


def test_limited_reader_stops_at_its_limit_and_says_it_cut_off_only_when_more_followed() -> None:
    exact = LimitedReader(io.BytesIO(b"abcdef"), 6)
    assert exact.read() == b"abcdef"
    assert exact.read() == b""
    assert exact.cut_off is False  # the member ended exactly at the limit: nothing was cut

    longer = LimitedReader(io.BytesIO(b"abcdefg"), 6)
    assert longer.read(4) == b"abcd"
    assert longer.read(100) == b"ef"
    assert longer.cut_off is False  # not known until a read past the limit
    assert longer.read(1) == b""
    assert longer.cut_off is True

    unbounded_read = LimitedReader(io.BytesIO(b"abcdefg"), 3)
    assert unbounded_read.read(None) == b"abc"


def test_limited_reader_asks_the_inner_stream_for_no_more_than_is_left() -> None:
    inner = Tracked(b"0123456789")
    reader = LimitedReader(inner, 8)
    assert reader.read(5) == b"01234"
    assert reader.read(-1) == b"567"
    assert inner.asked == [5, 3]


def test_a_window_ends_at_its_size_without_a_cut_off_and_leaves_the_container_open() -> None:
    container = Tracked(b"headerMEMBERtrailer")
    container.seek(6)
    window = LimitedReader(container, 6, window=True)
    assert window.read() == b"MEMBER"
    assert window.read() == b""
    assert window.cut_off is False
    assert container.tell() == 12  # the byte after the window was not consumed
    window.close()
    assert not container.closed and window.closed

    member = Tracked(b"data")
    LimitedReader(member, 4).close()
    assert member.closed


def test_bomb_guard_passes_exactly_its_allowance_and_refuses_one_byte_more() -> None:
    guard = BombGuard(io.BytesIO(b"x" * 10), Allowance(10))
    assert guard.read() == b"x" * 10
    assert guard.read() == b""  # the data ended at the allowance: no refusal

    guard = BombGuard(io.BytesIO(b"x" * 11), Allowance(10))
    assert guard.read(4) == b"xxxx"
    with pytest.raises(EvidenceReadError, match=r"expansion stopped after 10 bytes: possible decompression bomb "
                                                r"\(over 1000 times the compressed size\)"):
        guard.read(100)


def test_bomb_guard_reports_the_limit_with_separators() -> None:
    guard = BombGuard(io.BytesIO(b"x" * 1_000_001), Allowance(1_000_000))
    with pytest.raises(EvidenceReadError, match="after 1,000,000 bytes"):
        while guard.read(1 << 16):
            pass


def test_an_allowance_is_shared_by_every_member_drawing_on_it() -> None:
    allowance = Allowance(8)
    assert allowance.limit == allowance.left == 8
    first = BombGuard(io.BytesIO(b"a" * 5), allowance)
    assert first.read() == b"a" * 5
    assert allowance.left == 3 and allowance.limit == 8
    second = BombGuard(io.BytesIO(b"b" * 5), allowance)
    with pytest.raises(EvidenceReadError, match="after 8 bytes"):
        second.read()


def test_bomb_guard_reads_at_most_one_byte_past_what_is_left_and_1_mib_when_unbounded() -> None:
    inner = Tracked(b"y" * (3 << 20))
    guard = BombGuard(inner, Allowance(4 << 20))
    assert len(guard.read()) == 1 << 20
    assert len(guard.read(None)) == 1 << 20
    assert inner.asked == [1 << 20, 1 << 20]

    inner = Tracked(b"y" * 100)
    guard = BombGuard(inner, Allowance(10))
    guard.read(4)
    with pytest.raises(EvidenceReadError):
        guard.read(50)
    assert inner.asked == [4, 7]  # 6 left: one more byte tells a bomb from data ending at the limit


def test_reading_nothing_reads_nothing_and_the_last_byte_before_the_limit_is_kept() -> None:
    reader = LimitedReader(io.BytesIO(b"abc"), 3)
    assert reader.read(0) == b""
    assert [reader.read(1) for _ in range(4)] == [b"a", b"b", b"c", b""]
    guard = BombGuard(io.BytesIO(b"abc"), Allowance(3))
    assert guard.read(0) == b""
    assert [guard.read(1) for _ in range(4)] == [b"a", b"b", b"c", b""]


def test_past_the_limit_one_byte_is_read_to_tell_a_cut_off_from_the_end() -> None:
    inner = Tracked(b"x" * 100)
    reader = LimitedReader(inner, 10)
    assert reader.read() == b"x" * 10
    assert reader.read() == b"" and reader.cut_off
    assert inner.asked == [10, 1]  # not the rest of a bomb
