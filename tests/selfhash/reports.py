"""Helpers of the self-report tests: a proof of work solved in Python (as web/selfhash/pow.mjs solves it) and a
report body sent as the page sends it."""

from __future__ import annotations

import hashlib
from typing import Any

from hashwarden.service.proof_of_work import zero_bits

IMAGE = {"md5": "a" * 32, "sha256": "b" * 64, "pdq": "c" * 64, "quality": 90, "media_type": "image/jpeg"}


def solve(challenge: str, bits: int) -> str:
    """The first nonce (from 0 up) whose SHA-256(challenge ":" nonce) has `bits` leading zero bits."""
    nonce = 0
    while zero_bits(hashlib.sha256(f"{challenge}:{nonce}".encode()).digest()) < bits:
        nonce += 1
    return str(nonce)


def with_proof(client: Any, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with a fresh challenge from the service and its solved nonce."""
    answer = client.get("/v1/self-reports/challenge")
    assert answer.status_code == 200, answer.text
    issued = answer.json()
    return {**body, "challenge": issued["challenge"], "nonce": solve(issued["challenge"], issued["bits"])}


def send(client: Any, body: dict[str, Any] | None = None) -> Any:
    """POST a report (an image's hashes by default) with a solved proof of work."""
    return client.post("/v1/self-reports", json=with_proof(client, body or IMAGE))
