/**
 * PDQ (Meta's perceptual image hash, library flavour) and its quality, from 8-bit pixels, in plain JavaScript.
 *
 * Why this file: a young person hashes their own picture on their own device (index.html), and the hash must be
 * the very hash `hashwarden hash`, the scanner and the service compute from the same pixels, bit for bit, or a copy
 * might be missed. So this is a port of hashwarden's C engine (src/hashwarden/signals/_pdqcore.c), performing the
 * same float32 operations in the same order on every element:
 *
 *   luma       R*0.299 + G*0.587 + B*0.114 in double (JavaScript numbers), rounded once to float32;
 *   box blur   Jarosz's running sums (add the entering sample, subtract the leaving one, divide by the count), each
 *              step rounded to float32: two passes along rows and columns, window ceil(n / 128);
 *   decimate   the 64 centre samples of each side, ((i + 0.5) * n) / 64 in double, truncated;
 *   quality    the reference's gradient heuristic on the 64x64 buffer, capped at 100;
 *   DCT        16x64 matrix times buffer times its transpose, float32 products and sums in ascending k;
 *   bits       above the lower median (the 128th of the 256 sorted coefficients).
 *
 * float32 semantics in JavaScript: an operation on two float32 values is done exactly or in double, then rounded by
 * `Math.fround` or by storing into a Float32Array. For +, -, *, / that double rounding gives the float32 result
 * (53 >= 2 * 24 + 2 bits: Figueroa, "When is double rounding innocuous?", 1995), so every step equals C's float
 * step. The DCT matrix is embedded as float32 bit patterns (the values glibc's cos gives the C engine), because
 * `Math.cos` is only approximately specified and browsers may differ in its last bit.
 *
 * Memory: one float32 per pixel plus a few rows (12 MP: about 50 MB), as the C engine.
 * Runs in browsers and in Node (pdq-cli.mjs), with no dependency.
 */

export const PDQ_MIN_DIM = 5; // below 5 pixels a side the hash is all zeros and the quality 0, as the reference
export const DIHEDRAL_NAMES = Object.freeze(
  ["orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1"]);

const OUT = 64;
const DCT = 16;
const fround = Math.fround;

/* The products of each 8-bit value by the luma weights, in double: the same doubles C's multiplications give. */
const LUMA_R = new Float64Array(256);
const LUMA_G = new Float64Array(256);
const LUMA_B = new Float64Array(256);
for (let v = 0; v < 256; v++) {
  LUMA_R[v] = v * 0.299;
  LUMA_G[v] = v * 0.587;
  LUMA_B[v] = v * 0.114;
}

/*
 * DCT_MATRIX[i * 64 + j] = (float)((float)sqrt(2 / 64) * cos(pi / 2 / 64 * (i + 1) * (2 j + 1))), i < 16, j < 64, as
 * _pdqcore.c's init_dct_matrix computes it with glibc: one row of 64 float32 bit patterns (hex) per line.
 * tests/selfhash/test_pdq_js.py recomputes it in Python (the same libm cos) and compares.
 */
