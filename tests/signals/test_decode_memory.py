"""Decode memory is bounded by bytes, not pixels alone: every image's peak is predicted from its header (mode,
format, shape), the prediction holds, and an image above MAX_DECODE_BYTES is refused before anything is allocated.

Peaks are measured in a child process (VmHWM, reset after a warm-up) so that neither this process's heap nor the
generation of the test files counts. All images are generated: gradients, stripes and a little noise.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from big_tiffs import tiff_bytes
from PIL import Image

import hashwarden
from hashwarden.config import MAX_DECODE_BYTES
from hashwarden.demo.synthetic import png_bytes_with_declared_size
from hashwarden.errors import ImageTooLarge
from hashwarden.signals import HashOptions, hash_stream
from hashwarden.signals.image import _TILE_TEMPORARY_BYTES, decode_pixels, predicted_peak_bytes
from hashwarden.signals.pdq import NativePdqEngine, ReferencePdqEngine
from tests.signals.test_hasher import traced_hash

MiB = 1 << 20
# What a child's RSS may exceed the prediction by: the allocator's own rounding and Python objects made on the way.
SLACK = 16 * MiB

CHILD = r"""
import io, json, resource, sys
path, warm_up, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
# A safety net for this machine: code that ignores the budget fails with MemoryError instead of swapping.
resource.setrlimit(resource.RLIMIT_AS, (budget + (3 << 30), budget + (3 << 30)))
from hashwarden.signals import HashOptions, hash_stream

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

hash_stream(io.BytesIO(open(warm_up, "rb").read()))  # imports the format's plugin and codec
data = open(path, "rb").read()
try:
    open("/proc/self/clear_refs", "w").write("5")  # VmHWM := VmRSS
except OSError:
    pass
before = status("VmRSS")
try:
    result = hash_stream(io.BytesIO(data), HashOptions(max_decode_bytes=budget))
    outcome = {"pdq": result.pdq, "quality": result.pdq_quality, "error": result.error}
except MemoryError:
    outcome = {"pdq": None, "quality": None, "error": "MemoryError escaped"}
