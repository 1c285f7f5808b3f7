"""The custody record unit by unit (issue 16, mutation testing): the listing digest is recomputable by hand, each
way evidence can change (content, size, mtime, a file gone, a file added) makes it "changed", with and without the
second read, and custody.json holds every field it promises. A court reads "unchanged: true" as a fact."""

from __future__ import annotations

import hashlib
import io
import json
import platform
import socket
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from hashwarden import __version__
from hashwarden.config import ScanSettings
from hashwarden.evidence import FolderItem
from hashwarden.scan.custody import Listing, custody_summary, listing_digest, write_custody


def item(name: bytes, size: int = 3, mtime: int = 100) -> FolderItem:
    return FolderItem(b"/evidence", (name,), size, mtime)


class Rows:
    """The part of a CaseDB custody reads: the items the scan recorded and its runs."""

    def __init__(self, rows: list[dict[str, Any]], runs: list[dict[str, Any]] | None = None) -> None:
        self._rows, self._runs = rows, runs or []

    def items(self) -> list[dict[str, Any]]:
        return self._rows

    def runs(self) -> list[dict[str, Any]]:
        return self._runs


def listing(*names: bytes) -> Listing:
    """A source whose files were all listed, read and listed again unchanged."""
    result = Listing("/evidence")
    for name in names:
        result.note_before(item(name))
        result.note_after(item(name))
    result.scan_rows(Rows([{"source": 0, "key": n, "size": 3, "sha256": f"h-{n.decode()}"} for n in names]), 0)
    for name in names:
        result.reread(name, 3, f"h-{name.decode()}")
    return result


def test_listing_digest_is_sha256_over_sorted_nul_separated_lines() -> None:
    rows = {b"b": (2, "y"), b"a\xff": (1, None), b"a": (10, "x")}
    expected = hashlib.sha256(b"a\x0010\x00x\n" + b"a\xff\x001\x00None\n" + b"b\x002\x00y\n").hexdigest()
    assert listing_digest(rows) == expected
    assert listing_digest({}) == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("verified", [True, False])
def test_an_untouched_source_is_unchanged_and_its_record_says_how_it_was_taken(verified: bool) -> None:
    record = listing(b"a.jpg", b"b.jpg").record(verified)
    content = listing_digest({b"a.jpg": (3, "h-a.jpg"), b"b.jpg": (3, "h-b.jpg")})
    meta = listing_digest({b"a.jpg": (3, 100), b"b.jpg": (3, 100)})
    assert record == {
        "path": "/evidence", "files": 2, "bytes": 6, "listing": "sorted (path, size, sha256)",
        "before": {"sha256": content, "taken": "the scan's own read of each file"},
        "metadata_before": meta, "metadata_after": meta,
        "after": {"sha256": content, "taken": "a second read after the scan"} if verified else None,
        "unchanged": True, "changed": [],
    }


@pytest.mark.parametrize("verified", [True, False])
@pytest.mark.parametrize("change", ["size", "mtime", "gone", "added"])
def test_any_metadata_change_is_a_change(change: str, verified: bool) -> None:
    source = listing(b"a.jpg", b"b.jpg")
    if change == "size":
        source.note_after(item(b"a.jpg", size=4))
    elif change == "mtime":
        source.note_after(item(b"a.jpg", mtime=101))
    elif change == "gone":
        del source.meta_after[b"a.jpg"]
    else:
        source.note_after(item(b"c.jpg"))  # appeared during the scan
    record = source.record(verified)
    assert record["unchanged"] is False
    assert record["changed"] == (["c.jpg"] if change == "added" else ["a.jpg"])


def test_a_content_change_seen_by_the_second_read_is_a_change() -> None:
    source = listing(b"a.jpg", b"b.jpg")
    source.reread(b"b.jpg", 3, "other")
    record = source.record(True)
    assert (record["unchanged"], record["changed"]) == (False, ["b.jpg"])
    assert record["after"]["sha256"] != record["before"]["sha256"]
    source = listing(b"a.jpg")
    source.reread(b"a.jpg", None, None)  # unreadable on the second read
    assert source.record(True)["changed"] == ["a.jpg"]


def test_differing_digests_alone_are_a_change() -> None:
    source = listing(b"a.jpg")
    source.content_before[b"a.jpg"] = (3, "h-a.jpg")
    source.content_after = {}  # the second read listed nothing: no key differs, the digests do
    record = source.record(True)
    assert record["unchanged"] is False and record["changed"] == []