const DCT_BITS = [
  "3e34f6fe3e3487633e33a8723e325ab43e309ef63e2e764c3e2be20a3e28e3c63e257d593e21b0dd3e1d80a83e18ef513e13ffa83e0eb4b93e0911c73e031a4c3df9a3ed3dec794d3ddebcd53dd076ff3dc1b0983db272bd3da2c6d53d92b6893d824bc13d63213d3d411ee43d1ea5703cf7944a3cb145043c5510d43b8e2871bb8e2871bc5510d4bcb14504bcf7944abd1ea570bd411ee4bd63213dbd824bc1bd92b689bda2c6d5bdb272bdbdc1b098bdd076ffbddebcd5bdec794dbdf9a3edbe031a4cbe0911c7be0eb4b9be13ffa8be18ef51be1d80a8be21b0ddbe257d59be28e3c6be2be20abe2e764cbe309ef6be325ab4be33a872be348763be34f6fe",
  "3e34cd213e330f613e2f982b3e2a700c3e23a3b93e1b43f53e1165663e0620613df3215c3dd7aa8b3dba20053d9aca9e3d73ef2f3d2fefbb3cd47d093c0e1d7bbc0e1d7bbcd47d09bd2fefbbbd73ef2fbd9aca9ebdba2005bdd7aa8bbdf3215cbe062061be116566be1b43f5be23a3b9be2a700cbe2f982bbe330f61be34cd21be34cd21be330f61be2f982bbe2a700cbe23a3b9be1b43f5be116566be062061bdf3215cbdd7aa8bbdba2005bd9aca9ebd73ef2fbd2fefbbbcd47d09bc0e1d7b3c0e1d7b3cd47d093d2fefbb3d73ef2f3d9aca9e3dba20053dd7aa8b3df3215c3e0620613e1165663e1b43f53e23a3b93e2a700c3e2f982b3e330f613e34cd21",
  "3e3487633e309ef63e28e3c63e1d80a83e0eb4b93df9a3ed3dd076ff3da2c6d53d63213d3cf7944a3b8e2871bcb14504bd411ee4bd92b689bdc1b098bdec794dbe0911c7be18ef51be257d59be2e764cbe33a872be34f6febe325ab4be2be20abe21b0ddbe13ffa8be031a4cbddebcd5bdb272bdbd824bc1bd1ea570bc5510d43c5510d43d1ea5703d824bc13db272bd3ddebcd53e031a4c3e13ffa83e21b0dd3e2be20a3e325ab43e34f6fe3e33a8723e2e764c3e257d593e18ef513e0911c73dec794d3dc1b0983d92b6893d411ee43cb14504bb8e2871bcf7944abd63213dbda2c6d5bdd076ffbdf9a3edbe0eb4b9be1d80a8be28e3c6be309ef6be348763",
  "3e3425ce3e2d39863e1fa5123e0bee0a3de5acc63daaa9f23d5230453c8df1a9bc8df1a9bd523045bdaaa9f2bde5acc6be0bee0abe1fa512be2d3986be3425cebe3425cebe2d3986be1fa512be0bee0abde5acc6bdaaa9f2bd523045bc8df1a93c8df1a93d5230453daaa9f23de5acc63e0bee0a3e1fa5123e2d39863e3425ce3e3425ce3e2d39863e1fa5123e0bee0a3de5acc63daaa9f23d5230453c8df1a9bc8df1a9bd523045bdaaa9f2bde5acc6be0bee0abe1fa512be2d3986be3425cebe3425cebe2d3986be1fa512be0bee0abde5acc6bdaaa9f2bd523045bc8df1a93c8df1a93d5230453daaa9f23de5acc63e0bee0a3e1fa5123e2d39863e3425ce",
  "3e33a8723e28e3c63e13ffa83dec794d3da2c6d53d1ea570bb8e2871bd411ee4bdb272bdbdf9a3edbe18ef51be2be20abe348763be325ab4be257d59be0eb4b9bddebcd5bd92b689bcf7944a3c5510d43d63213d3dc1b0983e031a4c3e1d80a83e2e764c3e34f6fe3e309ef63e21b0dd3e0911c73dd076ff3d824bc13cb14504bcb14504bd824bc1bdd076ffbe0911c7be21b0ddbe309ef6be34f6febe2e764cbe1d80a8be031a4cbdc1b098bd63213dbc5510d43cf7944a3d92b6893ddebcd53e0eb4b93e257d593e325ab43e3487633e2be20a3e18ef513df9a3ed3db272bd3d411ee43b8e2871bd1ea570bda2c6d5bdec794dbe13ffa8be28e3c6be33a872",
  "3e330f613e23a3b93e0620613dba20053d2fefbbbc0e1d7bbd73ef2fbdd7aa8bbe116566be2a700cbe34cd21be2f982bbe1b43f5bdf3215cbd9aca9ebcd47d093cd47d093d9aca9e3df3215c3e1b43f53e2f982b3e34cd213e2a700c3e1165663dd7aa8b3d73ef2f3c0e1d7bbd2fefbbbdba2005be062061be23a3b9be330f61be330f61be23a3b9be062061bdba2005bd2fefbb3c0e1d7b3d73ef2f3dd7aa8b3e1165663e2a700c3e34cd213e2f982b3e1b43f53df3215c3d9aca9e3cd47d09bcd47d09bd9aca9ebdf3215cbe1b43f5be2f982bbe34cd21be2a700cbe116566bdd7aa8bbd73ef2fbc0e1d7b3d2fefbb3dba20053e0620613e23a3b93e330f61",
  "3e325ab43e1d80a83dec794d3d824bc13b8e2871bd63213dbddebcd5be18ef51be309ef6be33a872be21b0ddbdf9a3edbd92b689bc5510d43d411ee43dd076ff3e13ffa83e2e764c3e3487633e257d593e031a4c3da2c6d53cb14504bd1ea570bdc1b098be0eb4b9be2be20abe34f6febe28e3c6be0911c7bdb272bdbcf7944a3cf7944a3db272bd3e0911c73e28e3c63e34f6fe3e2be20a3e0eb4b93dc1b0983d1ea570bcb14504bda2c6d5be031a4cbe257d59be348763be2e764cbe13ffa8bdd076ffbd411ee43c5510d43d92b6893df9a3ed3e21b0dd3e33a8723e309ef63e18ef513ddebcd53d63213dbb8e2871bd824bc1bdec794dbe1d80a8be325ab4",
  "3e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a853e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a853e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a853e318a853e1683173dc9234e3d0d42afbd0d42afbdc9234ebe168317be318a85be318a85be168317bdc9234ebd0d42af3d0d42af3dc9234e3e1683173e318a85",
  "3e309ef63e0eb4b93da2c6d53b8e2871bd92b689be0911c7be2e764cbe325ab4be13ffa8bdb272bdbc5510d43d824bc13e031a4c3e2be20a3e33a8723e18ef513dc1b0983cb14504bd63213dbdf9a3edbe28e3c6be348763be1d80a8bdd076ffbcf7944a3d411ee43dec794d3e257d593e34f6fe3e21b0dd3ddebcd53d1ea570bd1ea570bddebcd5be21b0ddbe34f6febe257d59bdec794dbd411ee43cf7944a3dd076ff3e1d80a83e3487633e28e3c63df9a3ed3d63213dbcb14504bdc1b098be18ef51be33a872be2be20abe031a4cbd824bc13c5510d43db272bd3e13ffa83e325ab43e2e764c3e0911c73d92b689bb8e2871bda2c6d5be0eb4b9be309ef6",
  "3e2f982b3e0620613d73ef2fbcd47d09bdd7aa8bbe23a3b9be34cd21be1b43f5bdba2005bc0e1d7b3d9aca9e3e1165663e330f613e2a700c3df3215c3d2fefbbbd2fefbbbdf3215cbe2a700cbe330f61be116566bd9aca9e3c0e1d7b3dba20053e1b43f53e34cd213e23a3b93dd7aa8b3cd47d09bd73ef2fbe062061be2f982bbe2f982bbe062061bd73ef2f3cd47d093dd7aa8b3e23a3b93e34cd213e1b43f53dba20053c0e1d7bbd9aca9ebe116566be330f61be2a700cbdf3215cbd2fefbb3d2fefbb3df3215c3e2a700c3e330f613e1165663d9aca9ebc0e1d7bbdba2005be1b43f5be34cd21be23a3b9bdd7aa8bbcd47d093d73ef2f3e0620613e2f982b",
  "3e2e764c3df9a3ed3d1ea570bd63213dbe0911c7be325ab4be28e3c6bddebcd5bcb145043d92b6893e13ffa83e3487633e21b0dd3dc1b0983b8e2871bdb272bdbe1d80a8be34f6febe18ef51bda2c6d53c5510d43dd076ff3e257d593e33a8723e0eb4b93d824bc1bcf7944abdec794dbe2be20abe309ef6be031a4cbd411ee43d411ee43e031a4c3e309ef63e2be20a3dec794d3cf7944abd824bc1be0eb4b9be33a872be257d59bdd076ffbc5510d43da2c6d53e18ef513e34f6fe3e1d80a83db272bdbb8e2871bdc1b098be21b0ddbe348763be13ffa8bd92b6893cb145043ddebcd53e28e3c63e325ab43e0911c73d63213dbd1ea570bdf9a3edbe2e764c",
  "3e2d39863de5acc63c8df1a9bdaaa9f2be1fa512be3425cebe0bee0abd5230453d5230453e0bee0a3e3425ce3e1fa5123daaa9f2bc8df1a9bde5acc6be2d3986be2d3986bde5acc6bc8df1a93daaa9f23e1fa5123e3425ce3e0bee0a3d523045bd523045be0bee0abe3425cebe1fa512bdaaa9f23c8df1a93de5acc63e2d39863e2d39863de5acc63c8df1a9bdaaa9f2be1fa512be3425cebe0bee0abd5230453d5230453e0bee0a3e3425ce3e1fa5123daaa9f2bc8df1a9bde5acc6be2d3986be2d3986bde5acc6bc8df1a93daaa9f23e1fa5123e3425ce3e0bee0a3d523045bd523045be0bee0abe3425cebe1fa512bdaaa9f23c8df1a93de5acc63e2d3986",
  "3e2be20a3dd076ffbb8e2871bddebcd5be2e764cbe28e3c6bdc1b0983c5510d43dec794d3e309ef63e257d593db272bdbcb14504bdf9a3edbe325ab4be21b0ddbda2c6d53cf7944a3e031a4c3e33a8723e1d80a83d92b689bd1ea570be0911c7be348763be18ef51bd824bc13d411ee43e0eb4b93e34f6fe3e13ffa83d63213dbd63213dbe13ffa8be34f6febe0eb4b9bd411ee43d824bc13e18ef513e3487633e0911c73d1ea570bd92b689be1d80a8be33a872be031a4cbcf7944a3da2c6d53e21b0dd3e325ab43df9a3ed3cb14504bdb272bdbe257d59be309ef6bdec794dbc5510d43dc1b0983e28e3c63e2e764c3ddebcd53b8e2871bdd076ffbe2be20a",
  "3e2a700c3dba2005bcd47d09be062061be34cd21be116566bd2fefbb3d9aca9e3e23a3b93e2f982b3dd7aa8bbc0e1d7bbdf3215cbe330f61be1b43f5bd73ef2f3d73ef2f3e1b43f53e330f613df3215c3c0e1d7bbdd7aa8bbe2f982bbe23a3b9bd9aca9e3d2fefbb3e1165663e34cd213e0620613cd47d09bdba2005be2a700cbe2a700cbdba20053cd47d093e0620613e34cd213e1165663d2fefbbbd9aca9ebe23a3b9be2f982bbdd7aa8b3c0e1d7b3df3215c3e330f613e1b43f53d73ef2fbd73ef2fbe1b43f5be330f61bdf3215cbc0e1d7b3dd7aa8b3e2f982b3e23a3b93d9aca9ebd2fefbbbe116566be34cd21be062061bcd47d093dba20053e2a700c",
  "3e28e3c63da2c6d5bd411ee4be18ef51be325ab4bddebcd53c5510d43e031a4c3e34f6fe3e0911c73cb14504bdd076ffbe309ef6be1d80a8bd63213d3d92b6893e257d593e2be20a3db272bdbd1ea570be13ffa8be33a872bdec794d3b8e28713df9a3ed3e3487633e0eb4b93cf7944abdc1b098be2e764cbe21b0ddbd824bc13d824bc13e21b0dd3e2e764c3dc1b098bcf7944abe0eb4b9be348763bdf9a3edbb8e28713dec794d3e33a8723e13ffa83d1ea570bdb272bdbe2be20abe257d59bd92b6893d63213d3e1d80a83e309ef63dd076ffbcb14504be0911c7be34f6febe031a4cbc5510d43ddebcd53e325ab43e18ef513d411ee4bda2c6d5be28e3c6",
  "3e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d743e273d743d8a8bd4bd8a8bd4be273d74be273d74bd8a8bd43d8a8bd43e273d74",];
