/**
 * From a chosen file to its hashes, in the browser: MD5 and SHA-256 of the file's bytes, and PDQ of an image's
 * pixels (or vPDQ of a video's frames, video.mjs). Nothing here sends anything anywhere; page.mjs sends the result.
 *
 * Decoding: the browser's own decoder, asked not to convert colours (`colorSpaceConversion: "none"`) nor to apply the
 * EXIF orientation (`imageOrientation: "none"`), as hashwarden's decoder (Pillow) does neither; then a canvas's
 * `getImageData`. Chromium applies the EXIF orientation all the same (it reads "none" as "from-image"), so the
 * orientation tag of a JPEG or WebP is set to 1 ("as stored") in a copy of the bytes before they are decoded
 * (`withoutOrientation`): the pixels are then those stored, in every browser. Given the same pixels, pdq.mjs is bit-identical to `hashwarden hash`; the browser's JPEG decoder
 * may round some pixels otherwise than Pillow's libjpeg-turbo, which moves a few bits of the hash (measured on the
 * conformance images: docs/architecture.md, far inside the match threshold of 31).
 */

import { Md5 } from "./md5.mjs";
import { pdqHash } from "./pdq.mjs";
import { sha256Hex } from "./pow.mjs";
import { hashVideo } from "./video.mjs";

export const MAX_FILE_BYTES = 256 * 1024 * 1024; // held in memory for SHA-256 (Web Crypto digests a whole buffer)
export const MAX_IMAGE_PIXELS = 100_000_000; // a canvas of 400 MB of RGBA; browsers refuse much larger ones
const MD5_SLICE = 4 * 1024 * 1024; // bytes hashed between two yields to the browser (progress stays live)

/** Let the browser draw and handle events between two slices of work. */
export const pause = () => new Promise((resolve) => setTimeout(resolve, 0));

/** What a file is, from its first bytes (a file's name and type can be wrong): "image", "video" or null. */
export function sniff(head) {
  const at = (offset, ...bytes) => bytes.every((b, i) => head[offset + i] === b);
  const ascii = (offset, text) => [...text].every((c, i) => head[offset + i] === c.charCodeAt(0));
  if (at(0, 0xff, 0xd8, 0xff) || at(0, 0x89, 0x50, 0x4e, 0x47) || ascii(0, "GIF8") || ascii(0, "BM")
      || (ascii(0, "RIFF") && ascii(8, "WEBP")) || at(0, 0x49, 0x49, 0x2a, 0) || at(0, 0x4d, 0x4d, 0, 0x2a)) {
    return "image";
  }
  if (ascii(4, "ftyp")) {
    const brand = String.fromCharCode(...head.subarray(8, 12));
    return ["heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis"].includes(brand)
      ? "image" : "video";
  }
  if (at(0, 0x1a, 0x45, 0xdf, 0xa3) || (ascii(0, "RIFF") && ascii(8, "AVI ")) || ascii(0, "OggS")) return "video";
  return null;
}

/**
 * MD5 and SHA-256 of the file's bytes: {md5, sha256}. `onProgress(fraction)` as the bytes are read and hashed.
 * SHA-256 is Web Crypto's where the page is a secure context (https or localhost), else pow.mjs's.
 */
export async function fileDigests(bytes, onProgress = () => {}) {
  const md5 = new Md5();
  for (let at = 0; at < bytes.length; at += MD5_SLICE) {
    md5.update(bytes.subarray(at, at + MD5_SLICE));
    onProgress(Math.min(1, (at + MD5_SLICE) / bytes.length));
    await pause();
  }
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  const sha256 = subtle
    ? Array.from(new Uint8Array(await subtle.digest("SHA-256", bytes)), (b) => b.toString(16).padStart(2, "0")).join("")
    : sha256Hex(bytes);
  return { md5: md5.hex(), sha256 };
}

/**
 * A copy of a JPEG's or WebP's bytes whose EXIF orientation says "as stored" (1), or null when there is none to
 * change (no EXIF, orientation 1 already, another format). Only the orientation's value is changed.
 */
