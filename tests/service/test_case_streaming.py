"""A case of real size (issue 17): a report.json of half a million items (ITEMS: a million took over two minutes
on the shared 2-core test machine; nothing here depends on the count), generated on disk a block at a time, is sent
by `remote submit`'s client (streamed from the file) to a real `hashwarden serve`, stored whole with every item
where it was, and read back streamed, while the server's peak memory grows by less than a bound that does not
depend on the item count; the same report with an imagery key in its last item is refused with that item's index
and leaves nothing. Parsed whole, as before, 1M tiny items cost 872 MiB (and such a body was refused at 16 MiB)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import ijson
import pytest
from ijson.utils import sendable_list

from hashwarden.errors import RemoteError
from hashwarden.remote import RemoteClient, submit_case
from hashwarden.store import open_store
from tests.service.conftest import add_users, fill
from tests.service.test_cases import report
from tests.service.test_serve import start_serve, wait_for_health

ITEMS = 500_000
BAD_AT = ITEMS - 1
SPOT_CHECKS = (0, 4_999, 5_000, 345_678, ITEMS - 1)  # either side of a write batch, the middle, the last
# Peak RSS growth of the server over the submissions and a read of the whole case: SQLite's page cache (store/db.py
# sets 256 MiB per connection; one long transaction fills it: ~130 MiB at 500k items, and it stops there) plus
# 64 MiB for the route itself (a batch of items, the parser, the response's batch). Measured: ~145 MiB at 500k.
SQLITE_PAGE_CACHE = 256 << 20
MAX_RSS_GROWTH = SQLITE_PAGE_CACHE + (64 << 20)


def item(n: int) -> dict[str, Any]:
    """A tiny item (~170 bytes of JSON): its hashes are its number, so any item can be checked by position."""
    return {"path": f"/evidence/{n:07d}.jpg", "md5": f"{n:032x}", "sha1": f"{n:040x}", "size": n,
            "status": "unknown"}


def write_report(path: Path, count: int, bad_at: int | None = None) -> Path:
    """report.json of `count` items written a block at a time (never whole in memory); the item at `bad_at`
    carries an imagery key."""
    head = {key: value for key, value in report("BIG-1").items() if key != "items"}
    path.mkdir()
    with open(path / "report.json", "w") as out:
        out.write(json.dumps(head)[:-1] + ', "items": [')
        for start in range(0, count, 10_000):
            block = []
            for n in range(start, min(start + 10_000, count)):
                one = item(n) if n != bad_at else {**item(n), "Thumbnail": "aGVsbG8="}
                block.append(json.dumps(one))
            out.write((", " if start else "") + ", ".join(block))
        out.write("]}")
    return path


def peak_rss(pid: int) -> int:
    """The process's peak resident set (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def streamed_items(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """The items of a streamed GET /v1/cases/{id}, parsed as they arrive."""
    found: Any = sendable_list()
    parser = ijson.items_coro(found, "report.items.item")
    for chunk in response.iter_bytes():
        parser.send(chunk)
        yield from found
        del found[:]
    parser.close()
    yield from found


@pytest.mark.heavy
def test_a_half_million_item_case_is_stored_streamed_in_bounded_memory(tmp_path: Path,
                                                                    images: dict[str, dict[str, Any]]) -> None:
    good = write_report(tmp_path / "good", ITEMS)
    bad = write_report(tmp_path / "bad", ITEMS, bad_at=BAD_AT)
    db = tmp_path / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    fill(engine, images["known"])
    keys, _ = add_users(engine)
    engine.dispose()
    auth = {"Authorization": f"Bearer {keys['examiner']}"}
    with open(tmp_path / "serve.log", "w") as log:
        server, url = start_serve(str(db), output=log)
        try:
            wait_for_health(url, server)
            with RemoteClient(url, keys["examiner"]) as client:
                warm = submit_case(client, write_report(tmp_path / "small", 10))  # first-request allocations
                before = peak_rss(server.pid)
                case_id = submit_case(client, good)["id"]
                with pytest.raises(RemoteError) as refused:
                    submit_case(client, bad)
            with httpx.Client(base_url=url, headers=auth, timeout=300) as http:
                listed = {case["id"]: case for case in http.get("/v1/cases").json()["cases"]}
                spots = {n: [hit for hit in http.get("/v1/cases/items", params={"md5": f"{n:032x}"}).json()["items"]
                             if hit["case"] != warm["id"]] for n in SPOT_CHECKS}
                with http.stream("GET", f"/v1/cases/{case_id}") as whole:
                    assert whole.status_code == 200
                    read_back = 0
                    for n, got in enumerate(streamed_items(whole)):
                        if n in SPOT_CHECKS:
                            assert got == {**item(n), "sha256": None, "pdq": None}, n
                        read_back += 1
            after = peak_rss(server.pid)
        finally:
            server.terminate()
            server.wait(60)
    assert warm["id"] != case_id and listed.keys() == {warm["id"], case_id}  # the refused one is not there
    assert listed[case_id]["items"] == ITEMS and listed[case_id]["case"] == "BIG-1"
    assert spots == {n: [{"case": case_id, "position": n, "path": f"/evidence/{n:07d}.jpg"}] for n in SPOT_CHECKS}
    assert read_back == ITEMS
    assert f"422 body.items.{BAD_AT}: Value error, a case holds hashes and metadata only, not thumbnail" in str(
        refused.value)
    with sqlite3.connect(db) as conn:  # nothing of the refused case: its items were rolled back with it
        assert conn.execute("SELECT count(*) FROM case_item").fetchone()[0] == ITEMS + 10
    assert after - before < MAX_RSS_GROWTH, (before >> 20, after >> 20)
