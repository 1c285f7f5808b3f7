"""The page's MD5 (web/selfhash/md5.mjs, written from RFC 1321) and the proof-of-work SHA-256 (pow.mjs) against
the RFC's test suite and Python's hashlib, under Node."""

from __future__ import annotations

import hashlib
import json

from tests.selfhash.node_js import run_module

# RFC 1321, appendix A.5.
RFC_1321 = {
    "": "d41d8cd98f00b204e9800998ecf8427e",
    "a": "0cc175b9c0f1b6a831c399e269772661",
    "abc": "900150983cd24fb0d6963f7d28e17f72",
    "message digest": "f96b697d7cb7938d525a2f31aaf161d0",
    "abcdefghijklmnopqrstuvwxyz": "c3fcd3d76192e4007dfb496cca67e13b",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789": "d174ab98d277d9f5a5611c2c9f419d9f",
    "1234567890" * 8: "57edf4a22be3c955ac49da2e2107b67a",
}

# Every length around the block and padding boundaries, then whole inputs fed in chunks of awkward sizes.
_SAMPLES = r"""
const seeded = (n, seed) => Uint8Array.from({length: n}, (_, i) => (i * 2654435761 + seed * 97) >>> 24);
const out = {lengths: [], chunked: []};
for (let n = 0; n <= 200; n++) out.lengths.push([n, HASH(seeded(n, n))]);
for (const [n, chunk] of [[1 << 20, 1], [3_000_001, 777], [1 << 20, 65536]]) {
  const bytes = seeded(n, 3);
  const state = new Md5();
  if (chunk === 1) for (let i = 0; i < 4096; i++) state.update(bytes.subarray(i, i + 1));
  const start = chunk === 1 ? 4096 : 0;
  for (let i = start; i < n; i += chunk) state.update(bytes.subarray(i, i + chunk));
  out.chunked.push([n, chunk, state.hex()]);
}
console.log(JSON.stringify(out));
"""


def _seeded(n: int, seed: int) -> bytes:
    return bytes(((i * 2654435761 + seed * 97) & 0xFFFFFFFF) >> 24 for i in range(n))


def test_md5_rfc_1321_suite() -> None:
    printed = run_module('import {md5Hex} from "WEB/md5.mjs";'
                         f'for (const s of {json.dumps(list(RFC_1321))}) console.log(md5Hex(new TextEncoder().encode(s)));')
    assert printed.split() == list(RFC_1321.values())


def test_md5_every_length_and_chunking_equal_hashlib() -> None:
    result = json.loads(run_module('import {Md5, md5Hex} from "WEB/md5.mjs";'
                                   + _SAMPLES.replace("HASH", "md5Hex")))
    assert result["lengths"] == [[n, hashlib.md5(_seeded(n, n)).hexdigest()] for n in range(201)]
    for n, chunk, digest in result["chunked"]:
        assert digest == hashlib.md5(_seeded(n, 3)).hexdigest(), (n, chunk)


def test_sha256_every_length_equals_hashlib() -> None:
    result = json.loads(run_module(
        'import {sha256Hex} from "WEB/pow.mjs";'
        'const seeded = (n, seed) => Uint8Array.from({length: n}, (_, i) => (i * 2654435761 + seed * 97) >>> 24);'
        'console.log(JSON.stringify(Array.from({length: 300}, (_, n) => sha256Hex(seeded(n, n)))));'))
    assert result == [hashlib.sha256(_seeded(n, n)).hexdigest() for n in range(300)]


def test_solve_finds_the_first_nonce_with_enough_zero_bits() -> None:
    """The nonce the page finds is the first that hashlib agrees on, for challenges of lengths around a block."""
    for challenge in ("x", "a" * 55, "b" * 63, "c" * 64, "1765000000.0123456789abcdef0123456789abcdef." + "f" * 64):
        nonce = run_module(f'import {{solve}} from "WEB/pow.mjs"; console.log(await solve({json.dumps(challenge)}, 12))'
                           ).strip()
        zero_bits = [_zero_bits(hashlib.sha256(f"{challenge}:{n}".encode()).digest()) for n in range(int(nonce) + 1)]
        assert zero_bits[-1] >= 12 and max(zero_bits[:-1], default=0) < 12, challenge


def _zero_bits(digest: bytes) -> int:
    value = int.from_bytes(digest, "big")
    return 256 - value.bit_length()
