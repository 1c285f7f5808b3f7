"""Fan work out to processes: one place decides how hashing is parallelised (the scan and `hashwarden hash`)."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(
    function: Callable[[T], R], tasks: Sequence[T], workers: int, *, ordered: bool = False,
    pool: WorkerPool | None = None,
) -> Iterator[R]:
    """Apply `function` to every task: in `pool` if given, else in this process for one worker or one task, else
    in a `WorkerPool` of its own. Unordered by default, since the writer sorts what it records; `ordered` keeps
    the input order.

    Raises:
        WorkerCrashed: a worker process died on a task (a map has no per-task error to report it in).
    """
    if pool is None and (workers <= 1 or len(tasks) < 2):
        for task in tasks:
            yield function(task)
        return
    with contextlib.nullcontext(pool) if pool is not None else WorkerPool(min(workers, len(tasks))) as used:
        one = partial(_one, function)
        results = used.map(one, tasks) if ordered else (result for _, result in used.stream(one, tasks))
        for result in results:
            if isinstance(result, WorkerDied):
                raise WorkerCrashed(f"{getattr(function, '__name__', function)}: {result}")
            yield result


class WorkerCrashed(RuntimeError):
    """A worker process died during a `parallel_map` (a native crash, the out-of-memory killer)."""


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


def _stream_worker(tasks: Any, results: Any, worker: int, slot: Any, warm: Callable[[], None] | None) -> None:
    """A worker process: run jobs from the queue, sending their results in small batches (the last with the job's
    end, so a file of one item costs one message), until told to stop.

    The job's number goes into `slot` (shared memory) before anything else: a message on the result queue leaves
    the process through a feeder thread, so a worker killed at once would take a "started" message with it, while
    the slot is read by the parent whatever happened to this process."""
    import time

    from hashwarden.logs import configure_logging

    configure_logging()
    if warm is not None:
        warm()
    while True:
        job = tasks.get()
        if job is None:
            return
        number, function, task = job
        slot.value = number
        batch: list[Any] = []
        sent = time.monotonic()
        for result in function(task):
            batch.append(result)
            if len(batch) >= _BATCH_ITEMS or time.monotonic() - sent > _BATCH_SECONDS:
                results.put(("results", worker, number, batch))
                batch, sent = [], time.monotonic()
        results.put(("done", worker, number, batch))  # the last results travel with the end of the job: one message


def _one(function: Callable[[T], R], task: T) -> Iterator[R]:
    """A function of one result, as a stream of one (what `WorkerPool.map` sends)."""
    yield function(task)


class WorkerPool:
    """Spawned worker processes that run streams of tasks one after another, started before their work is known.

    A scan starts its pool first, so the workers' interpreters and imports run beside the writer's opening of the
    store, and the same processes then hash the files and re-read them for custody. Spawn, not fork: workers start
    clean (no inherited threads, locks or database handles of the writer). A worker that dies mid-task (a crash
    in a native reader, the kernel's out-of-memory killer) is replaced; its task then yields one `WorkerDied`.
    One stream at a time; `close` (or leaving the `with` block) stops the workers.
    """

    def __init__(self, workers: int, warm: Callable[[], None] | None = None) -> None:
        self.workers = max(1, workers)
        self._warm = warm
        self._context = multiprocessing.get_context("spawn")
        self._jobs, self._results = self._context.Queue(), self._context.Queue()
        self._processes: dict[int, Any] = {}
        self._slots: dict[int, Any] = {}  # per worker: the number of the job it took last (-1: none yet)
        self._next_worker = 0
        self._next_job = 0
        self._streaming = False
        self._closed = False
        for _ in range(self.workers):
            self._start()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        worker = self._next_worker
        self._next_worker += 1
        self._slots[worker] = self._context.Value("q", -1, lock=False)
        process = self._context.Process(target=_stream_worker, daemon=True, args=(
            self._jobs, self._results, worker, self._slots[worker], self._warm))
        process.start()
        self._processes[worker] = process

    def stream(self, function: Callable[[T], Iterator[R]], tasks: Sequence[T]) -> Iterator[tuple[int, R | WorkerDied]]:
        """(task index, result) for every result of `function(task)`, as workers produce them: one task may yield
        many results (a file and everything inside it), streamed rather than held until the task ends.

        The tasks are queued now, not when the iterator is first read: the workers start on them while the caller
        prepares to receive (a scan builds its matcher meanwhile). `function` must be importable by name.
        """
        if self._streaming or self._closed:
            raise RuntimeError("a WorkerPool runs one stream at a time, and none once closed")
        self._streaming = True
        first = self._next_job
        self._next_job += len(tasks)
        for index, task in enumerate(tasks):
            self._jobs.put((first + index, function, task))
        return self._collect(first, len(tasks))

    def map(self, function: Callable[[T], Iterator[R]], tasks: Sequence[T]) -> Iterator[R | WorkerDied]:
        """The first result of `function(task)` for every task, in the tasks' order (a task whose worker died gives
        a `WorkerDied`): `stream` for functions of one result each, wrapped by `_one`."""
        done: dict[int, R | WorkerDied] = {}
        following = 0
        for index, result in self.stream(function, tasks):
            done[index] = result
            while following in done:
                yield done.pop(following)
                following += 1

    def _collect(self, first: int, count: int) -> Iterator[tuple[int, R | WorkerDied]]:
        import queue

        finished: set[int] = set()  # tasks done or blamed on a dead worker
        idle_deaths = 0  # workers that died holding no task of this stream: a worker that cannot start at all
        taken = first - 1  # the highest job number a worker has taken (jobs are taken in queue order)
        try:
            while len(finished) < count:
                try:
                    kind, _worker, number, payload = self._results.get(timeout=1.0)
                except queue.Empty:
                    # Nothing arrived for a second, so whatever a worker sent has been read: blame the task of each
                    # dead worker, and every task taken but neither done nor in a live worker's hands (a worker
                    # killed before its queue's feeder thread sent what it had finished: those results are lost).
                    taken = max(taken, *(slot.value for slot in self._slots.values()))
                    for worker, process in list(self._processes.items()):
                        if process.exitcode is None:
                            continue
                        del self._processes[worker]
                        index = self._slots.pop(worker).value - first
                        if 0 <= index < count and index not in finished:
                            yield index, WorkerDied(process.exitcode)
                            finished.add(index)
                        else:
                            idle_deaths += 1
                        self._start()
                    in_hand = {slot.value - first for slot in self._slots.values()}
                    for index in range(min(taken - first + 1, count)):
                        if index not in finished and index not in in_hand:
                            yield index, WorkerDied(None)
                            finished.add(index)
                    if idle_deaths > 2 * self.workers + 2:
                        # workers die before taking a task: fail what is left rather than start them forever
                        for index in sorted(set(range(count)) - finished):
                            yield index, WorkerDied(None)
                        return
                    continue
                index = number - first
                for result in payload:  # "results", or "done" with the task's last results
                    yield index, result
                if kind == "done":
                    finished.add(index)
        finally:
            self._streaming = False
            if len(finished) < count:  # the caller stopped reading: its queued tasks must not reach another stream
                self.close(at_once=True)

    def close(self, at_once: bool = False) -> None:
        """Stop the workers: each exits after its current job (at once with `at_once`, or when one is still busy
        after a moment)."""
        if self._closed:
            return
        self._closed = True
        for _ in self._processes:
            self._jobs.put(None)
        for process in self._processes.values():
            if not at_once:
                process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
        self._processes.clear()
        self._jobs.close()
        self._results.close()


def parallel_stream(
    function: Callable[[T], Iterator[R]], tasks: Sequence[T], workers: int
) -> Iterator[tuple[int, R | WorkerDied]]:
    """(task index, result) for every result of `function(task)`: in this process for one worker or one task,
    where a crash would be the caller's, else in a `WorkerPool` of its own."""
    if workers <= 1 or len(tasks) < 2:
        for index, task in enumerate(tasks):
            for result in function(task):
                yield index, result
        return
    with WorkerPool(min(workers, len(tasks))) as pool:
        yield from pool.stream(function, tasks)