export const DCT_MATRIX = (() => {
  const bits = new Uint32Array(DCT * OUT);
  DCT_BITS.forEach((row, i) => {
    for (let j = 0; j < OUT; j++) bits[i * OUT + j] = parseInt(row.slice(8 * j, 8 * j + 8), 16);
  });
  return new Float32Array(bits.buffer);
})();

/**
 * PDQ of `height` rows of `width` pixels of `channels` bytes each (1 grey, 3 RGB, 4 RGBA/RGBX: the 4th byte is
 * ignored, as the engine drops alpha), rows packed without padding.
 *
 * Returns {hash, quality} (hash: 64 lowercase hex characters), and with `dihedral` also `dihedral`: the 8 hashes
 * in DIHEDRAL_NAMES order (orig first). Throws a RangeError on a wrong size or channel count.
 */
export function pdqHash(pixels, width, height, channels, { dihedral = false } = {}) {
  if (![1, 3, 4].includes(channels)) throw new RangeError(`channels must be 1, 3 or 4, not ${channels}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new RangeError(`not an image size: ${width}x${height}`);
  }
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`pixels hold ${pixels.length} bytes, expected ${width}x${height}x${channels}`);
  }
  const forms = dihedral ? 8 : 1;
  const hashes = [];
  let quality = 0;
  if (width < PDQ_MIN_DIM || height < PDQ_MIN_DIM) {
    for (let f = 0; f < forms; f++) hashes.push("0".repeat(64));
  } else {
    const down = downsample(pixels, height, width, channels);
    quality = qualityOf(down);
    const coefficients = dct16(down);
    for (let f = 0; f < forms; f++) hashes.push(hashBits(dihedralForm(coefficients, f)));
  }
  const result = { hash: hashes[0], quality };
  if (dihedral) result.dihedral = hashes;
  return result;
}

/* One row of luma (float32) from `cols` pixels starting at byte `offset`. */
function lumaRow(pixels, offset, cols, channels, out) {
  if (channels === 1) {
    for (let c = 0; c < cols; c++) {
      const v = pixels[offset + c];
      out[c] = LUMA_R[v] + LUMA_G[v] + LUMA_B[v];
    }
  } else {
    for (let c = 0, p = offset; c < cols; c++, p += channels) {
      out[c] = LUMA_R[pixels[p]] + LUMA_G[pixels[p + 1]] + LUMA_B[pixels[p + 2]];
    }
  }
}

/* The reference window of a box pass along n samples: ceil(n / 128). */
const windowFor = (n) => Math.floor((n + 2 * OUT - 1) / (2 * OUT));

/*
 * One running-sum box pass along a row of `n` samples (src[so ...]) into dst[do ...]: the reference's four phases
 * (accumulate; write with a growing window; write with the full window; shrink), each sum step rounded to float32.
 */
function boxRow(src, so, n, window, dst, dO) {
  const half = (window + 2) >> 1;
  let ri = so, li = so, oi = dO, count = 0, sum = 0;
  for (let t = 0; t < half - 1; t++) {
    sum = fround(sum + src[ri++]);
    count++;
  }
  for (let t = 0; t < window - half + 1; t++) {
    count++;
    sum = fround(sum + src[ri++]);
    dst[oi++] = sum / count;
  }
  const full = count;
  for (let t = 0; t < n - window; t++) {
    sum = fround(sum + src[ri++]);
    sum = fround(sum - src[li++]);
    dst[oi++] = sum / full;
  }
  for (let t = 0; t < half - 1; t++) {
    count--;
    sum = fround(sum - src[li++]);
    dst[oi++] = sum / count;
  }
}

/*
 * `boxRow` over four rows at once (rows `stride` apart in src and `dstride` apart in dst): the four running sums are
 * independent, so their additions overlap instead of each waiting for the previous one. Per row, the very same
 * operations in the same order as `boxRow`.
 */
function boxRow4(src, so, stride, n, window, dst, dO, dstride) {
  const half = (window + 2) >> 1;
  const a = so, b = so + stride, c = so + 2 * stride, d = so + 3 * stride;
  const oa = dO, ob = dO + dstride, oc = dO + 2 * dstride, od = dO + 3 * dstride;
  let ri = 0, li = 0, oi = 0, count = 0, sa = 0, sb = 0, sc = 0, sd = 0;
  for (let t = 0; t < half - 1; t++, ri++) {
    sa = fround(sa + src[a + ri]); sb = fround(sb + src[b + ri]);
    sc = fround(sc + src[c + ri]); sd = fround(sd + src[d + ri]);
    count++;
  }
  for (let t = 0; t < window - half + 1; t++, ri++, oi++) {
    count++;
    sa = fround(sa + src[a + ri]); sb = fround(sb + src[b + ri]);
    sc = fround(sc + src[c + ri]); sd = fround(sd + src[d + ri]);
    dst[oa + oi] = sa / count; dst[ob + oi] = sb / count; dst[oc + oi] = sc / count; dst[od + oi] = sd / count;
  }
  const full = count;
  for (let t = 0; t < n - window; t++, ri++, li++, oi++) {
    sa = fround(fround(sa + src[a + ri]) - src[a + li]);
    sb = fround(fround(sb + src[b + ri]) - src[b + li]);
    sc = fround(fround(sc + src[c + ri]) - src[c + li]);
    sd = fround(fround(sd + src[d + ri]) - src[d + li]);
    dst[oa + oi] = sa / full; dst[ob + oi] = sb / full; dst[oc + oi] = sc / full; dst[od + oi] = sd / full;
  }
  for (let t = 0; t < half - 1; t++, li++, oi++) {
    count--;
    sa = fround(sa - src[a + li]); sb = fround(sb - src[b + li]);
    sc = fround(sc - src[c + li]); sd = fround(sd - src[d + li]);
    dst[oa + oi] = sa / count; dst[ob + oi] = sb / count; dst[oc + oi] = sc / count; dst[od + oi] = sd / count;
  }
}

/*
 * The same pass along `n` steps of `lanes` independent vectors at once, stored interleaved (step t of lane k at
 * t * lanes + k), from `src` into `dst`. Float32Array sums round each step to float32 as they are stored.
 */
function boxLanes(src, n, lanes, window, dst) {
  const half = (window + 2) >> 1;
  const sum = new Float32Array(lanes);
  let ri = 0, li = 0, oi = 0, count = 0;
  for (let t = 0; t < half - 1; t++, ri++) {
    const x = ri * lanes;
    for (let k = 0; k < lanes; k++) sum[k] += src[x + k];
    count++;
  }
  for (let t = 0; t < window - half + 1; t++, ri++, oi++) {
    const x = ri * lanes, o = oi * lanes;
    count++;
    for (let k = 0; k < lanes; k++) {
      sum[k] += src[x + k];
      dst[o + k] = sum[k] / count;
    }
  }
  const full = count;
  for (let t = 0; t < n - window; t++, ri++, li++, oi++) {
    const x = ri * lanes, y = li * lanes, o = oi * lanes;
    for (let k = 0; k < lanes; k++) {
      sum[k] += src[x + k];
      sum[k] -= src[y + k];
      dst[o + k] = sum[k] / full;
    }
  }
  for (let t = 0; t < half - 1; t++, li++, oi++) {
    const y = li * lanes, o = oi * lanes;
    count--;
    for (let k = 0; k < lanes; k++) {
      sum[k] -= src[y + k];
      dst[o + k] = sum[k] / count;
    }
  }
}

/*
 * The first column pass, in place over `buf` (rows x cols), all columns at once: the same four phases. Before an
 * output row overwrites its input row, the input row is saved in a ring of `window` rows, which holds every input
 * row a later step still subtracts (as _pdqcore.c's box_columns_in_place). Per element, the reads of the entering
 * and leaving samples come before the write, so a row that is both (a window of 1) is read before it is written.
 */
function boxColumnsInPlace(buf, rows, cols, window) {
  const half = (window + 2) >> 1;
  const sum = new Float32Array(cols);
  const ring = new Float32Array(window * cols);
  let ri = 0, li = 0, oi = 0, count = 0;
  for (let t = 0; t < half - 1; t++, ri++) {
    const x = ri * cols;
    for (let k = 0; k < cols; k++) sum[k] += buf[x + k];
    count++;
  }
  for (let t = 0; t < window - half + 1; t++, ri++, oi++) {
    const x = ri * cols, o = oi * cols, saved = (oi % window) * cols;
    count++;
    for (let k = 0; k < cols; k++) {
      sum[k] += buf[x + k];
      ring[saved + k] = buf[o + k];
      buf[o + k] = sum[k] / count;
    }
  }
  const full = count;
  for (let t = 0; t < rows - window; t++, ri++, li++, oi++) {
    const x = ri * cols, y = (li % window) * cols, o = oi * cols, saved = (oi % window) * cols;
    for (let k = 0; k < cols; k++) {
      const s = fround(fround(sum[k] + buf[x + k]) - ring[y + k]);
      sum[k] = s;
      ring[saved + k] = buf[o + k];
      buf[o + k] = s / full;
    }
  }
  for (let t = 0; t < half - 1; t++, li++, oi++) {
    const y = (li % window) * cols, o = oi * cols, saved = (oi % window) * cols;
    count--;
    for (let k = 0; k < cols; k++) {
      sum[k] -= ring[y + k];
      ring[saved + k] = buf[o + k];
      buf[o + k] = sum[k] / count;
    }
  }
}

/* The 64 sample positions of the decimation along a side of n: centres, computed in double as the reference. */
function samplePositions(n) {
  const positions = new Int32Array(OUT);
  for (let i = 0; i < OUT; i++) positions[i] = Math.trunc(((i + 0.5) * n) / OUT);
  return positions;
}

/*
 * The blurred, decimated 64x64 luma (Float32Array, row-major) of an image of rows x cols >= 5 x 5. A 64x64 image is
 * taken unfiltered, as the reference does. Row passes run row by row; the first column pass runs in place over all
 * columns at once; the second row pass keeps only the 64 sampled columns, so the last column pass runs on those.
 */
function downsample(pixels, rows, cols, channels) {
  const down = new Float32Array(OUT * OUT);
  const rowBytes = cols * channels;
  if (rows === OUT && cols === OUT) {
    const row = new Float32Array(OUT);
    for (let i = 0; i < OUT; i++) {
      lumaRow(pixels, i * rowBytes, cols, channels, row);
      down.set(row, i * OUT);
    }
    return down;
  }
  const wrow = windowFor(cols), wcol = windowFor(rows);
  const colAt = samplePositions(cols), rowAt = samplePositions(rows);
  const buf = new Float32Array(rows * cols);
  const lines = new Float32Array(4 * cols);
  const line = lines.subarray(0, cols);
  let r = 0;
  for (; r + 4 <= rows; r += 4) { // pass 1 (rows), from the luma, four rows at a time
    for (let k = 0; k < 4; k++) lumaRow(pixels, (r + k) * rowBytes, cols, channels, lines.subarray(k * cols));
    boxRow4(lines, 0, cols, cols, wrow, buf, r * cols, cols);
  }
  for (; r < rows; r++) {
    lumaRow(pixels, r * rowBytes, cols, channels, line);
    boxRow(line, 0, cols, wrow, buf, r * cols);
  }
  boxColumnsInPlace(buf, rows, cols, wcol); // pass 2 (columns), in place
  const narrow = new Float32Array(rows * OUT);
  const keep = (row, from) => {
    for (let j = 0; j < OUT; j++) narrow[row * OUT + j] = lines[from + colAt[j]];
  };
  for (r = 0; r + 4 <= rows; r += 4) { // pass 3 (rows), keeping the 64 sampled columns
    boxRow4(buf, r * cols, cols, cols, wrow, lines, 0, cols);
    for (let k = 0; k < 4; k++) keep(r + k, k * cols);
  }
  for (; r < rows; r++) {
    boxRow(buf, r * cols, cols, wrow, lines, 0);
    keep(r, 0);
  }
  const narrowOut = new Float32Array(rows * OUT);
  boxLanes(narrow, rows, OUT, wcol, narrowOut); // pass 4 (columns) on the 64 kept columns
  for (let i = 0; i < OUT; i++) down.set(narrowOut.subarray(rowAt[i] * OUT, rowAt[i] * OUT + OUT), i * OUT);
  return down;
}

/* The reference's quality: significant gradients of the 64x64 buffer, (int)(((a - b) * 100) / 255) in float32. */
function qualityOf(a) {
  let gradientSum = 0;
  const step = (x, y) => Math.abs(Math.trunc(fround(fround(fround(x - y) * 100) / 255)));
  for (let i = 0; i < OUT - 1; i++) {
    for (let j = 0; j < OUT; j++) gradientSum += step(a[i * OUT + j], a[(i + 1) * OUT + j]);
  }
  for (let i = 0; i < OUT; i++) {
    for (let j = 0; j < OUT - 1; j++) gradientSum += step(a[i * OUT + j], a[i * OUT + j + 1]);
  }
  return Math.min(100, Math.floor(gradientSum / 90));
}

/* B = D A D^T, frequencies 1..16 each way (16x16, row-major), float32 products and sums in ascending k. */
function dct16(a) {
  const t = new Float32Array(DCT * OUT);
  for (let i = 0; i < DCT; i++) {
    for (let j = 0; j < OUT; j++) {
      let s = 0;
      for (let k = 0; k < OUT; k++) s = fround(s + fround(DCT_MATRIX[i * OUT + k] * a[k * OUT + j]));
      t[i * OUT + j] = s;
    }
  }
  const b = new Float32Array(DCT * DCT);
  for (let i = 0; i < DCT; i++) {
    for (let j = 0; j < DCT; j++) {
      let s = 0;
      for (let k = 0; k < OUT; k++) s = fround(s + fround(t[i * OUT + k] * DCT_MATRIX[j * OUT + k]));
      b[i * DCT + j] = s;
    }
  }
  return b;
}

/*
 * Dihedral form `form` of the original's DCT, by sign flips and transposition (odd index = even frequency), in
 * DIHEDRAL_NAMES order, as _pdqcore.c's `dihedral`.
 */
function dihedralForm(a, form) {
  if (form === 0) return a;
  const b = new Float32Array(DCT * DCT);
  for (let i = 0; i < DCT; i++) {
    for (let j = 0; j < DCT; j++) {
      const v = a[i * DCT + j];
      switch (form) {
        case 1: b[j * DCT + i] = (j & 1) ? v : -v; break;
        case 2: b[i * DCT + j] = ((i + j) & 1) ? -v : v; break;
        case 3: b[j * DCT + i] = (i & 1) ? v : -v; break;
        case 4: b[i * DCT + j] = (i & 1) ? v : -v; break;
        case 5: b[i * DCT + j] = (j & 1) ? v : -v; break;
        case 6: b[j * DCT + i] = v; break;
        default: b[j * DCT + i] = ((i + j) & 1) ? -v : v; break;
      }
    }
  }
  return b;
}

/* 64 hex characters, big-endian: bit k (cell k / 16, k % 16) set when the cell is above the lower median. */
function hashBits(b) {
  const median = Float32Array.from(b).sort()[DCT * DCT / 2 - 1];
  const bytes = new Uint8Array(32);
  for (let k = 0; k < DCT * DCT; k++) if (b[k] > median) bytes[31 - (k >> 3)] |= 1 << (k & 7);
  return Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");
}
