"""Signals: what hashwarden computes from content (cryptographic digests, PDQ), knowing nothing of storage or CLI."""

from hashwarden.signals.crypto import MD5, SHA1, SHA256, DigestSignal
from hashwarden.signals.hasher import FileSignals, HashOptions, hash_stream
from hashwarden.signals.pdq import DIHEDRAL_NAMES, PDQ, PdqResult, PdqSignal

ALL_SIGNALS = (MD5, SHA1, SHA256, PDQ)

__all__ = [
    "ALL_SIGNALS",
    "DIHEDRAL_NAMES",
    "DigestSignal",
    "FileSignals",
    "HashOptions",
    "MD5",
    "PDQ",
    "PdqResult",
    "PdqSignal",
    "SHA1",
    "SHA256",
    "hash_stream",
]
