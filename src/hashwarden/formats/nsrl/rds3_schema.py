"""The RDSv3 minimal schema as every RDSv3 shape (SQLite table or view, delta script) sees it: the tables and
their columns, the longest value each FILE column may hold, and the `EntryRecord` one FILE row becomes."""

from __future__ import annotations

from typing import Any

from hashwarden.config import MAX_RDS_NAME_CHARS
from hashwarden.store.records import EntryRecord

# The RDSv3 minimal schema's tables and their column order (NIST `RDS_<ver>_<set>_minimal.schema.sql`): an
# INSERT without a column list fills these in order, and no other table or column may appear in a delta.
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "FILE": ("sha256", "sha1", "md5", "crc32", "file_name", "file_size", "package_id"),
    "PKG": ("package_id", "name", "version", "operating_system_id", "manufacturer_id", "language",
            "application_type"),
    "OS": ("operating_system_id", "name", "version", "manufacturer_id"),
    "MFG": ("manufacturer_id", "name"),
    "VERSION": ("version", "build_set", "build_date", "release_date", "description"),
}
HASH_COLUMNS = ("sha256", "sha1", "md5")

# Hash and number widths are facts of the format; the file name's bound is a setting (config.MAX_RDS_NAME_CHARS).
MAX_CHARS = {"sha256": 64, "sha1": 40, "md5": 32, "crc32": 64, "file_name": MAX_RDS_NAME_CHARS, "file_size": 20,
              "package_id": 20}


def file_record(
    sha256: str | None, sha1: str | None, md5: str | None, crc32: str | None, file_name: str | None,
    size: int | None, package_id: Any, line: int,
) -> EntryRecord:
    """The record of one RDSv3 FILE row (already validated, hashes lowercase): one shape for tables and deltas."""
    attributes: dict[str, Any] = {}
    if file_name is not None:
        attributes["file_name"] = file_name
    if package_id is not None:
        attributes["package_id"] = package_id
    if crc32:
        attributes["crc32"] = crc32
    return EntryRecord(sha256=sha256, sha1=sha1, md5=md5, size=size, attributes=attributes, line=line)
