"""URLs the Safe Browsing way (v4 "URLs and Hashing"): canonicalize a URL, build its host-suffix / path-prefix
lookup expressions and hash them, so a URL list is a set of SHA-256 digests matched by exact membership.

Knows nothing of the store, the scan or the service (import-linter contract): the URL list store, the CLI and
the service build on these four functions.
"""

from hashwarden.urls.canonical import canonicalize
from hashwarden.urls.expressions import expression_hash, expressions, hash_prefix, url_hashes

__all__ = ["canonicalize", "expression_hash", "expressions", "hash_prefix", "url_hashes"]
