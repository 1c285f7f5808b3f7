"""A video entry's vPDQ frames (`vpdq_frame`), stored once the import has added the entry they belong to.

Why after the load: entries go in by the batch without their ids coming back, so a video's frames are held by its
line in the file meanwhile, and its entry is found again by (import, line).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection

from hashwarden.store.records import EntryRecord
from hashwarden.store.schema import entry, vpdq_frame


def noting_videos(records: Iterable[EntryRecord], videos: dict[int, list[Any]]) -> Iterator[EntryRecord]:
    """The records, each video's frames kept in `videos` by its line on the way.

    Raises:
        ValueError: a record with frames has no line number.
    """
    for record in records:
        if record.vpdq:
            if record.line is None:
                raise ValueError("a record with vPDQ frames needs its line number")
            videos[record.line] = record.vpdq
        yield record


def add_vpdq_frames(conn: Connection, import_id: int, videos: dict[int, list[Any]], *, entries: Table = entry,
                    frames: Table = vpdq_frame) -> None:
    """Store the frames of the videos this import added (consecutive repeats removed). A video that was a
    duplicate has no entry of this import: the entry it repeats keeps its own frames. A delta applied to the
    overlay (store/overlay.py) gives `entry_recent` and `vpdq_frame_recent`."""
    from hashwarden.signals.vpdq import dedupe_consecutive

    lines = sorted(videos)
    for start in range(0, len(lines), 500):
        chunk = lines[start:start + 500]
        found = conn.execute(select(entries.c.id, entries.c.line).where(
            entries.c.import_id == import_id, entries.c.line.in_(chunk))).all()
        rows = [{"entry_id": entry_id, "frame": f.frame, "quality": f.quality, "pdq": bytes.fromhex(f.pdq),
                 "timestamp": f.timestamp} for entry_id, line in found for f in dedupe_consecutive(videos[line])]
        if rows:
            conn.execute(insert(frames), rows)
