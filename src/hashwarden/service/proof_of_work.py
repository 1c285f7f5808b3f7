"""Proof of work for the self-report endpoint: signed challenges, and the check of a nonce (issue 20).

Why: `POST /v1/self-reports` needs no key (a young person has none), so besides the per-address token bucket and the
body bound, each report must carry work: the page asks `GET /v1/self-reports/challenge` for a challenge and finds a
nonce such that SHA-256(challenge ":" nonce) starts with `bits` zero bits, about 2^bits hashes (web/selfhash/pow.mjs;
2^18 is ~0.4 s in a desktop browser, a second or two on a phone), which the server checks with one hash. A flood of
reports then costs its sender that much CPU per report, from any number of addresses. It is a brake, not a wall:
what stops a determined flood is review (nothing is published before an analyst confirms it).

A challenge is `bits.expires.random.mac`: the difficulty, when it expires (Unix seconds), 128 random bits and an
HMAC-SHA256 (truncated to 128 bits) of the rest under the service's secret, so the server keeps no state to issue
or check one, and a client can neither lower the difficulty nor extend the expiry. The store keeps each spent
challenge's SHA-256 (`self_report.proof`, unique), so one challenge buys one report in every process.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

_CHALLENGE = re.compile(r"^(\d{1,2})\.(\d{1,12})\.([0-9a-f]{32})\.([0-9a-f]{32})$")
_NONCE = re.compile(r"^\d{1,20}$")
MAX_CHALLENGE = 100  # characters: what a well-formed challenge is at most


class ProofRefused(ValueError):
    """A challenge or nonce that does not prove the work: malformed, forged, expired or not enough zero bits."""


@dataclass(frozen=True)
class Challenge:
    """An issued challenge, its difficulty and expiry (Unix seconds)."""

    text: str
    bits: int
    expires: int


class ProofOfWork:
    """Issues and checks challenges of `bits` zero bits valid `lifetime` seconds, signed with `secret`."""

    def __init__(self, secret: bytes, bits: int, lifetime: float, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the proof-of-work secret must be at least 16 bytes")
        self.secret, self.bits, self.lifetime, self.clock = secret, bits, lifetime, clock

    def issue(self) -> Challenge:
        expires = int(self.clock() + self.lifetime)
        body = f"{self.bits}.{expires}.{secrets.token_hex(16)}"
        return Challenge(f"{body}.{self._mac(body)}", self.bits, expires)

    def check(self, challenge: str, nonce: str) -> str:
        """The SHA-256 (hex) of a challenge whose nonce proves the work: what the store keeps so it is spent once.

        Raises:
            ProofRefused: malformed, not signed by this service, expired, easier than this service asks, or the
                nonce's hash has too few zero bits.
        """
        found = _CHALLENGE.fullmatch(challenge)
        if not found or not _NONCE.fullmatch(nonce):
            raise ProofRefused("malformed challenge or nonce")
        bits, expires = int(found[1]), int(found[2])
        body = challenge.rsplit(".", 1)[0]
        if not hmac.compare_digest(found[4], self._mac(body)):
            raise ProofRefused("this challenge was not issued by this service")
        now = self.clock()
        if expires < now:
            raise ProofRefused("the challenge has expired: ask for a new one")
        if bits < self.bits or expires > now + self.lifetime + 60:
            raise ProofRefused("the challenge is not one this service issues now: ask for a new one")
        if zero_bits(hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()) < bits:
            raise ProofRefused(f"the nonce does not give {bits} leading zero bits")
        return hashlib.sha256(challenge.encode()).hexdigest()

    def _mac(self, body: str) -> str:
        return hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()[:32]


def zero_bits(digest: bytes) -> int:
    """Leading zero bits of a digest."""
    return len(digest) * 8 - int.from_bytes(digest, "big").bit_length()
