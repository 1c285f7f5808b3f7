/**
 * vPDQ of a video in the browser: one frame a second through a <video> element and a canvas, each frame hashed by
 * pdq.mjs, as hashwarden samples a video (signals/vpdq.py): frame n is hashed when n % int(fps) == 0, and its
 * timestamp is n / fps.
 *
 * The browser does not tell a video's frame rate, so it is measured: the video plays muted for up to two seconds
 * and the presented frames' media times give the rate (requestVideoFrameCallback; `measureFrameRate`). Each sampled
 * frame n is then reached by seeking to the middle of its display interval, (n + 0.5) / fps, so the frame shown is
 * frame n whatever the rounding of times. A browser without requestVideoFrameCallback samples at whole seconds
 * (frame numbers then assume 30 frames a second).
 *
 * Bounded: at most MAX_FRAMES frames (an hour), each seek given SEEK_TIMEOUT_MS; the video is read from the
 * device's memory (a blob: URL), and each frame's pixels are dropped once hashed. The decoder's YUV -> RGB
 * conversion is the browser's, so frame hashes may differ from FFmpeg's by a few bits: agreement is measured with
 * upstream's rule (docs/architecture.md).
 */

import { pdqHash } from "./pdq.mjs";

export const SECONDS_PER_HASH = 1;
export const MAX_FRAMES = 3600;
export const MAX_FRAME_PIXELS = 8192 * 4320;
const SEEK_TIMEOUT_MS = 10_000;
const FALLBACK_FPS = 30;
// The frame rates a measured one is taken for, the nearest within 0.5 % (NTSC's are 24, 30, 60 x 1000 / 1001).
const COMMON_RATES = [24000 / 1001, 24, 25, 30000 / 1001, 30, 48, 50, 60000 / 1001, 60];

function once(target, event, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(reject, new Error(`timed out: ${what}`)), timeoutMs);
    const ok = (e) => done(resolve, e);
    const failed = () => done(reject, new Error(`this browser cannot play this video (${what})`));
    function done(settle, value) {
      clearTimeout(timer);
      target.removeEventListener(event, ok);
      target.removeEventListener("error", failed);
      settle(value);
    }
    target.addEventListener(event, ok);
    target.addEventListener("error", failed);
  });
}

/**
 * The frame rate, from the media times of the frames presented while the video plays muted for up to two seconds
 * (null if unknown). A container may round times to the millisecond (WebM): the rate is the frames counted over
 * the whole span (dropped frames are counted by the length of their gap), and then the nearest common rate.
 */
async function measureFrameRate(video) {
  if (typeof video.requestVideoFrameCallback !== "function") return null;
  const times = [];
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 5000);
    const collect = (_now, metadata) => {
      times.push(metadata.mediaTime);
      if (times.length >= 90 || metadata.mediaTime - times[0] >= 2) {
        clearTimeout(timer);
        resolve();
      } else {
        video.requestVideoFrameCallback(collect);
      }
    };
    video.requestVideoFrameCallback(collect);
    video.play().catch(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  video.pause();
  const gaps = times.slice(1).map((t, i) => t - times[i]).filter((gap) => gap > 1e-4);
  if (!gaps.length) return null;
  const shortest = Math.min(...gaps);
  const frames = gaps.reduce((sum, gap) => sum + Math.max(1, Math.round(gap / shortest)), 0);
  const fps = frames / gaps.reduce((a, b) => a + b, 0);
  const nearest = COMMON_RATES.reduce((best, rate) => (Math.abs(rate - fps) < Math.abs(best - fps) ? rate : best));
  return Math.abs(nearest - fps) / nearest < 0.005 ? nearest : Math.round(fps * 1000) / 1000;
}

/**
 * [{frame, quality, pdq, timestamp}] of a video file, one frame a second; `onProgress(fraction)` after each frame.
 * Throws when the browser cannot play the file or a frame cannot be reached in time.
 */
export async function hashVideo(file, onProgress = () => {}) {
  const url = URL.createObjectURL(file);
  const video = document.createElement("video");
  Object.assign(video, { muted: true, playsInline: true, preload: "auto" });
  try {
    video.src = url;
    await once(video, "loadeddata", SEEK_TIMEOUT_MS, "loading");
    const { videoWidth: width, videoHeight: height } = video;
    if (!width || !height) throw new Error("the video has no picture");
    if (width * height > MAX_FRAME_PIXELS) throw new RangeError(`frames of ${width}x${height} are too large`);
    const measured = await measureFrameRate(video);
    const fps = measured || FALLBACK_FPS;
    const every = Math.max(1, Math.trunc(SECONDS_PER_HASH * fps));
    const duration = Number.isFinite(video.duration) ? video.duration : MAX_FRAMES * SECONDS_PER_HASH;
    const frames = [];
    for (let n = 0; frames.length < MAX_FRAMES; n += every) {
      const time = measured ? (n + 0.5) / fps : n / fps + 0.001;
      if (time >= duration) break;
      const seeked = once(video, "seeked", SEEK_TIMEOUT_MS, `seeking to ${time.toFixed(1)} s`);
      video.currentTime = time;
      await seeked;
      const canvas = new OffscreenCanvas(width, height);
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(video, 0, 0, width, height);
      const { data } = context.getImageData(0, 0, width, height);
      const { hash, quality } = pdqHash(data, width, height, 4);
      frames.push({ frame: n, quality, pdq: hash, timestamp: Math.round((n / fps) * 1000) / 1000 });
      onProgress(Math.min(1, time / duration));
    }
    if (!frames.length) throw new Error("no frame could be read from the video");
    return frames;
  } finally {
    video.removeAttribute("src");
    video.load();
    URL.revokeObjectURL(url);
  }
}
