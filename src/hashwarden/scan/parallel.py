"""Fan work out to processes: one place decides how hashing is parallelised (the scan and `hashwarden hash`)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

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


class WorkerDied:
    """Stands for the rest of a task's results when its worker process died (a crash in a native reader, the
    kernel's out-of-memory killer): the task is reported as failed and the scan goes on with a new worker."""

    def __init__(self, exitcode: int | None) -> None:
        self.exitcode = exitcode

    def __str__(self) -> str:
        code = self.exitcode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return f"the worker process reading it died ({how}); what it had not yet reported is not recorded"


_BATCH_ITEMS = 64
_BATCH_SECONDS = 0.5


def _stream_worker(function: Callable[[T], Iterator[R]], tasks: Any, results: Any, worker: int, slot: Any) -> None:
    """A worker process: run tasks from the queue, sending their results in small batches (the last with the task's
    end, so a file of one item costs one message), until told to stop.

    The task's index goes into `slot` (shared memory) before anything else: a message on the result queue leaves
    the process through a feeder thread, so a worker killed at once would take a "started" message with it, while
    the slot is read by the parent whatever happened to this process."""
    import time

    from hashwarden.logs import configure_logging

    configure_logging()
    while True:
        job = tasks.get()
        if job is None:
            return
        index, task = job
        slot.value = index
        batch: list[R] = []
        sent = time.monotonic()
        for result in function(task):
            batch.append(result)
            if len(batch) >= _BATCH_ITEMS or time.monotonic() - sent > _BATCH_SECONDS:
                results.put(("results", worker, index, batch))
                batch, sent = [], time.monotonic()
        results.put(("done", worker, index, batch))  # the last results travel with the end of the task: one message


def parallel_stream(
    function: Callable[[T], Iterator[R]], tasks: Sequence[T], workers: int
) -> Iterator[tuple[int, R | WorkerDied]]:
    """(task index, result) for every result of `function(task)`, as workers produce them: one task may yield
    many results (a file and everything inside it), streamed rather than held until the task ends.

    A worker process that dies mid-task is replaced; that task then yields one `WorkerDied` and the others go on.
    With one worker (or one task) everything runs in this process, where a crash would be the caller's.
    """
    if workers <= 1 or len(tasks) < 2:
        for index, task in enumerate(tasks):
            for result in function(task):
                yield index, result
        return
    import queue

    context = multiprocessing.get_context("spawn")
    job_queue, result_queue = context.Queue(), context.Queue()
    for index, task in enumerate(tasks):
        job_queue.put((index, task))
    count = min(workers, len(tasks))
    for _ in range(count):
        job_queue.put(None)
    processes: dict[int, Any] = {}
    slots: dict[int, Any] = {}  # per worker: the index of the task it took last (-1: none yet), in shared memory

    def start(worker: int) -> None:
        slots[worker] = context.Value("q", -1, lock=False)
        process = context.Process(target=_stream_worker, args=(function, job_queue, result_queue, worker,
                                                               slots[worker]), daemon=True)
        process.start()
        processes[worker] = process

    for worker in range(count):
        start(worker)
    finished: set[int] = set()  # tasks done or blamed on a dead worker
    next_worker = count
    try:
        while len(finished) < len(tasks):
            try:
                kind, worker, index, payload = result_queue.get(timeout=1.0)
            except queue.Empty:
                # nothing arrived for a second, so whatever a dead worker sent has been read: blame its task
                for worker, process in list(processes.items()):
                    if process.exitcode is None:
                        continue
                    del processes[worker]
                    if process.exitcode == 0:  # took its stop marker
                        continue
                    task = slots[worker].value
                    if task >= 0 and task not in finished:
                        yield task, WorkerDied(process.exitcode)
                        finished.add(task)
                    start(next_worker)  # the stop markers already queued cover the replacement too
                    next_worker += 1
                if not any(process.exitcode is None for process in processes.values()):
                    # every worker is gone: a task taken by one that died before saying so is failed too
                    for index in sorted(set(range(len(tasks))) - finished):
                        yield index, WorkerDied(None)
                    return
                continue
            for result in payload:  # "results", or "done" with the task's last results
                yield index, result
            if kind == "done":
                finished.add(index)
    finally:
        for process in processes.values():
            if process.is_alive():
                process.terminate()
        for process in processes.values():
            process.join(timeout=5)
