"""Matchers: indexes built from the store for one scan (a cache, rebuilt from the store, never pickled), and the
PDQ range-search index they use (`pdq_index`)."""

from hashwarden.index.exact import ExactIndex
from hashwarden.index.hamming import HammingIndex
from hashwarden.index.pdq_index import PDQIndex

__all__ = ["ExactIndex", "HammingIndex", "PDQIndex"]
