"""The functions of the public API that are not a class of their own (`hashwarden.hash_file`, `hash_bytes`,
`open_store`).

Each is a thin door to what the CLI uses, with the CLI's defaults, so a script and a command give the same answer.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy.engine import Engine

from hashwarden.config import VPDQ_QUERY_SECONDS_PER_HASH, database_url
from hashwarden.errors import EvidenceReadError


def hash_file(path: str | os.PathLike[str], *, dihedral: bool = True,
              seconds_per_hash: float = VPDQ_QUERY_SECONDS_PER_HASH) -> dict[str, Any]:
    """The signals of one file, as `hashwarden hash` prints them (md5, sha1, sha256, media, pdq, pdq_quality; with
    `dihedral`, the 8 PDQ forms a matcher needs to find rotated and mirrored copies; videos: vpdq frames).

    Raises:
        EvidenceReadError: the file is missing or unreadable (a file whose image cannot be decoded is not an
            error here: its record says so under "error").
    """
    from hashwarden.scan.hash_files import hash_paths

    problems: list[str] = []
    records = list(hash_paths([os.fspath(path)], dihedral=dihedral, seconds_per_hash=seconds_per_hash,
                              warn=problems.append))
    if problems or len(records) != 1:
        raise EvidenceReadError("; ".join(problems) or "not a single regular file", location=os.fspath(path))
    return records[0]


def hash_bytes(data: bytes, name: str = "-", *, dihedral: bool = True,
               seconds_per_hash: float = VPDQ_QUERY_SECONDS_PER_HASH) -> dict[str, Any]:
    """`hash_file` of bytes held in memory (an upload): the same record, the same hashes, nothing written to disk.

    `name` labels the record's path (and is checked against the content, as a file's name is). Never raises for
    bad content: an image that cannot be decoded or a video FFmpeg cannot open is reported under "error".
    """
    from hashwarden.scan.hash_files import hash_bytes as hash_in_memory

    return hash_in_memory(data, name, dihedral=dihedral, seconds_per_hash=seconds_per_hash)


def open_store(database: str | os.PathLike[str], *, create: bool = True) -> Engine:
    """The hash database at a path or SQLAlchemy URL, migrated to the current schema; with `create` false a
    database that does not exist is refused rather than made.

    Raises:
        StoreError: it cannot be opened (or, without `create`, does not exist).
    """
    from hashwarden.store.db import open_store as open_url

    return open_url(database_url(os.fspath(database)), create=create)
