"""The URL list as hash prefixes, Safe Browsing update style (issue 19): a platform keeps the 4-byte prefixes of
every listed expression's SHA-256 and checks its URLs locally; only on a prefix hit does it ask the service for the
full hashes of that prefix, so the service never sees most of the URLs and the platform never holds the list.
"""

from __future__ import annotations

from collections.abc import Iterable

PREFIX_BYTES = 4


def prefixes(hashes: Iterable[bytes], size: int = PREFIX_BYTES) -> list[bytes]:
    """The distinct prefixes of `hashes`, sorted."""
    return sorted({digest[:size] for digest in hashes})


def prefix_delta(before: Iterable[bytes], now: Iterable[bytes], size: int = PREFIX_BYTES
                 ) -> tuple[list[bytes], list[bytes]]:
    """(added, removed) prefixes between two states of the list: a prefix is removed only when no expression
    listed now has it."""
    old, new = set(prefixes(before, size)), set(prefixes(now, size))
    return sorted(new - old), sorted(old - new)


def full_hashes(hashes: Iterable[bytes], wanted: Iterable[bytes]) -> list[bytes]:
    """The listed hashes starting with any of the `wanted` prefixes (each 4 to 32 bytes), sorted."""
    asked = {prefix for prefix in wanted}
    sizes = sorted({len(prefix) for prefix in asked})
    return sorted(digest for digest in hashes if any(digest[:size] in asked for size in sizes))