outcome["growth"] = status("VmHWM") - before
print(json.dumps(outcome))
"""


def _measure(tmp_path: Path, data: bytes, warm_up: bytes, budget: int = MAX_DECODE_BYTES) -> dict:
    """Hash `data` in a fresh process; its outcome and the peak RSS growth (bytes) while hashing."""
    (tmp_path / "image").write_bytes(data)
    (tmp_path / "warm-up").write_bytes(warm_up)
    src = str(Path(hashwarden.__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "image"), str(tmp_path / "warm-up"), str(budget)],
        capture_output=True, text=True, env={"PYTHONPATH": src, "OPENBLAS_NUM_THREADS": "1"}, check=True,
    )
    return json.loads(done.stdout)


def _predicted(data: bytes) -> int:
    with Image.open(io.BytesIO(data)) as image:
        return predicted_peak_bytes(image, len(data))


def _saved(mode: str, fmt: str, size: tuple[int, int], **options: object) -> bytes:
    """A gradient with noisy rows, in `mode`, saved as `fmt`."""
    width, height = size
    rng = np.random.default_rng(5)
    grey = np.linspace(0, 255, width, dtype=np.float32)[None, :] + rng.normal(0, 8, (height, 1)).astype(np.float32)
    rgb = np.clip(np.repeat(grey[:, :, None], 3, axis=2) + np.array([0, 40, 80]), 0, 255).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    image = Image.fromarray(rgb[:, :, 0].astype(np.uint16) * 257) if mode == "I;16" else image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


SIZE = (3000, 2000)
CASES = {
    **{f"tiff-deflate-{mode}": (lambda mode=mode: tiff_bytes(mode, *SIZE)) for mode in ("F", "I", "I;16", "L", "RGB", "RGBA", "CMYK")},
    **{f"tiff-one-strip-{mode}": (lambda mode=mode: tiff_bytes(mode, *SIZE, rows_per_strip=SIZE[1], noise=False))
       for mode in ("F", "I;16", "RGBA", "RGBA;16")},
    "tiff-lzw-F": lambda: _saved("F", "TIFF", SIZE, compression="tiff_lzw"),
    "tiff-LAB": lambda: _saved("LAB", "TIFF", SIZE),
    "tiff-YCbCr": lambda: _saved("YCbCr", "TIFF", SIZE),
    "png-1": lambda: _saved("1", "PNG", SIZE, compress_level=1),
    "png-P": lambda: _saved("P", "PNG", SIZE, compress_level=1),
    "png-LA": lambda: _saved("LA", "PNG", SIZE, compress_level=1),
    "png-I;16": lambda: _saved("I;16", "PNG", SIZE, compress_level=1),
    "jpeg-RGB": lambda: _saved("RGB", "JPEG", SIZE),
    "jpeg-progressive-CMYK": lambda: _saved("CMYK", "JPEG", SIZE, progressive=True),
    "webp-RGBA": lambda: _saved("RGBA", "WEBP", SIZE, quality=50),
    "gif-P": lambda: _saved("P", "GIF", SIZE),
    "png-tall-L": lambda: _saved("L", "PNG", (6, 300_000), compress_level=1),  # the engine's per-row buffers
    "png-wide-RGB": lambda: _saved("RGB", "PNG", (300_000, 6), compress_level=1),  # and per-column ones
}


@pytest.mark.heavy
@pytest.mark.parametrize("case", sorted(CASES))
def test_peak_memory_stays_within_the_prediction(case: str, tmp_path: Path) -> None:
    """The prediction the budget is checked against is an upper bound of what decoding and hashing hold."""
    data = CASES[case]()
    predicted = _predicted(data)
    outcome = _measure(tmp_path, data, data if len(data) < 64 * 1024 else _small_like(data))
    assert outcome["error"] is None and outcome["pdq"], outcome
    # hash_stream reads the file in chunks and joins them: one more copy of the file than the prediction counts
    assert outcome["growth"] <= predicted + len(data) + SLACK, (outcome["growth"] / MiB, predicted / MiB)
    reference = ReferencePdqEngine().hash_pixels(decode_pixels(data, max_bytes=1 << 40))
    assert (outcome["pdq"], outcome["quality"]) == (reference.hash, reference.quality)


def _small_like(data: bytes) -> bytes:
    """A small image of the same format (and mode) as `data`, to warm the child's codec up."""
    with Image.open(io.BytesIO(data)) as image:
        fmt, mode = image.format, image.mode
    if fmt == "TIFF" and mode in ("F", "I", "I;16"):
        return tiff_bytes(mode, 64, 64)
    buffer = io.BytesIO()
    Image.new(mode, (64, 64)).save(buffer, fmt)
    return buffer.getvalue()


# 14,000^2 images of a few hundred KB: the cases. Each is hashed within the documented worst case, or
# refused from its header (a 16-bit RGBA TIFF in one strip makes libtiff decode the whole image, at 8 bytes a
# pixel, beside Pillow's 8-bit RGBA: ~2.35 GB).
HOSTILE = {
    "F": (1, True), "I": (1, True), "I;16": (1, True), "CMYK": (1, True), "RGBA": (1, True), "RGBA;16": (14_000, False),
}


@pytest.mark.heavy
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_huge_hostile_tiffs_stay_within_the_worst_case_per_worker(name: str, tmp_path: Path) -> None:
    rows_per_strip, hashed = HOSTILE[name]
    data = tiff_bytes(name, 14_000, 14_000, rows_per_strip=rows_per_strip, noise=rows_per_strip == 1)
    assert len(data) < 16 * MiB  # 1.2 GB to 2.4 GB of pixels
    outcome = _measure(tmp_path, data, tiff_bytes(name, 64, 64))
    assert outcome["growth"] <= MAX_DECODE_BYTES, outcome["growth"] / MiB
    if hashed:
        assert outcome["error"] is None and outcome["quality"] > 0, outcome
    else:
        assert outcome["pdq"] is None and outcome["growth"] < 64 * MiB
        assert "TIFF RGBA 14000x14000 would need about 2," in outcome["error"]
        assert f"above the limit of {MAX_DECODE_BYTES:,} bytes" in outcome["error"]


