"""How hashwarden's processes end: the CLI's, once its command is over, and each scan worker, once told to stop.

At exit, the interpreter clears every module and runs its collector over what is left, again and again: the whole
heap of the imported libraries (SQLAlchemy, NumPy, Rich, Pillow), ~0.1 s of every command and of every worker the
scan waits for, spent on memory the process is about to give back.
"""

from __future__ import annotations

import gc


def settle_before_exit() -> None:
    """Collect the garbage once, then freeze every object left out of the collector, so the exit's collections
    find nothing to traverse.

    The one collection is what closes what was left to the collector, as a normal exit would: a SQLAlchemy engine's
    pooled SQLite connections live in reference cycles, and only their closing checkpoints the WAL into the
    database file and removes it (tests/test_cli_exit.py). Objects are still deallocated as the modules are
    cleared; only cycles among the frozen ones are left to the operating system."""
    gc.collect()
    gc.freeze()