export function withoutOrientation(bytes) {
  const ascii = (offset, text) => [...text].every((c, i) => bytes[offset + i] === c.charCodeAt(0));
  const blocks = []; // [start, end) of each EXIF TIFF structure
  if (bytes[0] === 0xff && bytes[1] === 0xd8) {
    for (let at = 2; at + 4 <= bytes.length && bytes[at] === 0xff;) {
      const marker = bytes[at + 1];
      if (marker === 0xda || marker === 0xd9) break; // image data: no more metadata segments
      const length = (bytes[at + 2] << 8) | bytes[at + 3];
      if (marker === 0xe1 && ascii(at + 4, "Exif\0\0")) blocks.push([at + 10, at + 2 + length]);
      at += 2 + length;
    }
  } else if (ascii(0, "RIFF") && ascii(8, "WEBP")) {
    for (let at = 12; at + 8 <= bytes.length;) {
      const size = bytes[at + 4] | (bytes[at + 5] << 8) | (bytes[at + 6] << 16) | (bytes[at + 7] << 24);
      if (ascii(at, "EXIF")) blocks.push(ascii(at + 8, "Exif\0\0") ? [at + 14, at + 8 + size] : [at + 8, at + 8 + size]);
      at += 8 + size + (size & 1);
    }
  }
  let copy = null;
  for (const [start, end] of blocks) {
    const at = orientationAt(bytes, start, Math.min(end, bytes.length));
    if (at === null) continue;
    copy = copy || bytes.slice();
    const little = bytes[start] === 0x49;
    copy[at] = little ? 1 : 0;
    copy[at + 1] = little ? 0 : 1;
  }
  return copy;
}

/* Where IFD0's orientation value (tag 0x0112, a SHORT) sits in a TIFF structure at [start, end), if not 1. */
function orientationAt(bytes, start, end) {
  const little = bytes[start] === 0x49 && bytes[start + 1] === 0x49;
  if (!little && !(bytes[start] === 0x4d && bytes[start + 1] === 0x4d)) return null;
  const u16 = (at) => (little ? bytes[at] | (bytes[at + 1] << 8) : (bytes[at] << 8) | bytes[at + 1]);
  const u32 = (at) => (little ? u16(at) + u16(at + 2) * 65536 : u16(at) * 65536 + u16(at + 2));
  const ifd = start + u32(start + 4);
  if (ifd + 2 > end) return null;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > end) return null;
    if (u16(entry) === 0x0112 && u16(entry + 2) === 3) return u16(entry + 8) === 1 ? null : entry + 8;
  }
  return null;
}

/**
 * The decoded pixels of an image (a File or Blob), as the page hashes them: {data (RGBA), width, height}.
 * `opaque`: the format has no alpha (JPEG), so the pixels need no check for transparency.
 */
export async function decodeImage(file, { opaque = false } = {}) {
  const bitmap = await createImageBitmap(file, {
    colorSpaceConversion: "none", imageOrientation: "none", premultiplyAlpha: "none",
  });
  try {
    const { width, height } = bitmap;
    if (width * height > MAX_IMAGE_PIXELS) {
      throw new RangeError(`the picture is ${width}x${height} pixels, more than this page can hash`);
    }
    let { data } = pixelsOf(bitmap, width, height);
    if (!opaque && translucent(data)) data = unpremultipliedPixels(bitmap, width, height) || data;
    return { data, width, height };
  } finally {
    bitmap.close();
  }
}

/** RGBA pixels of a drawable (an ImageBitmap, a video element) through a canvas of its size. */
export function pixelsOf(source, width, height) {
  const canvas = typeof OffscreenCanvas === "function"
    ? new OffscreenCanvas(width, height) : Object.assign(document.createElement("canvas"), { width, height });
  const context = canvas.getContext("2d", { willReadFrequently: true, colorSpace: "srgb", alpha: true });
  context.drawImage(source, 0, 0);
  const { data } = context.getImageData(0, 0, width, height, { colorSpace: "srgb" });
  canvas.width = canvas.height = 0; // let the browser free the canvas now
  return { data };
}

/* Whether any pixel is not fully opaque (then a 2D canvas, which stores colours premultiplied by alpha, has lost
 * some of their colour: semi-transparent pixels are rounded, transparent ones black). */
