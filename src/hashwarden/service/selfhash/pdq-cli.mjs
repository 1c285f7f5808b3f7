#!/usr/bin/env node
/**
 * The page's PDQ code without a browser: reads `width height\n` followed by width * height * 3 bytes of RGB on
 * standard input and prints `hash quality`; several such images one after the other print one line each. With
 * --dihedral a line holds the 8 dihedral hashes (orig first, as `hashwarden hash --dihedral`), then the quality.
 *
 * Why: the code the page runs can be checked against `hashwarden hash` from the command line and in tests
 * (tests/selfhash/), on exactly the same pixels, without a browser. Memory: one image at a time.
 *
 * Example: node web/selfhash/pdq-cli.mjs < pixels.rgb
 */
import { pdqHash } from "./pdq.mjs";

const MAX_PIXELS = 200_000_000; // hashwarden's MAX_IMAGE_PIXELS (config.py)
const MAX_HEADER = 40;

function fail(message) {
  process.stderr.write(`pdq-cli: ${message}\n`);
  process.exit(2);
}

/* Bytes of standard input as they arrive, consumed by `take(n)` (exactly n bytes, or fewer at the end). */
function reader(stream) {
  const iterator = stream[Symbol.asyncIterator]();
  let held = Buffer.alloc(0);
  let ended = false;
  async function fill(n) {
    const parts = [held];
    let size = held.length;
    while (size < n && !ended) {
      const { value, done } = await iterator.next();
      if (done) ended = true;
      else {
        parts.push(value);
        size += value.length;
      }
    }
    held = Buffer.concat(parts);
  }
  return {
    async line() {
      for (;;) {
        const at = held.indexOf(10);
        if (at >= 0) {
          const text = held.subarray(0, at).toString("ascii");
          held = held.subarray(at + 1);
          return text;
        }
        if (held.length > MAX_HEADER) fail("each image must start with a line `width height`");
        if (ended) {
          if (held.length) fail("input ends inside a size line");
          return null;
        }
        await fill(held.length + 1);
      }
    },
    async take(n) {
      await fill(n);
      const out = held.subarray(0, n);
      held = held.subarray(n);
      return out;
    },
  };
}

const dihedral = process.argv.includes("--dihedral");
const input = reader(process.stdin);
for (let index = 0; ; index++) {
  const header = await input.line();
  if (header === null) {
    if (index === 0) fail("no image on standard input (expected `width height` and RGB bytes)");
    break;
  }
  const match = /^(\d{1,9}) (\d{1,9})$/.exec(header.trim());
  if (!match) fail(`image ${index}: not a size line \`width height\`: ${JSON.stringify(header)}`);
  const [width, height] = [Number(match[1]), Number(match[2])];
  if (width * height > MAX_PIXELS) fail(`image ${index}: ${width}x${height} is above ${MAX_PIXELS} pixels`);
  const pixels = await input.take(width * height * 3);
  if (pixels.length !== width * height * 3) {
    fail(`image ${index}: expected ${width * height * 3} bytes of RGB for ${width}x${height}, got ${pixels.length}`);
  }
  const result = pdqHash(new Uint8Array(pixels.buffer, pixels.byteOffset, pixels.length), width, height, 3,
    { dihedral });
  process.stdout.write(`${dihedral ? result.dihedral.join(" ") : result.hash} ${result.quality}\n`);
}
