"""The chain-of-custody record (`DIR/custody.json`): who ran what, when, on which evidence, and proof it is unchanged.

Per source, two SHA-256 digests over the sorted listing of (path, size, sha256): "before" from the scan's own read
of every file, "after" from a second read once the scan is done. Equal digests show the evidence was not altered
while hashwarden had it; a metadata listing (path, size, mtime) taken before and after backs this up cheaply.
"""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hashwarden import __version__
from hashwarden.config import ScanSettings
from hashwarden.evidence import FolderItem
from hashwarden.evidence.folder import display_name
from hashwarden.scan.case import CaseDB


def listing_digest(rows: dict[bytes, tuple[Any, ...]]) -> str:
    """SHA-256 over `key NUL field NUL field ... LF` lines sorted by key bytes: stable and easy to recompute."""
    digest = hashlib.sha256()
    for key in sorted(rows):
        digest.update(b"\0".join([key, *(str(v).encode() for v in rows[key])]) + b"\n")
    return digest.hexdigest()


class Listing:
    """What one source looked like before, during and after the scan."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.items: dict[bytes, FolderItem] = {}
        self.meta_after: dict[bytes, tuple[int, int]] = {}
        self.content_before: dict[bytes, tuple[int, str | None]] = {}
        self.content_after: dict[bytes, tuple[int | None, str | None]] = {}
        self.ewf_verification: list[dict[str, Any]] = []

    def note_before(self, item: FolderItem) -> None:
        self.items[item.key] = item

    def note_after(self, item: FolderItem) -> None:
        self.meta_after[item.key] = (item.size, item.mtime_ns)

    def scan_rows(self, db: CaseDB, source: int) -> None:
        """Take the (size, sha256) each file of the source had when the scan read it (not what is inside files)."""
        for row in db.items():
            if row["source"] == source and row["key"] in self.items:
                self.content_before[row["key"]] = (row["size"], row["sha256"])

    def reread(self, key: bytes, size: int | None, sha256: str | None) -> None:
        self.content_after[key] = (size, sha256)

    def record(self, verified_after: bool) -> dict[str, Any]:
        meta_before = {k: (i.size, i.mtime_ns) for k, i in self.items.items()}
        changed = sorted(
            set(meta_before) ^ set(self.meta_after)
            | {k for k in meta_before if k in self.meta_after and meta_before[k] != self.meta_after[k]}
        )
        result: dict[str, Any] = {
            "path": self.root,
            "files": len(self.items),
            "bytes": sum(i.size for i in self.items.values()),
            "listing": "sorted (path, size, sha256)",
            "before": {"sha256": listing_digest(self.content_before), "taken": "the scan's own read of each file"},
            "metadata_before": listing_digest(meta_before),
            "metadata_after": listing_digest(self.meta_after),
        }
        if verified_after:
            result["after"] = {"sha256": listing_digest(self.content_after), "taken": "a second read after the scan"}
            changed = sorted(set(changed) | {k for k, v in self.content_after.items() if self.content_before.get(k) != v})
            result["unchanged"] = not changed and result["after"]["sha256"] == result["before"]["sha256"]
        else:
            result["after"] = None
            result["unchanged"] = not changed
        result["changed"] = [display_name(k) for k in changed[:1000]]
        if self.ewf_verification:
            result["ewf_verification"] = self.ewf_verification
        return result


def custody_summary(
    runs: list[dict[str, Any]], listings: list[Listing], hash_sets: list[dict[str, Any]], verified_after: bool
) -> dict[str, Any]:
    """What report.html shows of the custody record: runs (started/finished UTC), per source whether the evidence is
    unchanged, and the hash sets used.

    The reports are written before custody.json (which pins report.json by its SHA-256), so the page gets these from
    the same objects custody.json is made of, not from the file. report.json stays free of timestamps.
    """
    return {
        "runs": [{k: run.get(k) for k in ("started", "finished", "hashed")} for run in runs],
        "sources": [
            {"path": listing.root, "unchanged": record["unchanged"], "reread": verified_after}
            for listing, record in ((listing, listing.record(verified_after)) for listing in listings)
        ],
        "hash_sets": hash_sets,
    }


def write_custody(
    out_dir: Path,
    db: CaseDB,
    *,
    case: str,
    command: list[str],
    started: str,
    finished: str,
    listings: list[Listing],
    hash_sets: list[dict[str, Any]],
    report_sha256: str,
    settings: ScanSettings,
    audit_head: dict[str, Any],
) -> Path:
    """Write custody.json and return its path."""
    import numpy
    import PIL

    from hashwarden.signals.pdq import DEFAULT_ENGINE
    record = {
        "case": case,
        "tool": {"name": "hashwarden", "version": __version__},
        "command": command,
        "host": {"name": socket.gethostname(), "platform": platform.platform(), "python": sys.version.split()[0]},
        "libraries": {"Pillow": PIL.__version__, "numpy": numpy.__version__},
        "pdq_engine": f"{DEFAULT_ENGINE.name} {__version__}",
        "started_utc": started,
        "finished_utc": finished,
        "runs": db.runs(),
        "settings": asdict(settings),
        "sources": [listing.record(settings.verify_after) for listing in listings],
        "hash_sets": hash_sets,
        "report_sha256": report_sha256,
        "audit": audit_head,
    }
    path = out_dir / "custody.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
