"""Fan work out to processes: one place decides how hashing is parallelised (the scan and `hashwarden hash`)."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def parallel_map(
    function: Callable[[T], R], tasks: Sequence[T], workers: int, *, ordered: bool = False,
    pool: WorkerPool | None = None, weight: Callable[[T], int] | None = None,
) -> Iterator[R]:
    """Apply `function` to every task, where `parallel_stream` runs it. Unordered by default, since the writer sorts
    what it records; `ordered` keeps the input order.

    Raises:
        WorkerCrashed: a worker process died on a task (a map has no per-task error to report it in).
    """
    results = parallel_stream(partial(_one, function), tasks, workers, pool=pool, weight=weight)
    for _, result in _in_order(results) if ordered else results:
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
# What a worker holds (the job it runs and those after it), so it need not wait for the writer between files: two
# jobs, and more while they weigh less than this (a scan weighs its files by size), at most this many. Small files
# go many at a time (the writer's own work per file paces the hand-out), large ones two at a time (so the last
# large files are not all held by one worker while the other idles). Towards the end, what a worker holds beyond
# two jobs stays under 1/_SHARE_PARTS of its share of the weight left, down to _TINY_WEIGHT (`WorkerPool._send`).
_AHEAD_WEIGHT = 2 << 20
_SHARE_PARTS = 8
_TINY_WEIGHT = 64 << 10
_AHEAD_JOBS = 64
# Bytes of jobs a worker's pipe may hold, well under a pipe's 64 KiB: a send into a full pipe would wait for the
# worker, which may itself be waiting for the writer to read its results. A larger job goes only to an idle worker.
_AHEAD_BYTES = 32 << 10


def _stream_worker(jobs: Connection, results: Connection, warm: Callable[[], None] | None) -> None:
    """A worker process: run the jobs its pipe brings, sending their results in small batches (the last with the
    job's end, so a file of one item costs one message), until told to stop or its pipe closes.

    Its pipes are its own: a send has reached the pipe when it returns (no feeder thread to lose it with the
    process) and no lock is shared with the other workers (one killed while holding it would stop them all)."""
    import time

    from hashwarden.logs import configure_logging
    from hashwarden.process_heap import collect_less_often, settle_before_exit

    collect_less_often()
    configure_logging()
    if warm is not None:
        warm()
    while True:
        try:
            job = jobs.recv()
        except EOFError:  # the writer is gone
            job = None
        if job is None:
            settle_before_exit()  # the writer waits for this process's exit
            return
        number, function, task = job
        batch: list[Any] = []
        sent = time.monotonic()
        for result in function(task):
            batch.append(result)
            if len(batch) >= _BATCH_ITEMS or time.monotonic() - sent > _BATCH_SECONDS:
                results.send(("results", number, batch))
                batch, sent = [], time.monotonic()
        results.send(("done", number, batch))  # the last results travel with the end of the job: one message


def _one(function: Callable[[T], R], task: T) -> Iterator[R]:
    """A function of one result, as a stream of one (what `WorkerPool.map` sends)."""
    yield function(task)


@dataclass
class _Worker:
    """One worker process as the writer sees it: its two pipes' ends and the jobs sent to it, oldest first (the
    first is the one it is running)."""

    process: Any
    jobs: Connection
    results: Connection
    held: deque[tuple[int, int]] = field(default_factory=deque)  # (task index, bytes sent)
    weight: int = 0  # of the jobs held
    sent: int = 0  # bytes of the jobs held


@dataclass
class _Stream:
    """The tasks of one `WorkerPool.stream`: what is left to send, in order, and their weights."""

    function: Callable[[Any], Iterator[Any]]
    tasks: list[Any]
    weights: list[int]
    pending: deque[int]  # task indexes not yet sent, in order
    left: int = 0  # the weight of the pending tasks
    encoded: dict[int, bytes] = field(default_factory=dict)  # a pending job pickled, kept while no worker has room

    def job(self, index: int) -> bytes:
        """The job of task `index` as sent down a pipe (pickled once, however often it waits for room)."""
        job = self.encoded.get(index)
        if job is None:
            job = self.encoded[index] = bytes(ForkingPickler.dumps((index, self.function, self.tasks[index])))
        return job


class WorkerPool:
    """Spawned worker processes that run streams of tasks one after another, started before their work is known.

    A scan starts its pool first, so the workers' interpreters and imports run beside the writer's opening of the
    store, and the same processes then hash the files and re-read them for custody. Spawn, not fork: workers start
    clean (no inherited threads, locks or database handles of the writer). Each worker has a job pipe and a result
    pipe of its own; the writer hands out the jobs in order (largest files first, as the scan sorts them) as it
    reads the results, each worker holding what `_AHEAD_*` allow. A worker that dies (a crash in a native reader, the
    kernel's out-of-memory killer) is known by its result pipe's end, after everything it sent has been read: the
    job it was running yields one `WorkerDied`, those sent ahead go to the others, and a new worker takes its
    place. One stream at a time; `close` (or leaving the `with` block) stops the workers.
    """

    def __init__(self, workers: int, warm: Callable[[], None] | None = None) -> None:
        self.workers = max(1, workers)
        self._warm = warm
        self._context = multiprocessing.get_context("spawn")
        self._pool: list[_Worker] = [self._start() for _ in range(self.workers)]
        self._streaming = False
        self._closed = False

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> _Worker:
        job_out, job_in = self._context.Pipe(duplex=False)
        result_out, result_in = self._context.Pipe(duplex=False)
        process = self._context.Process(target=_stream_worker, args=(job_out, result_in, self._warm), daemon=True)
        process.start()
        job_out.close()  # the child's ends: closed here, so the writer sees a dead worker's pipe end
        result_in.close()
        return _Worker(process, job_in, result_out)

    def stream(self, function: Callable[[T], Iterator[R]], tasks: Sequence[T],
               weight: Callable[[T], int] | None = None) -> Iterator[tuple[int, R | WorkerDied]]:
        """(task index, result) for every result of `function(task)`, as workers produce them: one task may yield
        many results (a file and everything inside it), streamed rather than held until the task ends.

        The first tasks are sent now, not when the iterator is first read: the workers start on them while the
        caller prepares to receive (a scan builds its matcher meanwhile). `function` must be importable by name.
        `weight`: what a task costs, in bytes (a file's size); without it a worker holds two tasks at a time.
        """
        if self._streaming or self._closed:
            raise RuntimeError("a WorkerPool runs one stream at a time, and none once closed")
        self._streaming = True
        tasks = list(tasks)
        weights = [max(0, weight(task)) for task in tasks] if weight else [_AHEAD_WEIGHT] * len(tasks)
        stream = _Stream(function, tasks, weights, deque(range(len(tasks))), sum(weights))
        self._send(stream)
        return self._collect(stream)

    def map(self, function: Callable[[T], Iterator[R]], tasks: Sequence[T],
            weight: Callable[[T], int] | None = None) -> Iterator[R | WorkerDied]:
        """The first result of `function(task)` for every task, in the tasks' order (a task whose worker died gives
        a `WorkerDied`): `stream` for functions of one result each, wrapped by `_one`."""
        for _, result in _in_order(self.stream(function, tasks, weight)):
            yield result

    def _send(self, stream: _Stream) -> None:
        """Give each worker the next jobs, in order, as `_AHEAD_WEIGHT`, `_AHEAD_JOBS` and `_AHEAD_BYTES` say.

        A job sent down a pipe cannot be taken back, and a file's size says little of what it costs (a 120 KB
        PNG of 8 MP decodes for 0.13 s). So what a worker holds beyond two jobs shrinks with the work left (sent
        or not): else, towards the end, one worker's queue of small images runs while the others idle (0.25-0.4 s
        of a 7.6 s two-worker scan of photos, before this rule). Tiny jobs still go many at a time to the end:
        they cost the writer's round trip more than their hashing."""
        pending = stream.pending
        share = (stream.left + sum(worker.weight for worker in self._pool)) // len(self._pool)
        limit = max(_TINY_WEIGHT, min(_AHEAD_WEIGHT, share // _SHARE_PARTS))
        for worker in self._pool:
            while pending and (len(worker.held) < 2
                               or (worker.weight < limit and len(worker.held) < _AHEAD_JOBS)):
                index = pending[0]
                job = stream.job(index)
                if worker.held and worker.sent + len(job) > _AHEAD_BYTES:
                    break
                try:
                    worker.jobs.send_bytes(job)
                except OSError:  # it died: the end of its result pipe says so when it is read
                    break
                del stream.encoded[pending.popleft()]
                worker.held.append((index, len(job)))
                worker.weight += stream.weights[index]
                stream.left -= stream.weights[index]
                worker.sent += len(job)

    def _collect(self, stream: _Stream) -> Iterator[tuple[int, Any]]:
        remaining = len(stream.tasks)
        idle_deaths = 0  # workers that died holding no task (each death holding one ends that task: progress)
        try:
            while remaining:
                ready = wait([worker.results for worker in self._pool])
                for worker in [w for w in self._pool if w.results in ready]:
                    try:
                        kind, index, batch = worker.results.recv()
                    except (EOFError, OSError):  # it died; everything it sent has been read
                        died = self._replace(worker, stream)
                        if died is None:
                            idle_deaths += 1
                            if idle_deaths > 2 * self.workers + 2:
                                raise RuntimeError("worker processes keep dying before they take a task") from None
                            continue
                        remaining -= 1
                        yield died
                        continue
                    for result in batch:
                        yield index, result
                    if kind == "done":
                        done, size = worker.held.popleft()
                        worker.weight -= stream.weights[done]
                        worker.sent -= size
                        remaining -= 1
                self._send(stream)
        finally:
            if remaining:  # the caller stopped reading: its tasks must not reach another stream
                self.close(at_once=True)
            self._streaming = False

    def _replace(self, worker: _Worker, stream: _Stream) -> tuple[int, WorkerDied] | None:
        """A worker whose result pipe ended: start another in its place, give back the jobs sent ahead, and return
        the job it was running with its `WorkerDied` (None if it held none)."""
        worker.process.join(timeout=5)
        self._pool.remove(worker)
        worker.jobs.close()
        worker.results.close()
        self._pool.append(self._start())
        if not worker.held:
            return None
        running, _ = worker.held.popleft()
        stream.pending.extendleft(index for index, _ in reversed(worker.held))
        stream.left += sum(stream.weights[index] for index, _ in worker.held)
        return running, WorkerDied(worker.process.exitcode)

    def close(self, at_once: bool = False) -> None:
        """Stop the workers: each exits after its current job (at once with `at_once`, or when one is still busy
        after a moment)."""
        if self._closed:
            return
        self._closed = True
        for worker in self._pool:
            with contextlib.suppress(OSError):
                worker.jobs.send(None)
        for worker in self._pool:
            if not at_once:
                worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
            worker.jobs.close()
            worker.results.close()
        self._pool.clear()


def parallel_stream(
    function: Callable[[T], Iterator[R]], tasks: Sequence[T], workers: int, *, pool: WorkerPool | None = None,
    weight: Callable[[T], int] | None = None,
) -> Iterator[tuple[int, R | WorkerDied]]:
    """(task index, result) for every result of `function(task)`: in `pool` if given (its first tasks sent before
    this returns, as `WorkerPool.stream` does), else in this process for one worker or one task, where a crash
    would be the caller's, else in a `WorkerPool` of its own. `weight`: as for `WorkerPool.stream`."""
    if pool is not None:
        return pool.stream(function, tasks, weight)
    if workers <= 1 or len(tasks) < 2:
        return ((index, result) for index, task in enumerate(tasks) for result in function(task))
    return _in_own_pool(function, tasks, min(workers, len(tasks)), weight)


def _in_own_pool(function: Callable[[T], Iterator[R]], tasks: Sequence[T], workers: int,
                 weight: Callable[[T], int] | None) -> Iterator[tuple[int, R | WorkerDied]]:
    with WorkerPool(workers) as pool:
        yield from pool.stream(function, tasks, weight)


def _in_order(results: Iterator[tuple[int, R]]) -> Iterator[tuple[int, R]]:
    """The (task index, result) pairs of tasks of one result each, in the tasks' order."""
    done: dict[int, R] = {}
    following = 0
    for index, result in results:
        done[index] = result
        while following in done:
            yield following, done.pop(following)
            following += 1