def test_extreme_aspect_ratio_is_refused_from_the_header() -> None:
    """8 x 20,000,000 is within the pixel limit, but the engine keeps 256 bytes per row (the 64 sampled columns)
    and its column window: ~5 GB."""
    result, peak = traced_hash(png_bytes_with_declared_size(8, 20_000_000))
    assert result.pdq is None and result.sha256
    assert "PNG L 8x20000000 would need about 5,2" in result.error and f"limit of {MAX_DECODE_BYTES:,}" in result.error
    assert peak < 16 * MiB


def test_an_image_at_the_budget_is_hashed_and_one_byte_over_is_refused() -> None:
    data = tiff_bytes("F", 600, 500)
    predicted = _predicted(data)
    pixels = decode_pixels(data, max_bytes=predicted)
    native, reference = NativePdqEngine().hash_pixels(pixels), ReferencePdqEngine().hash_pixels(pixels)
    assert native == reference and native.quality > 0
    assert hash_stream(io.BytesIO(data), HashOptions(max_decode_bytes=predicted)).pdq == native.hash
    with pytest.raises(ImageTooLarge, match=rf"TIFF F 600x500 would need about {predicted:,} bytes .* {predicted - 1:,}"):
        decode_pixels(data, max_bytes=predicted - 1)


def _old_float_to_8bit(values: np.ndarray) -> np.ndarray:
    """The whole-image conversion the tiles replace (the ImageMagick-like rule), as the reference."""
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
        values = values * 255.0
    return np.floor(np.clip(np.nan_to_num(values, nan=0.0), 0, 255) + 0.5).astype(np.uint8)


def _old_wide_to_8bit(values: np.ndarray) -> np.ndarray:
    wide = np.clip(values.astype(np.int64), 0, None)
    if wide.size and wide.max() > 0xFFFF:
        return np.clip((wide + (1 << 23)) >> 24, 0, 255).astype(np.uint8)
    quantum = wide + 128
    return ((quantum - (quantum >> 8)) >> 8).astype(np.uint8)


def _float_cases(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    unit = rng.random(shape, dtype=np.float32)
    unit.flat[[5, 77, 1000]] = [np.nan, np.inf, -np.inf]  # not finite: ignored by the 0..1 test
    late_outlier = unit.copy()
    late_outlier.flat[-1] = 1.5  # in the last tile only: the whole image is then not scaled
    wide = (rng.normal(100, 150, shape) * 2).astype(np.float32)
    wide.flat[:8] = [-1.0, 0.5, 1.5, 254.5, 255.49, 300.0, np.nan, 2.5]
    return {"unit": unit, "late-outlier": late_outlier, "wide": wide}


def _int_cases(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(4)
    sixteen = rng.integers(-1000, 0x10000, shape, dtype=np.int32)
    late_32 = sixteen.copy()
    late_32.flat[-1] = 0x10000  # one sample above 16 bits, in the last tile: the top byte is kept everywhere
    return {"sixteen": sixteen, "late-32-bit": late_32, "full": rng.integers(-(2**31), 2**31 - 1, shape, dtype=np.int32)}


@pytest.mark.parametrize("shape", [(1500, 1200), (2, 300_000)], ids=["bands", "split-rows"])
def test_tiled_scaling_is_bit_identical_and_never_whole_image(shape: tuple[int, int]) -> None:
    """The tiles give the whole-image rule's bytes exactly (its global decisions included), and NumPy never holds
    more than the 8-bit result and one tile's temporaries (the whole-image rule held ~20 bytes a pixel)."""
    images: list[tuple[str, Image.Image, np.ndarray]] = []
    for name, values in _float_cases(shape).items():
        images.append((f"F {name}", Image.fromarray(values), _old_float_to_8bit(values)))
    for name, values in _int_cases(shape).items():
        images.append((f"I {name}", Image.fromarray(values), _old_wide_to_8bit(values)))
    sixteen = np.random.default_rng(6).integers(0, 0x10000, shape, dtype=np.uint16)
    images.append(("I;16", Image.fromarray(sixteen), _old_wide_to_8bit(sixteen)))
    for name, image, expected in images:
        buffer = io.BytesIO()
        image.save(buffer, "TIFF")
        data = buffer.getvalue()
        tracemalloc.start()
        try:
            pixels = decode_pixels(data)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert np.array_equal(pixels.source.reshape(shape), expected), name
        assert peak <= expected.size + _TILE_TEMPORARY_BYTES + MiB, (name, peak / MiB)