function translucent(data) {
  if (LITTLE_ENDIAN && data.byteOffset % 4 === 0) { // a pixel a word: alpha is its top byte
    const words = new Uint32Array(data.buffer, data.byteOffset, data.length >> 2);
    for (let i = 0; i < words.length; i++) if (words[i] < 0xff000000) return true;
    return false;
  }
  for (let i = 3; i < data.length; i += 4) if (data[i] !== 255) return true;
  return false;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * The image's pixels as decoded, colours not premultiplied (as Pillow keeps them and the engine reads them, alpha
 * dropped), read back through WebGL: the bitmap (decoded with premultiplyAlpha "none") is uploaded as a texture
 * without premultiplication or colour conversion and read from a framebuffer. Null when WebGL is unavailable or the
 * image is larger than a texture may be: then the canvas's pixels are hashed (a few bits off on such images).
 */
function unpremultipliedPixels(bitmap, width, height) {
  const canvas = typeof OffscreenCanvas === "function"
    ? new OffscreenCanvas(1, 1) : Object.assign(document.createElement("canvas"), { width: 1, height: 1 });
  const gl = canvas.getContext("webgl2") || canvas.getContext("webgl");
  if (!gl || width > gl.getParameter(gl.MAX_TEXTURE_SIZE) || height > gl.getParameter(gl.MAX_TEXTURE_SIZE)) return null;
  try {
    const texture = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, texture);
    gl.pixelStorei(gl.UNPACK_PREMULTIPLY_ALPHA_WEBGL, false);
    gl.pixelStorei(gl.UNPACK_COLORSPACE_CONVERSION_WEBGL, gl.NONE);
    gl.pixelStorei(gl.UNPACK_FLIP_Y_WEBGL, false);
    gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, gl.RGBA, gl.UNSIGNED_BYTE, bitmap);
    const framebuffer = gl.createFramebuffer();
    gl.bindFramebuffer(gl.FRAMEBUFFER, framebuffer);
    gl.framebufferTexture2D(gl.FRAMEBUFFER, gl.COLOR_ATTACHMENT0, gl.TEXTURE_2D, texture, 0);
    if (gl.checkFramebufferStatus(gl.FRAMEBUFFER) !== gl.FRAMEBUFFER_COMPLETE) return null;
    const data = new Uint8ClampedArray(width * height * 4);
    gl.readPixels(0, 0, width, height, gl.RGBA, gl.UNSIGNED_BYTE, data); // row 0 is the texture's first row
    gl.deleteFramebuffer(framebuffer);
    gl.deleteTexture(texture);
    return gl.getError() === gl.NO_ERROR ? data : null;
  } finally {
    const lose = gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();
  }
}

/**
 * Everything the page computes for a file: {kind, media_type, md5, sha256, pdq, quality} for an image, or
 * {..., vpdq: [{frame, quality, pdq, timestamp}]} for a video; `note` when the PDQ could not be computed (a format
 * this browser cannot decode): then only the digests, which find exact copies. `onProgress(stage, fraction)`.
 */
export async function hashFile(file, onProgress = () => {}) {
  if (file.size > MAX_FILE_BYTES) {
    throw new RangeError(`the file is ${Math.round(file.size / 1e6)} MB; this page takes up to ${MAX_FILE_BYTES / 1048576} MB`);
  }
  const bytes = new Uint8Array(await file.arrayBuffer());
  const kind = sniff(bytes.subarray(0, 64)) || (file.type.startsWith("video/") ? "video" : "image");
  const declared = file.type.toLowerCase();
  const mediaType = /^(image|video)\/[a-z0-9][a-z0-9.+-]{0,40}$/.test(declared) && declared.startsWith(kind)
    ? declared : kind;
  const digests = await fileDigests(bytes, (f) => onProgress("digests", f));
  const result = { kind, media_type: mediaType, ...digests };
  try {
    if (kind === "image") {
      onProgress("pdq", 0);
      await pause();
      const stored = withoutOrientation(bytes);
      const { data, width, height } = await decodeImage(stored ? new Blob([stored], { type: file.type }) : file,
        { opaque: bytes[0] === 0xff && bytes[1] === 0xd8 });
      const { hash, quality } = pdqHash(data, width, height, 4);
      Object.assign(result, { pdq: hash, quality });
      onProgress("pdq", 1);
    } else {
      result.vpdq = await hashVideo(file, (f) => onProgress("vpdq", f));
    }
  } catch (error) {
    result.note = `${error.message || error}`;
  }
  return result;
}
