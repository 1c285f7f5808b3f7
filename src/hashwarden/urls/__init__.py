"""URLs the Safe Browsing way (v4 "URLs and Hashing"): canonicalize a URL, build its host-suffix / path-prefix
lookup expressions and hash them, so a URL list is a set of SHA-256 digests matched by exact membership
(`DigestTable`: the digests in memory, a URL checked against them in one compiled call).

Knows nothing of the store, the scan or the service (import-linter contract): the URL list store, the CLI and
the service build on these functions.
"""

from hashwarden.urls.canonical import canonicalize
from hashwarden.urls.expressions import DigestTable, expression_hash, expressions, hash_prefix, url_hashes

__all__ = ["DigestTable", "canonicalize", "expression_hash", "expressions", "hash_prefix", "url_hashes"]
