/**
 * MD5 (RFC 1321), incremental, in plain JavaScript: Web Crypto has no MD5, and many hash lists (NCMEC's, most
 * platforms') still name files by it. Written here from the RFC, a few dozen lines to read in one go;
 * tests/selfhash/test_digests_js.py checks it against the RFC's test suite and Python's hashlib (empty input, block
 * boundaries, large inputs fed in odd-sized chunks).
 *
 * Example: const md5 = new Md5(); md5.update(bytes); md5.hex()
 */

// Per-round shift amounts and the table K[i] = floor(2^32 * abs(sin(i + 1))), as the RFC lists them.
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const K = new Int32Array([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
]);

export class Md5 {
  constructor() {
    this.state = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476]);
    this.block = new Uint8Array(64);
    this.words = new Int32Array(16);
    this.held = 0; // bytes waiting in `block`
    this.length = 0; // bytes fed in all
  }

  /** Feed bytes (a Uint8Array, any length). */
  update(bytes) {
    let at = 0;
    this.length += bytes.length;
    if (this.held) {
      const take = Math.min(64 - this.held, bytes.length);
      this.block.set(bytes.subarray(0, take), this.held);
      this.held += take;
      at = take;
      if (this.held < 64) return this;
      this.compress(this.block, 0);
      this.held = 0;
    }
    for (; at + 64 <= bytes.length; at += 64) this.compress(bytes, at);
    this.block.set(bytes.subarray(at), 0);
    this.held = bytes.length - at;
    return this;
  }

  /** The digest as 32 lowercase hex characters (the object is finished: feed no more). */
  hex() {
    const bits = this.length * 8;
    const tail = new Uint8Array((this.held < 56 ? 64 : 128) - this.held);
    tail[0] = 0x80;
    for (let i = 0; i < 8; i++) tail[tail.length - 8 + i] = Math.floor(bits / 2 ** (8 * i)) & 0xff;
    this.update(tail);
    let out = "";
    for (const word of this.state) {
      for (let i = 0; i < 4; i++) out += ((word >>> (8 * i)) & 0xff).toString(16).padStart(2, "0");
    }
    return out;
  }

  compress(bytes, at) {
    const x = this.words;
    for (let i = 0; i < 16; i++, at += 4) {
      x[i] = bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24);
    }
    let [a, b, c, d] = this.state;
    for (let i = 0; i < 64; i++) {
      let f, g;
      if (i < 16) {
        f = (b & c) | (~b & d);
        g = i;
      } else if (i < 32) {
        f = (d & b) | (~d & c);
        g = (5 * i + 1) & 15;
      } else if (i < 48) {
        f = b ^ c ^ d;
        g = (3 * i + 5) & 15;
      } else {
        f = c ^ (b | ~d);
        g = (7 * i) & 15;
      }
      const s = S[((i >> 4) << 2) | (i & 3)];
      const sum = (a + f + K[i] + x[g]) | 0;
      a = d;
      d = c;
      c = b;
      b = (b + ((sum << s) | (sum >>> (32 - s)))) | 0;
    }
    const state = this.state;
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
  }
}

/** MD5 of bytes at once, as hex. */
export function md5Hex(bytes) {
  return new Md5().update(bytes).hex();
}
