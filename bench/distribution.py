"""Signed distribution (issue 19): publish a set into a TUF repository and subscribe to it, full and by delta.

Builds a publisher store (SQLite, in a temporary folder) with one alert set of `--entries` entries (random md5 and
PDQ, loaded by the bulk loader), then measures, in one process whose garbage collector runs as the CLI's does
(`process_heap.collect_less_often`; at the default's young collection every 700 objects, a 2M-entry set's delta
applied in 4.96 s rather than 4.52 s, medians of 5):
  publish v1    the full list written (JSON lines, gzip), hashed, listed in targets metadata, signed
  subscribe v1  ngclient verifies the metadata and the file; the set created in one transaction, audited
  publish v2    after `--delta` changes at the publisher (half removals at random, half additions): the new full
                list and the delta from v1 (every line's 128-bit digest compared in NumPy)
  subscribe v2  the delta downloaded, verified and applied (removals found by hash, additions loaded), audited;
                the issue's bound: <= 5 s for a 100,000-line delta. `--rounds` (3) times, each on a fresh copy of
                the station as subscribe v1 left it; the median is the figure. The delta goes to the overlay
                (store/overlay.py), so then:
  merge         the overlay folded into the set, what `hashwarden set merge` (or a later delta past 10 % of the
                set) pays once for many deltas
Then the URL list (`publish --urls`, the URL list alone) of `--url-entries` page entries:
  publish urls v1 / subscribe urls v1   the full list (entries with their public ids), through store.urls
  publish urls v2 / subscribe urls v2   after `--url-delta` changes (half removals, half additions): the delta
                                        applied (removals by expression hash, additions with the publisher's ids);
                                        the issue's bound: <= 5 s for a 100,000-entry delta
Correctness: after each subscribe the subscriber's set holds exactly the publisher's md5s and PDQ codes, and its URL
list exactly the publisher's (public id, expression hash) pairs.
Defaults are the issue's sizes (10M entries, 100k delta; 200k URLs, 100k URL delta); `--entries 20000 --delta 2000
--url-entries 4000 --url-delta 2000` runs in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from sqlalchemy import select  # noqa: E402

from hashwarden.distribution import keygen, publish, subscribe  # noqa: E402
from hashwarden.process_heap import collect_less_often  # noqa: E402
from hashwarden.store import live, open_store  # noqa: E402
from hashwarden.store.batches import RowBatch  # noqa: E402
from hashwarden.store.hashsets import create_set, get_set  # noqa: E402
from hashwarden.store.import_run import finish_import, record_import, start_import  # noqa: E402
from hashwarden.store.loader import add_rows  # noqa: E402
from hashwarden.store.overlay import merge  # noqa: E402
from hashwarden.store.records import EntryRecord  # noqa: E402
from hashwarden.store.revision import revise_set  # noqa: E402
from hashwarden.store.schema import entry, url_entry  # noqa: E402
from hashwarden.store.urls import NewUrlEntry, add_entries, current_hashes, remove_entries  # noqa: E402

SET = "alerts"
_BATCH = 100_000


def build(engine, entries: int, rng: np.random.Generator) -> None:  # noqa: ANN001
    """The publisher's set: `entries` random md5s and PDQ codes (quality 90), through the bulk loader."""
    with engine.begin() as conn:
        target = create_set(conn, SET, "alert")
        import_id = start_import(conn, target, fmt="bench", file="")
        batches = (RowBatch(("md5", "pdq", "pdq_quality"), [
            (rng.bytes(16), rng.bytes(32), 90) for _ in range(min(_BATCH, entries - start))])
            for start in range(0, entries, _BATCH))
        rows, added = add_rows(conn, target, import_id, batches)
        result = finish_import(conn, import_id, rows, added)
        record_import(conn, SET, result, fmt="bench", file="", file_sha256=None, details={})


