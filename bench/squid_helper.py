"""Lookups a second through squid's external ACL helper protocol (issue 19: >= 20,000/s), against the same lookups
in process.

Builds a URL list of `--entries` entries (domains, paths and pages on generated hosts), then makes `--lookups`
URLs (about 1 in 20 listed: a listed host's pages, a listed path's files, listed pages; the rest on other hosts) and:

- baseline: `UrlChecker.check` on each URL in this process (canonicalize, <= 30 expressions, SHA-256 each);
- helper: `hashwarden url squid-helper` started as squid starts it, each URL written as squid writes it
  (`<channel-id> <URL-escaped URL> -`), at most `--concurrency` requests outstanding (squid's `concurrency=N`:
  a channel is reused only once its answer came back), answers read as they come.

Every answer is compared with the baseline's verdict (a wrong one stops the bench). Printed: lookups/s of each,
the helper's share of the in-process rate (what the protocol costs: pipes, escaping, one flush per answer), and
whether the helper reaches the 20,000/s target. The helper's start-up (reading the list) is not timed.

    python bench/squid_helper.py                                   # 100k entries, 200k lookups, concurrency 100
    python bench/squid_helper.py --entries 10000 --lookups 20000   # small
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

from hashwarden.store import open_store
from hashwarden.store.urls import add_entries
from hashwarden.urllist.checker import UrlChecker
from hashwarden.urllist.entries import derive_entry

TARGET = 20_000
SRC = Path(__file__).resolve().parents[1] / "src"


def build_list(db: Path, entries: int, rng: random.Random) -> list[tuple[str, str]]:
    """(URL, kind) of every entry, stored in `db` as one version."""
    made = []
    for i in range(entries):
        kind = ("domain", "path", "page")[i % 3]
        url = {"domain": f"http://listed{i}.example{i % 97}.org/",
               "path": f"http://site{i}.example{i % 89}.net/gallery{i % 7}/",
               "page": f"http://www.host{i}.example{i % 83}.com/p/{rng.randrange(10**9)}.html"}[kind]
        made.append((url, kind))
    engine = open_store(f"sqlite:///{db}")
    with engine.begin() as conn:
        add_entries(conn, [derive_entry(url, kind).entry for url, kind in made])
    engine.dispose()
    return made


def lookups(listed: list[tuple[str, str]], count: int, rng: random.Random) -> list[str]:
    urls = []
    for i in range(count):
        if i % 20 == 0:
            url, kind = listed[rng.randrange(len(listed))]
            urls.append({"domain": url.replace("http://", "http://img.cdn.") + f"x/{i}.jpg",
                         "path": url + f"photo {i}.jpg", "page": url}[kind])
        else:
            urls.append(f"http://www{i % 13}.other{rng.randrange(10**6)}.example/dir{i % 5}/a/b/page{i}.html?q={i}")
    return urls


def in_process(db: Path, urls: list[str]) -> tuple[float, list[bool]]:
    engine = open_store(f"sqlite:///{db}", create=False)
    with engine.connect() as conn:
        checker = UrlChecker.from_store(conn)
    engine.dispose()
    started = time.perf_counter()
    verdicts = [checker.check(url).listed for url in urls]
    return len(urls) / (time.perf_counter() - started), verdicts


def through_helper(db: Path, urls: list[str], expected: list[bool], concurrency: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    helper = subprocess.Popen([sys.executable, "-m", "hashwarden", "url", "squid-helper", "--db", str(db)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert helper.stdin is not None and helper.stdout is not None
    helper.stdin.write(b"0 http://warm.example/ -\n")  # the list read: start-up is not timed
    helper.stdin.flush()
    assert helper.stdout.readline() == b"0 ERR\n"
    lines = [f"{i % concurrency} {quote(url, safe=':/?=&')} -\n".encode() for i, url in enumerate(urls)]
    free = threading.Semaphore(concurrency)

    def write() -> None:
        for line in lines:
            free.acquire()  # squid reuses a channel only once its answer came back
            helper.stdin.write(line)
            if free._value == 0:  # noqa: SLF001 - nothing more can be sent: let the helper see what is pending
                helper.stdin.flush()
        helper.stdin.flush()

    started = time.perf_counter()
    writer = threading.Thread(target=write)
    writer.start()
    for i, want in enumerate(expected):
        answer = helper.stdout.readline()
        free.release()
        got = answer.split()
        assert got[0] == str(i % concurrency).encode() and got[1] == (b"OK" if want else b"ERR"), (i, answer)
    elapsed = time.perf_counter() - started
    writer.join()
    helper.stdin.close()
    helper.wait(timeout=30)
    return len(urls) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(19)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "urls.db"
        listed = build_list(db, args.entries, rng)
        urls = lookups(listed, args.lookups, rng)
        baseline, verdicts = in_process(db, urls)
        rate = through_helper(db, urls, verdicts, args.concurrency)
    print(f"{args.entries:,} entries, {args.lookups:,} lookups ({sum(verdicts):,} listed), "
          f"concurrency {args.concurrency}")
    print(f"in process (UrlChecker.check): {baseline:>10,.0f} lookups/s")
    print(f"squid helper protocol:         {rate:>10,.0f} lookups/s  ({rate / baseline:.2f}x in process; "
          f"target {TARGET:,}/s: {'met' if rate >= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
