"""Reading the next batch of an import while the database inserts the previous one."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

from hashwarden.store.batches import ColumnBatch, RowBatch


def read_ahead(batches: Iterable[RowBatch | ColumnBatch]) -> Iterator[RowBatch | ColumnBatch]:
    """The batches, read one ahead in a thread once they come as `ColumnBatch`es.

    SQLite releases the GIL while it inserts a column batch and a column batch is built mostly by NumPy and C
    string methods, so reading the next chunk while SQLite inserts the previous one overlaps the two (5M md5sum
    lines: the reading, ~2 s, disappears from the total). Row batches hold the GIL on both sides (executemany binds
    in Python objects), so they are read in line, as a thread would only add switching.
    """
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        return
    yield first
    if not isinstance(first, ColumnBatch):
        yield from iterator
        return
    ready: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in iterator:
                while not stop.is_set():
                    try:
                        ready.put((batch, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            ready.put((None, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there unchanged
            ready.put((None, exc))

    reader = threading.Thread(target=produce, name="hashwarden-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            batch, error = ready.get()
            if error is not None:
                raise error
            if batch is None:
                return
            yield batch
    finally:
        stop.set()
        reader.join()
