"""hashwarden: a database of hashes of known abuse material, and the tools to scan seized media against it.

The system stores, copies and exports hashes and metadata only, never imagery.

The Python API is small (the CLI is built on the same functions)::

    import hashwarden

    record = hashwarden.hash_file("photo.jpg")            # md5, sha1, sha256, media, pdq, pdq_quality, ...
    record = hashwarden.hash_bytes(data)                  # the same record for bytes in memory (an upload)
    store = hashwarden.open_store("cases.db")             # a path or a SQLAlchemy URL (postgresql://...)
    matcher = hashwarden.Matcher.from_store(store)        # the CLI's thresholds: PDQ distance <= 31, quality >= 50
    matches = matcher.match(record)                       # [{set, kind, method, distance?, category?, entry}]
    index = hashwarden.PDQIndex.build(codes)              # exact-recall PDQ range search (also hashwarden.index)

Names are imported on first use, so `import hashwarden` stays cheap for commands that need none of them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["Matcher", "PDQIndex", "__version__", "hash_bytes", "hash_file", "open_store"]

_LAZY = {"Matcher": "hashwarden.scan.matcher", "PDQIndex": "hashwarden.index.pdq_index",
         "hash_bytes": "hashwarden.api", "hash_file": "hashwarden.api", "open_store": "hashwarden.api"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hashwarden' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
