"""Squid's external ACL helper protocol (urllist/squid.py): channel ids echoed, OK for listed and ERR for not
listed, BH for a line that cannot be answered, squid's URL escaping undone once, bounded lines, the list followed as
it changes, an unusable list (empty, missing, unreadable too long) refused as `OK tag=hw_unavailable` without the
helper ever exiting, the end of input a clean exit."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from hashwarden.config import SQUID_HELPER_REFRESH_SECONDS
from hashwarden.errors import StoreError
from hashwarden.store import open_store
from hashwarden.store.urls import add_entries, remove_entries
from hashwarden.urllist.checker import UrlListCache
from hashwarden.urllist.entries import derive_entry
from hashwarden.urllist.squid import OpenedLater, SquidHelper, run
from tests.test_cli import hw


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def add(engine: Any, url: str, kind: str) -> None:
    with engine.begin() as conn:
        add_entries(conn, [derive_entry(url, kind).entry])


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")
    add(engine, "http://listed.example.org/", "domain")
    add(engine, "http://example.com/bad/page.html", "page")
    yield engine
    engine.dispose()


def helper(engine: Any, clock: Clock | None = None, **options: Any) -> SquidHelper:
    clock = clock or Clock()
    return SquidHelper(engine, UrlListCache(SQUID_HELPER_REFRESH_SECONDS, clock=clock), log=lambda _: None,
                       **options)


def answers(h: SquidHelper, text: bytes) -> list[bytes]:
    out = io.BytesIO()
    run(h, io.BytesIO(text), out)
    return out.getvalue().splitlines()


def test_channel_ids_are_echoed_with_each_verdict(engine: Any) -> None:
    lines = (b"7 http://www.listed.example.org/x.html -\n"  # a subdomain of a domain entry
             b"0 http://example.com/bad/page.html -\n"
             b"12 http://example.com/good.html -\n"
             b"3 listed.example.org:443 -\n"  # CONNECT: squid's %URI is host:port
             b"4 http://EXAMPLE.com/bad/%2570age.html\n")  # squid escapes "%" as %25
    assert answers(helper(engine), lines) == [b"7 OK", b"0 OK", b"12 ERR", b"3 OK", b"4 OK"]


def test_squid_escaping_is_undone_once(engine: Any) -> None:
    add(engine, "http://example.com/a b.html", "page")  # listed as example.com/a%20b.html
    assert answers(helper(engine), b"1 http://example.com/a%20b.html -\n") == [b"1 OK"]


def test_never_the_entry_in_an_answer(engine: Any) -> None:
    for reply in answers(helper(engine), b"1 http://www.listed.example.org/ -\n2 http://other.example/ -\n"):
        assert b"listed.example" not in reply and b"message" not in reply and b"tag" not in reply


def test_malformed_lines_are_answered_bh(engine: Any) -> None:
    replies = answers(helper(engine), b"no-channel http://x.example/\n\n5\n6 javascript:alert(1) -\n"
                                      b"12345678901 http://x.example/\n")
    assert replies[0].startswith(b"BH message=\"") and b"channel id" in replies[0]
    assert replies[1].startswith(b"BH ")
    assert replies[2].startswith(b"5 BH message=") and b"no URL" in replies[2]
    assert replies[3] == b'6 ERR message="not a URL the list can check"'  # refused by canonicalization: not listed
    assert replies[4].startswith(b"BH ")  # not a channel id squid would send
    assert len(replies) == 5


def test_without_channels(engine: Any) -> None:
    assert answers(helper(engine, channels=False), b"http://listed.example.org/\nhttp://x.example/ -\n") == [
        b"OK", b"ERR"]


def test_a_line_too_long_is_bh_and_skipped_not_held(engine: Any) -> None:
    out = io.BytesIO()
    long_line = b"9 http://example.com/" + b"a" * 5000 + b" -\n"
    run(helper(engine), io.BytesIO(long_line + b"10 http://listed.example.org/ -\n"), out, max_line=1000)
    replies = out.getvalue().splitlines()
    assert replies[0].startswith(b"9 BH message=") and b"longer than" in replies[0]
    assert replies[1:] == [b"10 OK"]


def test_the_list_is_followed_when_its_version_moves(engine: Any) -> None:
    assert SQUID_HELPER_REFRESH_SECONDS == 2.0  # the README's "within 2 s of a change"
    clock = Clock()
    h = helper(engine, clock)
    h.start()
    assert h.answer(b"1 http://new.example.net/ -") == b"1 ERR"
    add(engine, "http://new.example.net/", "domain")
    clock.now += 1.0  # within the refresh interval: the list held
    assert h.answer(b"2 http://new.example.net/ -") == b"2 ERR"
    clock.now += 1.5  # past it: the version moved, the list is read again
    assert h.answer(b"3 http://new.example.net/ -") == b"3 OK"
    with engine.begin() as conn:
        remove_entries(conn, [derive_entry("http://new.example.net/", "domain").entry.sha256], "gone")
    clock.now += 2.5
    assert h.answer(b"4 http://new.example.net/ -") == b"4 ERR"


def test_an_unreadable_store_is_answered_from_the_list_held_for_a_bounded_time(engine: Any) -> None:
    clock = Clock()
    cache = UrlListCache(2.0, clock=clock)
    h = SquidHelper(engine, cache, max_stale=60.0, log=lambda _: None)
    h.start()

    class Broken:
        def connect(self) -> Any:
            raise OperationalError("select", {}, Exception("database is locked"))

    h._engine = Broken()
    clock.now += 30
    assert h.answer(b"1 http://listed.example.org/ -") == b"1 OK"  # the list held, 30 s old
    clock.now += 40
    stale = h.answer(b"2 http://listed.example.org/ -")
    # never a stale list forever: refused as unavailable (fail closed), not with the block page's verdict
    assert stale.startswith(b"2 OK tag=hw_unavailable message=") and b"could not be read" in stale
    h._engine = engine
    clock.now += 3
    assert h.answer(b"3 http://listed.example.org/ -") == b"3 OK"


def test_an_empty_list_is_refused_as_unavailable_and_the_helper_goes_on(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    said: list[str] = []
    h = SquidHelper(engine, UrlListCache(SQUID_HELPER_REFRESH_SECONDS, clock=Clock()), log=said.append)
    out = io.BytesIO()
    assert run(h, io.BytesIO(b"1 http://x.example/ -\n2 http://y.example/ -\n"), out) == 2
    replies = out.getvalue().splitlines()
    assert [r.split(b" message=")[0] for r in replies] == [b"1 OK tag=hw_unavailable", b"2 OK tag=hw_unavailable"]
    assert b"empty" in replies[0] and any("empty" in line for line in said)
    engine.dispose()


def test_a_list_emptied_while_running_is_unavailable(engine: Any) -> None:
    clock = Clock()
    h = helper(engine, clock)
    h.start()
    with engine.begin() as conn:
        remove_entries(conn, [derive_entry("http://listed.example.org/", "domain").entry.sha256,
                              derive_entry("http://example.com/bad/page.html", "page").entry.sha256], "all gone")
    clock.now += 3
    reply = h.answer(b"1 http://listed.example.org/ -")
    assert reply.startswith(b"1 OK tag=hw_unavailable message=") and b"empty" in reply
    assert h.answer(b"2 http://unlisted.example/ -").startswith(b"2 OK tag=hw_unavailable")  # never a clean ERR


def test_a_database_that_appears_later_is_used_once_there(tmp_path: Path) -> None:
    """The helper starts before the database exists (a mistyped path, a mount not up yet): every URL refused as
    unavailable, opening tried again at most every `retry` seconds, answered from the list once it is there."""
    path = tmp_path / "late.db"
    clock = Clock()
    opened: list[int] = []

    def opener() -> Any:
        opened.append(1)
        if not path.exists():
            raise StoreError(f"no hash database at {path}")
        return open_store(f"sqlite:///{path}", create=False)

    h = SquidHelper(OpenedLater(opener, 5.0, clock=clock), UrlListCache(2.0, clock=clock),  # type: ignore[arg-type]
                    log=lambda _: None)
    assert h.start() is None
    first = h.answer(b"1 http://listed.example.org/ -")
    assert first.startswith(b"1 OK tag=hw_unavailable message=") and b"no hash database" in first
    h.answer(b"2 http://unlisted.example/ -")
    assert len(opened) == 1  # not reopened at every line
    created = open_store(f"sqlite:///{path}")
    add(created, "http://listed.example.org/", "domain")
    created.dispose()
    clock.now += 6
    assert h.answer(b"3 http://listed.example.org/ -") == b"3 OK"
    assert h.answer(b"4 http://unlisted.example/ -") == b"4 ERR"


def test_the_command_answers_each_line_flushed_and_ends_at_eof(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    hw("url", "add", "http://listed.example.org/", "--kind", "domain", db=db)
    process = subprocess.Popen([sys.executable, "-m", "hashwarden", "url", "squid-helper", "--db", str(db)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"0 http://a.listed.example.org/x -\n")
    process.stdin.flush()
    assert process.stdout.readline() == b"0 OK\n"  # answered while squid still holds the pipe open: flushed
    process.stdin.write(b"1 http://unlisted.example/ -\n")
    process.stdin.flush()
    assert process.stdout.readline() == b"1 ERR\n"
    process.stdin.close()
    assert process.wait(timeout=30) == 0 and process.stdout.read() == b""


def test_the_command_on_an_empty_list_answers_unavailable_and_says_why(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    hw("url", "add", "http://listed.example.org/", "--kind", "domain", db=db)
    hw("url", "remove", "http://listed.example.org/", "--kind", "domain", db=db)
    result = subprocess.run([sys.executable, "-m", "hashwarden", "url", "squid-helper", "--db", str(db)],
                            input=b"7 http://listed.example.org/ -\n", capture_output=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith(b"7 OK tag=hw_unavailable message=")
    assert b"the URL list is empty" in result.stderr


def test_the_command_without_a_database_answers_unavailable(tmp_path: Path) -> None:
    """A mistyped --db is never created and never answered as "nothing listed"."""
    missing = tmp_path / "missing.db"
    result = subprocess.run([sys.executable, "-m", "hashwarden", "url", "squid-helper", "--db", str(missing)],
                            input=b"1 http://a.example/ -\n2 http://b.example/ -\n", capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [line.split(b" message=")[0] for line in result.stdout.splitlines()] == [
        b"1 OK tag=hw_unavailable", b"2 OK tag=hw_unavailable"]
    assert not missing.exists() and str(missing).encode() in result.stderr


@pytest.mark.heavy
def test_the_bench_runs_small() -> None:
    """bench/squid_helper.py cannot rot: every answer it reads is checked against the in-process verdict."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "squid_helper.py"
    result = subprocess.run([sys.executable, str(bench), "--entries", "30", "--lookups", "400", "--concurrency", "7"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "squid helper protocol:" in result.stdout and "x in process" in result.stdout
