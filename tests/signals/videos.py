"""Benign synthetic videos made at test time with PyAV (moving gradients and blocks, no real footage)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def scene_frame(seed: int, index: int, width: int, height: int) -> np.ndarray:
    """Frame `index` of a deterministic moving scene: a drifting gradient with a dozen coloured blocks gliding
    over it (structure at the scales PDQ looks at, like real footage), different for each `seed`."""
    rng = np.random.default_rng(seed)
    fx, fy, phase = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0), rng.uniform(0, 6.28)
    blocks = [(rng.uniform(0.1, 0.35), rng.uniform(0.1, 0.35), rng.uniform(0, 1), rng.uniform(0, 1),
               rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02), rng.integers(0, 256, size=3)) for _ in range(12)]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = index / 30.0
    base = 127 + 50 * np.sin(fx * x / width * 6.28 + t + phase) + 50 * np.cos(fy * y / height * 6.28 - 0.7 * t)
    frame = np.stack([base, 0.8 * base + 30, 255 - base], axis=-1)
    for w, h, cx, cy, vx, vy, colour in blocks:
        left = int(((cx + vx * index) % 1.0) * width * (1 - w))
        top = int(((cy + vy * index) % 1.0) * height * (1 - h))
        frame[top:top + int(h * height), left:left + int(w * width)] = colour
    return np.clip(frame, 0, 255).astype(np.uint8)


def make_video(path: Path, *, seed: int = 0, frames: int = 90, width: int = 320, height: int = 240, fps: int = 30,
               codec: str = "libx264", start: int = 0, crf: int = 23, scale: float = 1.0) -> Path:
    """Write frames `start`..`start + frames - 1` of scene `seed` (optionally scaled) as an MP4 (or other
    container by suffix)."""
    out_w, out_h = int(width * scale) // 2 * 2, int(height * scale) // 2 * 2
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = out_w, out_h, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": str(crf), "preset": "veryfast"}
        for index in range(start, start + frames):
            image = av.VideoFrame.from_ndarray(scene_frame(seed, index, width, height), format="rgb24")
            if scale != 1.0:
                image = image.reformat(width=out_w, height=out_h)
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
