"""How hashwarden's processes (the CLI's, each scan worker) use the garbage collector: less often while they load
their libraries, and not at all over the whole heap when they end.

Importing SQLAlchemy, NumPy, Rich or Pillow creates hundreds of thousands of objects and frees almost none, and
Python's default (a young collection every 700 new container objects) spends ~0.03 s of a command's start-up
looking for garbage there is none of. At exit, the interpreter clears every module and runs its collector over what
is left, again and again: the whole heap of those libraries, ~0.1 s of every command and of every worker the scan
waits for, spent on memory the process is about to give back.
"""

from __future__ import annotations

import gc

# A young collection every 10,000 new container objects instead of 700 (the older generations as CPython's
# defaults): start-up finds no garbage, and the cycles a command leaves (a few thousand objects) are collected as
# before, only in fewer, larger passes.
YOUNG_THRESHOLD = 10_000


def collect_less_often() -> None:
    """Space out the young collections (`YOUNG_THRESHOLD`): called first thing by the CLI and by each worker."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


def settle_before_exit() -> None:
    """Collect the garbage once, then freeze every object left out of the collector, so the exit's collections
    find nothing to traverse.

    The one collection is what closes what was left to the collector, as a normal exit would: a SQLAlchemy engine's
    pooled SQLite connections live in reference cycles, and only their closing checkpoints the WAL into the
    database file and removes it (tests/test_cli_exit.py). Objects are still deallocated as the modules are
    cleared; only cycles among the frozen ones are left to the operating system."""
    gc.collect()
    gc.freeze()
