"""scan/parallel.py: "A worker process that dies (a crash in a native reader, the out-of-memory killer) is replaced
and the file it was on reported as not fully read" (docs/architecture.md)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

from hashwarden.scan.parallel import WorkerDied, parallel_stream


def _work(task: str) -> Iterator[str]:
    """Two results per task; a "crash" task kills its own process between them, as a native reader's fault would
    (after a moment, so its first result has left the process)."""
    yield f"{task}:1"
    if task.startswith("crash"):
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    yield f"{task}:2"


def _die_at_once(task: str) -> Iterator[str]:
    """A "crash" task kills its process before yielding anything: nothing it put on a queue may have left it."""
    if task.startswith("crash"):
        os.kill(os.getpid(), signal.SIGKILL)
    yield f"{task}:1"


def test_a_dead_worker_is_replaced_and_only_its_task_is_failed() -> None:
    """Two workers, two crashing tasks: both original workers die, so the other tasks are done only if each dead
    worker is replaced. Each crashing task yields one WorkerDied naming the signal; no other task loses a result."""
    tasks = ["crash-a", "crash-b", "one", "two", "three"]
    results: dict[str, list] = {task: [] for task in tasks}
    for index, result in parallel_stream(_work, tasks, workers=2):
        results[tasks[index]].append(result)
    for task in ("one", "two", "three"):
        assert results[task] == [f"{task}:1", f"{task}:2"]
    for task in ("crash-a", "crash-b"):
        died = [r for r in results[task] if isinstance(r, WorkerDied)]
        assert len(died) == 1 and f"{task}:2" not in results[task]
        assert str(died[0]).startswith("the worker process reading it died (killed by signal 9)")


def test_a_worker_killed_before_it_sent_anything_is_still_blamed_and_replaced() -> None:
    """A worker killed the moment it takes a task (its queue's feeder thread never ran): the task is still known
    (from shared memory) and failed with the signal, the worker replaced, and every other task done."""
    tasks = ["crash-a", "crash-b", "crash-c", "one", "two", "three"]
    results: dict[str, list] = {task: [] for task in tasks}
    for index, result in parallel_stream(_die_at_once, tasks, workers=2):
        results[tasks[index]].append(result)
    for task in ("one", "two", "three"):
        assert results[task] == [f"{task}:1"]
    for task in ("crash-a", "crash-b", "crash-c"):
        assert len(results[task]) == 1 and isinstance(results[task][0], WorkerDied)
        assert str(results[task][0]).startswith("the worker process reading it died (killed by signal 9)")
