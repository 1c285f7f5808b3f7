"""Fan work out to processes: one place decides how hashing is parallelised (the scan and `hashwarden hash`)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(function: Callable[[T], R], tasks: Sequence[T], workers: int, *, ordered: bool = False) -> Iterator[R]:
    """Apply `function` to every task: in this process for one worker, else in a pool of spawned processes.

    Spawn, not fork: workers start clean (no inherited threads, locks or database handles of the writer).
    Unordered by default, since the writer sorts what it records; `ordered` keeps the input order.
    """
    if workers <= 1 or len(tasks) < 2:
        for task in tasks:
            yield function(task)
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(min(workers, len(tasks))) as pool:
        mapper = pool.imap if ordered else pool.imap_unordered
        yield from mapper(function, tasks, chunksize=4)