def test_only_the_source_s_own_rows_of_its_listed_files_are_taken() -> None:
    source = Listing("/evidence")
    source.note_before(item(b"a.jpg"))
    source.scan_rows(Rows([{"source": 1, "key": b"a.jpg", "size": 3, "sha256": "mine"},
                           {"source": 2, "key": b"a.jpg", "size": 9, "sha256": "another source's"},
                           {"source": 1, "key": b"a.zip!/x", "size": 5, "sha256": "inside a file"}]), 1)
    assert source.content_before == {b"a.jpg": (3, "mine")}


def test_changed_names_are_display_names_and_at_most_1000() -> None:
    source = Listing("/evidence")
    for n in range(1001):
        source.note_before(item(b"f%04d" % n))
    source.note_before(item(b"\xff.jpg"))
    record = source.record(False)
    assert record["files"] == 1002 and len(record["changed"]) == 1000
    assert record["changed"][:2] == ["f0000", "f0001"]
    only = Listing("/evidence")
    only.note_before(item(b"\xff.jpg"))
    assert only.record(False)["changed"] == ["\\xff.jpg"]


def test_ewf_verification_is_carried_only_when_there_is_one() -> None:
    source = listing(b"a.E01")
    assert "ewf_verification" not in source.record(True)
    source.ewf_verification.append({"image": "a.E01", "verified": True})
    assert source.record(True)["ewf_verification"] == [{"image": "a.E01", "verified": True}]


def test_custody_summary_is_what_the_html_report_shows() -> None:
    changed = listing(b"a.jpg")
    changed.reread(b"a.jpg", 3, "other")
    runs = [{"started": "s", "finished": "f", "hashed": 2, "pid": 9}]
    summary = custody_summary(runs, [listing(b"a.jpg"), changed], [{"name": "set"}], True)
    assert summary == {
        "runs": [{"started": "s", "finished": "f", "hashed": 2}],
        "sources": [{"path": "/evidence", "unchanged": True, "reread": True},
                    {"path": "/evidence", "unchanged": False, "reread": True}],
        "hash_sets": [{"name": "set"}],
    }
    assert custody_summary([{}], [], [], False) == {"runs": [{"started": None, "finished": None, "hashed": None}],
                                                    "sources": [], "hash_sets": []}


@pytest.mark.parametrize("verified", [False, True])
def test_custody_json_holds_every_field(tmp_path: Path, verified: bool) -> None:
    import numpy
    import PIL

    from hashwarden.signals.pdq import DEFAULT_ENGINE

    settings = ScanSettings(allow_empty=True, workers=1, verify_after=verified)
    runs = [{"started": "s", "finished": "f", "hashed": 1}]
    path = write_custody(tmp_path, Rows([], runs), case="Fall 7 — Müller", command=["hashwarden", "scan"],
                         started="2026-01-01T00:00:00Z", finished="2026-01-01T00:01:00Z",
                         listings=[listing(b"a.jpg")], hash_sets=[{"name": "set"}], report_sha256="r" * 64,
                         settings=settings, audit_head={"count": 3, "head_hash": "h"})
    assert path == tmp_path / "custody.json"
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and "Fall 7 — Müller" in text and '\n  "case"' in text
    assert json.loads(text) == {
        "case": "Fall 7 — Müller",
        "tool": {"name": "hashwarden", "version": __version__},
        "command": ["hashwarden", "scan"],
        "host": {"name": socket.gethostname(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "libraries": {"Pillow": PIL.__version__, "numpy": numpy.__version__},
        "pdq_engine": f"{DEFAULT_ENGINE.name} {__version__}",
        "started_utc": "2026-01-01T00:00:00Z",
        "finished_utc": "2026-01-01T00:01:00Z",
        "runs": runs,
        "settings": json.loads(json.dumps(asdict(settings))),
        "sources": [listing(b"a.jpg").record(verified)],
        "hash_sets": [{"name": "set"}],
        "report_sha256": "r" * 64,
        "audit": {"count": 3, "head_hash": "h"},
    }


def test_custody_json_is_written_as_utf_8_under_an_ascii_locale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A workstation whose locale is ASCII still writes custody.json, as UTF-8, for a case named with a "ü".
    (pathlib asks io.text_encoding for the encoding a file is written in when none is given: here, ASCII.)"""
    real = io.text_encoding
    monkeypatch.setattr(io, "text_encoding", lambda encoding, stacklevel=2: real(encoding) if encoding else "ascii")
    write_custody(tmp_path, Rows([]), case="M\u00fcller", command=[], started="s", finished="f", listings=[],
                  hash_sets=[], report_sha256="", settings=ScanSettings(verify_after=False), audit_head={})
    assert json.loads((tmp_path / "custody.json").read_bytes().decode("utf-8"))["case"] == "M\u00fcller"
