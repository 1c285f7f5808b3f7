"""The self-hash page's speed: PDQ of a 12 MP JPEG (decode + hash) in headless Chromium, against hashwarden's
native engine on the same file, on one core.

One process pinned to one core (`--cpu`; Chromium, started from it, inherits the pin), the same file for both, the
median of `--rounds` rounds each after one warm-up:
  file      a synthetic photo-like scene of `--megapixels` (default 12: 4000 x 3000), JPEG quality 90, 4:2:0
  native    what `hashwarden hash` does for PDQ: Pillow decodes (signals.image.decode_pixels), the C engine hashes
  browser   what the page does (web/selfhash/hashing.mjs): createImageBitmap + canvas getImageData, then pdq.mjs;
            timed inside the page with performance.now(); also the whole page job (MD5 + SHA-256 + decode + PDQ)
Both hashes are printed and compared (the page's must equal the engine's from the same file). Printed last:
`ratio browser speed / native: R` (native time / browser time; the issue's target is >= 0.3).

The machine is shared with other jobs: compare figures of one run, side by side, not across runs.
"""

from __future__ import annotations

import argparse
import base64
import functools
import io
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT / "src"))
sys.path.insert(0, str(PROJECT))
from hashwarden.signals.image import decode_pixels  # noqa: E402
from hashwarden.signals.pdq import NativePdqEngine  # noqa: E402

WEB = PROJECT / "web" / "selfhash"
CHROMIUM = "/usr/bin/chromium"
BROWSER_JOB = """async ([data, rounds]) => {
  const {decodeImage, hashFile} = await import('./hashing.mjs');
  const {pdqHash} = await import('./pdq.mjs');
  const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
  const blob = new Blob([bytes], {type: 'image/jpeg'});
  const out = {decode: [], hash: [], both: [], page: [], pdq: null};
  for (let round = 0; round <= rounds; round++) {  // round 0 warms up
    const t0 = performance.now();
    const {data: pixels, width, height} = await decodeImage(blob, {opaque: true});
    const t1 = performance.now();
    const result = pdqHash(pixels, width, height, 4);
    const t2 = performance.now();
    await hashFile(new File([bytes], 'photo.jpg', {type: 'image/jpeg'}));
    const t3 = performance.now();
    if (round > 0) {
      out.decode.push(t1 - t0); out.hash.push(t2 - t1); out.both.push(t2 - t0); out.page.push(t3 - t2);
    }
    out.pdq = result.hash;
  }
  return out;
}"""


class _Quiet(SimpleHTTPRequestHandler):
    extensions_map = {".mjs": "text/javascript", ".html": "text/html", ".css": "text/css"}

    def log_message(self, *args: object) -> None:
        pass


def photo(megapixels: float) -> bytes:
    """A photo-like JPEG of about `megapixels` (4:3): smooth gradients, shapes and sensor-like noise."""
    import numpy as np
    from PIL import Image

    from tests.signals.test_pdq_engine import content

    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    rgb = content(12, (width, height), "scene")
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(rgb)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def native(data: bytes, rounds: int) -> tuple[list[float], list[float], str]:
    """(decode seconds, hash seconds) per round and the hash: Pillow decoding, the C engine (one round to warm up)."""
    engine = NativePdqEngine()
    decode, hashing, found = [], [], ""
    for round_ in range(rounds + 1):
        t0 = time.perf_counter()
        pixels = decode_pixels(data)
        t1 = time.perf_counter()
        found = engine.hash_pixels(pixels).hash
        t2 = time.perf_counter()
        if round_:
            decode.append(t1 - t0)
            hashing.append(t2 - t1)
    return decode, hashing, found


def browser(data: bytes, rounds: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(WEB)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                page = chromium.new_page()
                page.goto(f"http://127.0.0.1:{server.server_address[1]}/index.html")
                result = page.evaluate(BROWSER_JOB, [base64.b64encode(data).decode(), rounds])
                result["version"] = chromium.version
                return result
            finally:
                chromium.close()
    finally:
        server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cpu", type=int, default=0, help="The one core everything runs on.")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})  # Chromium's processes inherit it
    data = photo(args.megapixels)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {platform.machine()}, pinned to core {args.cpu} of {os.cpu_count()}; Python "
          f"{platform.python_version()}; node {node}")
    pixels = decode_pixels(data)
    print(f"file: {pixels.cols}x{pixels.rows} JPEG ({pixels.cols * pixels.rows / 1e6:.1f} MP), {len(data):,} bytes; "
          f"median of {args.rounds} rounds")
    decode, hashing, expected = native(data, args.rounds)
    both = [a + b for a, b in zip(decode, hashing)]
    found = browser(data, args.rounds)
    print(f"chromium {found['version']}")
    ms = statistics.median
    print(f"native   decode {ms(decode) * 1e3:8.1f} ms  hash {ms(hashing) * 1e3:7.1f} ms  "
          f"decode+hash {ms(both) * 1e3:8.1f} ms")
    print(f"browser  decode {ms(found['decode']):8.1f} ms  hash {ms(found['hash']):7.1f} ms  "
          f"decode+hash {ms(found['both']):8.1f} ms  whole page job (MD5, SHA-256, PDQ) {ms(found['page']):8.1f} ms")
    print(f"hashes   native {expected}  browser {found['pdq']}  {'equal' if expected == found['pdq'] else 'DIFFER'}")
    print(f"ratio browser speed / native: {ms(both) * 1e3 / ms(found['both']):.2f}")


if __name__ == "__main__":
    main()
