"""A delta's lines as subscribe reads them (distribution/lists.py `read_delta`): removals first, the additions read in
a thread while the removals are applied. Every hash here is made up by the test."""

from __future__ import annotations

import gzip
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hashwarden.distribution.lists import read_delta
from hashwarden.errors import DistributionError


def _delta(path: Path, *ops: tuple[str, str]) -> Path:
    with gzip.open(path, "wb") as fp:
        for op, md5 in ops:
            fp.write((json.dumps({"op": op, "md5": md5}) + "\n").encode())
    return path


@pytest.mark.parametrize("ahead", [False, True])
def test_removals_then_additions(tmp_path: Path, ahead: bool) -> None:
    path = _delta(tmp_path / "d.gz", ("remove", "a" * 32), ("remove", "b" * 32), ("add", "c" * 32), ("add", "d" * 32))
    with ThreadPoolExecutor(1) as pool:
        gone, new = read_delta(path, "d", pool if ahead else None)
        assert [r.md5 for r in gone] == ["a" * 32, "b" * 32]
        assert [(r.md5, r.line) for r in new] == [("c" * 32, 3), ("d" * 32, 4)]


@pytest.mark.parametrize("ahead", [False, True])
def test_a_removal_after_an_addition_is_refused(tmp_path: Path, ahead: bool) -> None:
    path = _delta(tmp_path / "d.gz", ("remove", "a" * 32), ("add", "c" * 32), ("remove", "b" * 32))
    with ThreadPoolExecutor(1) as pool, pytest.raises(DistributionError, match=r"d:3: a removal after the additions"):
        _gone, new = read_delta(path, "d", pool if ahead else None)
        list(new)


def test_a_bad_addition_read_ahead_raises_when_the_additions_are_taken(tmp_path: Path) -> None:
    path = _delta(tmp_path / "d.gz", ("remove", "a" * 32), ("add", "c" * 32), ("add", "not hex"))
    with ThreadPoolExecutor(1) as pool:
        gone, new = read_delta(path, "d", pool)
        assert len(gone) == 1
        with pytest.raises(DistributionError, match="d:3"):
            list(new)
