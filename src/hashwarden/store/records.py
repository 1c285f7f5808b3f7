"""The plain record types the store hands out and takes in: hash sets, entries as the formats read and write them,
what an import did, and grading votes.

Why a module of their own: every reader and writer (formats/), the scan and the store's own modules use them, so
they must not pull in SQLAlchemy or any store module; kept here, importing a record type cannot close an import
cycle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# The hashes a grading vote may name its media by, strongest first: the first one given keys media no vote has
# named yet (store/votes.py).
VOTE_DIGESTS = ("sha256", "sha1", "md5", "pdq")


def canonical_json(value: Any) -> str:
    """The one stored form of a JSON value (entry attributes, audit details): sorted keys, no spaces, UTF-8 as is.
    The audit chain and the sets' content digests hash this text, so every writer must produce exactly it."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class HashSet:
    """A named list of known items: `alert` (known abuse material) or `ignorable` (known-benign, e.g. NSRL)."""

    id: int
    name: str
    source: str
    kind: str
    category_scheme: str | None
    version: str | None
    description: str | None = None
    entries: int = 0

    def summary(self) -> dict[str, Any]:
        """The set as scripts see it (`set list --json`, `set show --json`): every field but the database id,
        which means nothing outside one database."""
        return {"name": self.name, "kind": self.kind, "source": self.source, "category_scheme": self.category_scheme,
                "version": self.version, "description": self.description, "entries": self.entries}


@dataclass
class EntryRecord:
    """One known item to add to a set, as the import formats produce it. Hashes are lowercase hex."""

    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    media: str | None = None
    size: int | None = None
    category: str | None = None
    series: str | None = None
    victim_identified: bool | None = None
    offender_identified: bool | None = None
    is_distributed: bool | None = None
    tags: list[str] = field(default_factory=list)
    comments: str | None = None
    date_updated: str | None = None
    provenance: str | None = None
    category_scheme: str | None = None  # the record's own scheme (VICS, ICSE); None = the set's scheme
    media_id: str | None = None  # VICS MediaID
    photodna: str | None = None  # opaque PhotoDNA value, kept and exported as given
    attributes: dict[str, Any] = field(default_factory=dict)  # every other field, written back on export
    line: int | None = None  # record number (or line) in the imported file
    vpdq: list[Any] | None = None  # a video's vPDQ frames (signals.vpdq.VpdqFrame), stored in vpdq_frame

    def has_hash(self) -> bool:
        return any((self.md5, self.sha1, self.sha256, self.pdq, self.vpdq))


@dataclass(frozen=True)
class ImportResult:
    """What one import did: rows read from the file, entries added, duplicates not added again (and, for an
    NSRL delta, entries deleted and updated)."""

    import_id: int
    rows: int
    added: int
    duplicates: int
    deleted: int = 0
    updated: int = 0
    # the set's content-digest term of entries earlier imports had added and this one updated or deleted
    # (store.digest.change_of); what this import added is summed when it is recorded
    content_change: int = 0
    # every entry this import added has an id above this one (`import_run.highest_entry_id` before its first
    # insert); None when it may also have changed older entries: the digest then looks through the whole set
    entries_above: int | None = None

    def to_json(self) -> dict[str, int]:
        return {"import_id": self.import_id, "rows": self.rows, "added": self.added, "duplicates": self.duplicates,
                **({"deleted": self.deleted, "updated": self.updated} if self.deleted or self.updated else {})}


@dataclass(frozen=True)
class Vote:
    """One vote: hashes as lowercase hex (at least one), scheme and category, the five attributes, who and why.

    `id`, `media`, `voted_at`, `superseded_by` and `superseded_at` are the store's, filled when it is recorded."""

    scheme: str
    category: str
    reviewer: str
    md5: str | None = None
    sha1: str | None = None
    sha256: str | None = None
    pdq: str | None = None
    age_band: str = "unknown"
    sex: str = "unknown"
    self_generated: str = "unknown"
    capture_device: str = "unknown"
    redistributed: str = "unknown"
    agency: str = ""
    source: str = "cli"
    note: str | None = None
    id: int | None = None
    media: str | None = None
    voted_at: str | None = None
    superseded_by: int | None = None
    superseded_at: str | None = None

    def hashes(self) -> dict[str, str]:
        """The hashes it names, strongest first."""
        return {name: getattr(self, name) for name in VOTE_DIGESTS if getattr(self, name) is not None}

    def digest(self) -> str:
        """SHA-256 of the stored vote's canonical JSON, without what changes when it is superseded: what its audit
        row holds, so a vote edited in the database afterwards no longer matches its row."""
        fields = {key: value for key, value in asdict(self).items() if key not in ("superseded_by", "superseded_at")}
        return hashlib.sha256(canonical_json(fields).encode("utf-8")).hexdigest()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Vote:
        """A `vote` table row (hashes as bytes) as a record (hashes as hex)."""
        values = dict(row)
        for name in VOTE_DIGESTS:
            if values[name] is not None:
                values[name] = bytes(values[name]).hex()
        return cls(**values)
