"""scan/parallel.py: "A worker process that dies (a crash in a native reader, the out-of-memory killer) is replaced
and the file it was on reported as not fully read" (docs/architecture.md)."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from hashwarden.scan.parallel import WorkerCrashed, WorkerDied, WorkerPool, _one, parallel_map, parallel_stream
from hashwarden.scan.worker import _files_up_to, worker_pool


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
    """A worker killed the moment it takes a task, before it sent anything: the task is still known (the writer
    knows what it sent to whom) and failed with the signal, the worker replaced, and every other task done."""
    tasks = ["crash-a", "crash-b", "crash-c", "one", "two", "three"]
    results: dict[str, list] = {task: [] for task in tasks}
    for index, result in parallel_stream(_die_at_once, tasks, workers=2):
        results[tasks[index]].append(result)
    for task in ("one", "two", "three"):
        assert results[task] == [f"{task}:1"]
    for task in ("crash-a", "crash-b", "crash-c"):
        assert len(results[task]) == 1 and isinstance(results[task][0], WorkerDied)
        assert str(results[task][0]).startswith("the worker process reading it died (killed by signal 9)")


def _square(task: int) -> int:
    return task * task


def _crash_on(task: int) -> int:
    if task == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return task


def _pid(task: int) -> Iterator[int]:
    yield os.getpid()


def test_a_pool_runs_streams_one_after_another_in_the_same_processes() -> None:
    """The scan's pool hashes, then re-reads for custody, in the processes it started first."""
    with WorkerPool(2) as pool:
        first = {result for _, result in pool.stream(_pid, list(range(6)))}
        assert list(pool.map(partial(_one, _square), list(range(20)))) == [n * n for n in range(20)]
        second = {result for _, result in pool.stream(_pid, list(range(6)))}
    assert first and second <= first | second and len(first | second) <= 2 and os.getpid() not in first


def test_a_worker_that_died_between_streams_is_replaced_and_nobody_waits_for_it() -> None:
    """A worker killed while it waits for work (holding no task): the next stream's tasks are all done, by the
    other worker and the one started in its place. No lock is shared between workers, so none is left held."""
    with WorkerPool(2) as pool:
        pids = {pid for _, pid in pool.stream(_pid, list(range(8)))}
        os.kill(pids.pop(), signal.SIGKILL)
        time.sleep(0.3)
        results = dict(pool.stream(_work, ["x", "y", "z"]))
    assert results == {0: "x:2", 1: "y:2", 2: "z:2"}


def test_a_worker_killed_at_once_loses_nothing_it_had_finished() -> None:
    """Its results are in its pipe when its send returns: the tasks it finished before the one it died on are
    done, the one it died on is failed, and the rest go to the worker started in its place."""
    with WorkerPool(1) as pool:
        outcome = dict(pool.stream(partial(_one, _crash_on), list(range(6))))
    assert isinstance(outcome.pop(3), WorkerDied)
    assert outcome == {0: 0, 1: 1, 2: 2, 4: 4, 5: 5}


def test_parallel_map_names_a_worker_that_died_rather_than_waiting_forever() -> None:
    """multiprocessing.Pool loses the task of a killed worker and waits for it forever; the custody re-read and
    the E01 verification run through parallel_map, so a crash there must end the map with a clear error."""
    with pytest.raises(WorkerCrashed, match="_crash_on: the worker process reading it died"):
        list(parallel_map(_crash_on, list(range(8)), workers=2, ordered=True))


def test_a_stream_left_early_stops_its_pool() -> None:
    """A caller that stops reading (an error in the writer) must not leave its queued tasks to a later stream."""
    pool = WorkerPool(2)
    stream = pool.stream(_work, [f"t{n}" for n in range(50)])
    next(stream)
    stream.close()
    with pytest.raises(RuntimeError, match="none once closed"):
        pool.stream(_work, ["again"])


def test_the_scan_starts_no_worker_process_for_one_file(tmp_path: Path) -> None:
    """One file is hashed in the writer's process (no process started for nothing); a folder of many files gets
    one worker per file up to the count asked for, found by a walk that stops there."""
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.txt").write_bytes(b"a")
    assert worker_pool(4, [str(tmp_path / "only")]) is None
    assert worker_pool(1, [str(tmp_path / "only")]) is None
    nested = tmp_path / "many" / "deep"
    nested.mkdir(parents=True)
    for n in range(5):
        (nested / f"{n}.txt").write_bytes(b"x")
    assert _files_up_to([str(tmp_path / "many")], 3) == 3
    assert _files_up_to([str(tmp_path / "many"), str(tmp_path / "only" / "a.txt")], 10) == 6
    pool = worker_pool(2, [str(tmp_path / "many")])
    assert pool is not None and pool.workers == 2
    pool.close()


def _chatty(task: str) -> Iterator[str]:
    """Many large results for a task that weighs nothing: a small archive with many members."""
    for n in range(200):
        yield f"{n}:" + "r" * 2000


def test_jobs_sent_ahead_never_fill_a_workers_pipe_while_it_waits_to_send_results() -> None:
    """Light tasks are sent many at a time; if their bytes filled the job pipe, the writer would wait for the
    worker to read one while the worker waited for the writer to read its results. The bytes sent ahead are
    bounded, so 100 tasks of 4 KB, each answering with 400 KB, all finish."""
    import threading

    tasks = ["t" * 4000 + str(n) for n in range(100)]
    counts: dict[int, int] = {}
    pool = WorkerPool(2)

    def run() -> None:
        for index, _ in pool.stream(_chatty, tasks, weight=lambda task: 0):
            counts[index] = counts.get(index, 0) + 1

    runner = threading.Thread(target=run, daemon=True)
    try:
        runner.start()
        runner.join(timeout=60)
        assert not runner.is_alive(), "the writer and a worker wait for each other"
        assert counts == {index: 200 for index in range(100)}
    finally:
        for worker in list(pool._pool):  # a deadlocked stream cannot be closed from here: end its workers
            worker.process.kill()
        runner.join(timeout=10)
        pool.close(at_once=True)


def test_many_crashing_files_in_a_row_each_fail_alone_and_the_scan_goes_on() -> None:
    """Ten files in a row that each kill their worker (a batch of files crafted against one native decoder): each
    is failed on its own, a new worker takes each dead one's place, and the files after them are done."""
    tasks = [f"crash-{n}" for n in range(10)] + ["one", "two"]
    results: dict[str, list] = {task: [] for task in tasks}
    for index, result in parallel_stream(_die_at_once, tasks, workers=2):
        results[tasks[index]].append(result)
    assert all(len(results[f"crash-{n}"]) == 1 and isinstance(results[f"crash-{n}"][0], WorkerDied)
               for n in range(10))
    assert results["one"] == ["one:1"] and results["two"] == ["two:1"]


def _pid(task: int) -> Iterator[int]:
    yield os.getpid()


def test_the_last_light_tasks_are_shared_out_not_queued_behind_one_worker() -> None:
    """Ten tasks of 100 KB each weigh less together than one worker may hold ahead (2 MiB), and a job sent down a
    pipe cannot be taken back: if the first worker took them all, the other would idle while it ran them one by
    one (the end of every scan, its smallest files last, and a small PNG may take 0.1 s to decode). Near the end
    each worker holds two such jobs at a time, so each runs at least the two it was sent first."""
    with WorkerPool(2) as pool:
        pids = [pid for _, pid in pool.stream(_pid, list(range(10)), weight=lambda task: 100_000)]
    assert len(pids) == 10 and min(Counter(pids).values()) >= 2 and len(Counter(pids)) == 2
