"""The URL list's rows on both backends (store/urls.py): versions, history, one current row per expression,
concurrent writers, and what the audit log records (never an expression)."""

from __future__ import annotations

import json
import threading
from typing import Any

from sqlalchemy import select

from hashwarden.store.schema import audit as audit_table
from hashwarden.store.urls import (add_entries, current_hashes, find_entries, hashes_at, iter_entries, list_version,
                                   remove_entries)
from hashwarden.urllist.entries import derive_entry
from hashwarden.urls import expression_hash


def entry(url: str, kind: str = "page") -> Any:
    return derive_entry(url, kind).entry


def test_versions_history_and_duplicates(store_engine: Any) -> None:
    with store_engine.begin() as conn:
        assert list_version(conn) == 0
        version, answers = add_entries(conn, [entry("http://a.example/1.jpg"), entry("http://A.example/%31.jpg"),
                                              entry("http://b.example/", "domain")])
    assert version == 1 and [added for _, added in answers] == [True, False, True]
    assert answers[0][0] == answers[1][0]  # the same expression after canonicalization: one entry
    with store_engine.begin() as conn:
        assert add_entries(conn, [entry("http://a.example/1.jpg")]) == (1, [(answers[0][0], False)])  # no version
        version, removed = remove_entries(conn, [expression_hash("b.example/")], reason="taken down")
        assert (version, removed) == (2, [answers[2][0]])
        assert remove_entries(conn, [expression_hash("b.example/")]) == (2, [])  # not listed: no new version
        version, _ = add_entries(conn, [entry("http://b.example/", "domain")])  # listed again: a new row
    assert version == 3
    with store_engine.connect() as conn:
        assert hashes_at(conn, 1) == {expression_hash("a.example/1.jpg"), expression_hash("b.example/")}
        assert hashes_at(conn, 2) == {expression_hash("a.example/1.jpg")}
        assert set(current_hashes(conn)) == hashes_at(conn, 3) == hashes_at(conn, 1)
        history = list(iter_entries(conn, removed=True))
        assert [(e.expression, e.removed_version, e.removed_reason) for e in history] == [
            ("a.example/1.jpg", None, None), ("b.example/", 2, "taken down"), ("b.example/", None, None)]
        assert [e.expression for e in iter_entries(conn)] == ["a.example/1.jpg", "b.example/"]
        assert find_entries(conn, [expression_hash("b.example/")])[expression_hash("b.example/")].added_version == 3
        rows = [json.loads(row.details) for row in conn.execute(
            select(audit_table).where(audit_table.c.action.in_(("url.add", "url.remove"))).order_by(audit_table.c.id))]
    assert [(row["version"], row.get("added"), row.get("removed")) for row in rows] == [
        (1, 2, None), (2, None, 1), (3, 1, None)]
    assert "example" not in json.dumps(rows)  # the audit names no expression


def test_concurrent_writers_number_versions_once_each(store_engine: Any) -> None:
    errors: list[BaseException] = []

    def add(n: int) -> None:
        try:
            with store_engine.begin() as conn:
                add_entries(conn, [entry(f"http://w{n}.example/{i}.jpg") for i in range(5)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=add, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with store_engine.connect() as conn:
        versions = sorted({e.added_version for e in iter_entries(conn)})
        assert versions == list(range(1, 7)) and list_version(conn) == 6 and len(current_hashes(conn)) == 30
