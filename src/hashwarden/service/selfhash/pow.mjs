/**
 * The proof of work a self-report carries (service/self_reports.py): find a nonce such that
 * SHA-256(challenge ":" nonce) starts with `bits` zero bits. Why: the endpoint needs no key (a young person has
 * none), so a flood of fake reports is slowed by making each one cost the sender about 2^bits hashes (a fraction of
 * a second to a few seconds on a phone) while the server checks it with one.
 *
 * SHA-256 is written here for short messages, synchronous: Web Crypto's digest is asynchronous, and one promise
 * per try made the search several times slower. tests/selfhash/test_digests_js.py checks it against hashlib.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const W = new Int32Array(64);

/* One 64-byte block of `bytes` at `at` into the state `h` (8 words, updated in place). */
function compress(h, bytes, at) {
  for (let i = 0; i < 16; i++) {
    const p = at + 4 * i;
    W[i] = (bytes[p] << 24) | (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15], b = W[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    hh = g; g = f; f = e; e = (d + t1) | 0;
    d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

/* `bytes` with SHA-256's padding: 0x80, zeros, the length in bits (big-endian), to a multiple of 64 bytes. */
function pad(bytes, totalLength = bytes.length) {
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const bits = totalLength * 8;
  for (let i = 0; i < 8; i++) padded[padded.length - 1 - i] = Math.floor(bits / 2 ** (8 * i)) & 0xff;
  return padded;
}

/** SHA-256 of `bytes` (a Uint8Array) as 8 signed 32-bit words. */
export function sha256Words(bytes) {
  const padded = pad(bytes);
  const h = Int32Array.from(INITIAL);
  for (let at = 0; at < padded.length; at += 64) compress(h, padded, at);
  return h;
}

/** SHA-256 of `bytes` as 64 lowercase hex characters. */
export function sha256Hex(bytes) {
  return Array.from(sha256Words(bytes), (w) => (w >>> 0).toString(16).padStart(8, "0")).join("");
}

/** Leading zero bits of a digest given as words. */
export function leadingZeroBits(words) {
  let zeros = 0;
  for (const word of words) {
    if (word === 0) zeros += 32;
    else return zeros + Math.clz32(word);
  }
  return zeros;
}

/**
 * The first nonce (a decimal string, from 0 up) for which SHA-256(`challenge` ":" nonce) has at least `bits`
 * leading zero bits. Searches `slice` nonces at a time and awaits `pause()` between slices (the page yields to the
 * browser so it stays responsive and can show progress through `onProgress(tried)`).
 */
export async function solve(challenge, bits, { slice = 20000, pause = null, onProgress = null } = {}) {
  const encoder = new TextEncoder();
  const prefix = encoder.encode(`${challenge}:`);
  // The whole 64-byte blocks of the prefix are the same for every nonce: their state is computed once.
  const fixed = prefix.length - (prefix.length % 64);
  const midstate = Int32Array.from(INITIAL);
  for (let at = 0; at < fixed; at += 64) compress(midstate, prefix, at);
  const tail = new Uint8Array(64 + 20);
  tail.set(prefix.subarray(fixed));
  const h = new Int32Array(8);
  for (let nonce = 0; ; ) {
    const end = nonce + slice;
    for (; nonce < end; nonce++) {
      const digits = encoder.encodeInto(String(nonce), tail.subarray(prefix.length - fixed)).written;
      const padded = pad(tail.subarray(0, prefix.length - fixed + digits), prefix.length + digits);
      h.set(midstate);
      for (let at = 0; at < padded.length; at += 64) compress(h, padded, at);
      if (leadingZeroBits(h) >= bits) return String(nonce);
    }
    if (onProgress) onProgress(nonce);
    if (pause) await pause();
  }
}