def change(engine, delta: int, rng: np.random.Generator) -> None:  # noqa: ANN001
    """Remove delta/2 entries chosen at random and add delta/2 new ones at the publisher, as one revision.

    At random, as a list's removals come (false positives, regraded items): removals of the oldest entries, which
    the first version of this bench made, sit on neighbouring table pages, and at 10M entries the subscriber then
    rewrote about half the pages it does for random ones (a WAL of 0.77 GB against 1.45 GB)."""
    with engine.begin() as conn:
        target = get_set(conn, SET)
        held = [row.id for row in conn.execute(select(entry.c.id).where(entry.c.set_id == target.id))]
        ids = sorted(int(i) for i in rng.choice(np.asarray(held), delta // 2, replace=False))
        records = [EntryRecord(md5=rng.bytes(16).hex(), pdq=rng.bytes(32).hex(), pdq_quality=80, line=n)
                   for n in range(delta - delta // 2)]
        revise_set(conn, target, ids, records, fmt="bench", file="", version="2", details={})


def content(engine) -> str:  # noqa: ANN001
    """SHA-256 over the set's sorted (md5, pdq): what the subscriber must hold (its live entries: store/live.py)."""
    with engine.connect() as conn:
        rows = sorted(live.rows(conn, select(entry.c.md5, entry.c.pdq).where(
            entry.c.set_id == get_set(conn, SET).id)))
    digest = hashlib.sha256()
    for md5, pdq in rows:
        digest.update(bytes(md5) + bytes(pdq))
    return f"{len(rows)}:{digest.hexdigest()}"


def url_entries(start: int, count: int) -> list[NewUrlEntry]:
    """`count` page entries, numbered from `start` (benign names under example.org)."""
    return [NewUrlEntry(f"h{n % 997}.example.org/gallery/{n}.jpg", "page", "A", "bench") for n in
            range(start, start + count)]


def build_urls(engine, count: int) -> None:  # noqa: ANN001
    with engine.begin() as conn:
        add_entries(conn, url_entries(0, count))


def change_urls(engine, count: int, delta: int) -> None:  # noqa: ANN001
    """Remove delta/2 listed entries and add delta/2 new ones at the publisher (two local versions)."""
    with engine.begin() as conn:
        gone = [bytes(h) for (h,) in conn.execute(select(url_entry.c.sha256).where(url_entry.c.removed_at.is_(None))
                                                  .order_by(url_entry.c.id).limit(delta // 2))]
        remove_entries(conn, gone)
        add_entries(conn, url_entries(count, delta - delta // 2))


def url_content(engine) -> str:  # noqa: ANN001
    """SHA-256 over the sorted (expression hash, public id) pairs: what the subscriber's URL list must hold."""
    with engine.connect() as conn:
        pairs = sorted(current_hashes(conn).items())
    digest = hashlib.sha256()
    for sha256, public_id in pairs:
        digest.update(sha256 + public_id.encode())
    return f"{len(pairs)}:{digest.hexdigest()}"


def bench_urls(work: Path, publisher, station, args: argparse.Namespace) -> None:  # noqa: ANN001
    root = work / "repo" / "metadata" / "1.root.json"
    timed(f"build {args.url_entries:,} URL entries (not part of the figures)",
          lambda: build_urls(publisher, args.url_entries))
    timed("publish urls v1 (full)", lambda: publish(publisher, work / "repo", work / "keys", [], urls=True))
    done = timed("subscribe urls v1 (full)", lambda: subscribe(station, str(work / "repo"), root))
    assert done.urls is not None and done.urls.how == "full", done.urls
    assert url_content(station) == url_content(publisher), "subscriber's URL list differs after the full list"
    timed("change the URL list at the publisher (not part of the figures)",
          lambda: change_urls(publisher, args.url_entries, args.url_delta))
    published = timed("publish urls v2 (full + delta)",
                      lambda: publish(publisher, work / "repo", work / "keys", [], urls=True))
    print(f"  url delta: {published.urls.removed:,} removed, {published.urls.added:,} added")
    done = timed("subscribe urls v2 (delta)", lambda: subscribe(station, str(work / "repo"), root))
    assert (done.urls.how, done.urls.removed, done.urls.added) == (
        "deltas", args.url_delta // 2, args.url_delta - args.url_delta // 2), done.urls
    assert url_content(station) == url_content(publisher), "subscriber's URL list differs after the delta"
    print("subscriber holds exactly the publisher's URL list after each subscribe")


def keep(work: Path, name: str, label: str) -> None:
    """Copy the database `name` and its TUF metadata cache (`<name>.tuf`) aside as `label`."""
    shutil.copyfile(work / name, work / f"{label}.db")
    shutil.copytree(work / f"{name}.tuf", work / f"{label}.tuf")


def restore(work: Path, name: str, label: str) -> None:
    """Put the copy `label` back as database `name` (its WAL and cache as they were kept), written to disk: a
    station's database is not a file just copied, and the checkpoint's fsync would otherwise wait for the copy's
    2 GB to reach the disk (round-to-round swings of 5 to 6.4 s at 10M)."""
    for extra in ("-wal", "-shm"):
        (work / f"{name}{extra}").unlink(missing_ok=True)
    shutil.copyfile(work / f"{label}.db", work / name)
    shutil.rmtree(work / f"{name}.tuf")
    shutil.copytree(work / f"{label}.tuf", work / f"{name}.tuf")
    os.sync()


def timed(label: str, call):  # noqa: ANN001, ANN201
    start = time.perf_counter()
    result = call()
    print(f"{label}: {time.perf_counter() - start:.2f} s", flush=True)
    return result


def main() -> None:
    collect_less_often()  # the garbage collector as `hashwarden publish` and `subscribe` run it (cli.main)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--delta", type=int, default=100_000)
    parser.add_argument("--url-entries", type=int, default=200_000)
    parser.add_argument("--url-delta", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="delta subscribes, each on a fresh copy (median)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {args.entries:,} entries, "
          f"{args.delta:,}-line delta")
    rng = np.random.default_rng(19)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        publisher = open_store(f"sqlite:///{work / 'publisher.db'}")
        station = open_store(f"sqlite:///{work / 'station.db'}")
        keygen(work / "keys")
        timed("build (not part of the figures)", lambda: build(publisher, args.entries, rng))
        timed("publish v1 (full)", lambda: publish(publisher, work / "repo", work / "keys", [SET]))
        size = sum(f.stat().st_size for f in (work / "repo" / "targets").rglob("*.v1.jsonl.gz"))
        print(f"  full list: {size / 1e6:.1f} MB gzip")
        root = work / "repo" / "metadata" / "1.root.json"
        done = timed("subscribe v1 (full)", lambda: subscribe(station, str(work / "repo"), root))
        assert [u.how for u in done.updated] == ["full"]
        assert content(station) == content(publisher), "subscriber differs after the full list"
        station.dispose()  # its file complete (WAL checkpointed), kept to apply the delta to a fresh copy each round
        keep(work, "station.db", "station.v1")
        station = open_store(f"sqlite:///{work / 'station.db'}")
        timed("change at the publisher (not part of the figures)", lambda: change(publisher, args.delta, rng))
        published = timed("publish v2 (full + delta)", lambda: publish(publisher, work / "repo", work / "keys",
                                                                        [SET]))
        print(f"  delta: {published.sets[0].removed:,} removed, {published.sets[0].added:,} added")
        expected = content(publisher)
        seconds = []
        for attempt in range(1, args.rounds + 1):  # each on a fresh copy of the station as subscribe v1 left it
            station.dispose()
            restore(work, "station.db", "station.v1")
            station = open_store(f"sqlite:///{work / 'station.db'}")
            start = time.perf_counter()
            done = timed(f"subscribe v2 (delta), round {attempt}",
                         lambda: subscribe(station, str(work / "repo"), root))  # noqa: B023
            seconds.append(time.perf_counter() - start)
            assert [(u.how, u.removed, u.added) for u in done.updated] == [
                ("deltas", args.delta // 2, args.delta - args.delta // 2)], done.updated
            assert content(station) == expected, "subscriber differs after the delta"
        print(f"subscribe v2 (delta): median {statistics.median(seconds):.2f} s of {len(seconds)} rounds")

        def fold() -> object:
            with station.begin() as conn:
                return merge(conn)

        merged = timed("merge the delta's overlay into the set (`set merge`, paid once for many deltas)", fold)
        assert (merged.added, merged.removed) == (args.delta - args.delta // 2, args.delta // 2), merged
        assert content(station) == expected, "subscriber differs after the merge"
        print("subscriber holds exactly the publisher's set after each subscribe")
        bench_urls(work, publisher, station, args)


if __name__ == "__main__":
    main()
