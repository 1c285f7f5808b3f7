"""hashwarden's own PDQ engine against the reference (`pdqhash`) on a generated corpus of 500+ benign images.

Every Pillow mode, sizes from 1x1 up (8000x6000 in the heavy test), odd and prime sizes, extreme aspect ratios,
flat images (quality 0), tiny images and 16-bit PNGs. Both engines get the same decoded pixels, so this checks the
engine bit for bit: hash, quality and all 8 dihedral forms must be identical.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from hashwarden.signals import HashOptions, hash_stream
from hashwarden.signals.image import Pixels, decode_pixels
from hashwarden.signals.pdq import NativePdqEngine, ReferencePdqEngine

NATIVE, REFERENCE = NativePdqEngine(), ReferencePdqEngine()
SIZES = [
    (1, 1), (4, 4), (5, 5), (2, 3), (7, 11), (13, 17), (31, 37), (63, 63), (64, 64), (65, 65), (127, 131),
    (1, 4000), (4000, 1), (5, 4000), (4000, 5), (256, 256), (499, 503), (997, 1009), (1280, 720), (2003, 3001),
]
# Where each mode can be saved without loss of its mode.
MODE_FORMAT = {
    "1": "PNG", "L": "PNG", "LA": "PNG", "P": "PNG", "PA": "WEBP", "RGB": "PNG", "RGBA": "PNG", "RGBX": "TIFF",
    "CMYK": "TIFF", "YCbCr": "JPEG", "LAB": "TIFF", "I": "TIFF", "I;16": "PNG", "F": "TIFF",
}
# The corpus, counted by hand (not from SIZES, so a shrunk SIZES or a wider skip fails): 20 sizes x 2 kinds per
# mode, YCbCr without its 3 sizes under 2 pixels a side; with the 240 of the flat/tiny test, 554 + 240 = 794 images
# decoded and compared (the figure docs/architecture.md quotes). Each test asserts the images it really compared.
IMAGES_PER_MODE = {
    "1": 40, "L": 40, "LA": 40, "P": 40, "PA": 40, "RGB": 40, "RGBA": 40, "RGBX": 40, "CMYK": 40, "YCbCr": 34,
    "LAB": 40, "I": 40, "I;16": 40, "F": 40,
}
FLAT_TINY_IMAGES = 240


def content(seed: int, size: tuple[int, int], kind: str) -> np.ndarray:
    """Benign synthetic RGB pixels: a gradient with shapes and noise, pure noise, or a flat colour."""
    width, height = size
    rng = np.random.default_rng(seed)
    if kind == "flat":
        return np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (height, width, 3)).copy()
    if kind == "noise":
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    fx, fy = rng.uniform(0.5, 6, 2)
    base = 127 + 60 * np.sin(x / max(width, 1) * fx * 6.3) * np.cos(y / max(height, 1) * fy * 6.3)
    cx, cy, radius = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.1, 0.5) * max(width, height)
    disc = ((x - cx) ** 2 + (y - cy) ** 2 < radius**2) * rng.uniform(-80, 80)
    channels = [base + disc * rng.uniform(0.5, 1.5) + rng.normal(0, 8, base.shape) for _ in range(3)]
    return np.clip(np.stack(channels, axis=2), 0, 255).astype(np.uint8)


def encoded(rgb: np.ndarray, mode: str, seed: int) -> bytes:
    image = Image.fromarray(rgb, "RGB")
    if mode == "I;16":
        grey = rgb.astype(np.uint16).sum(axis=2) * 85 + np.random.default_rng(seed).integers(0, 64, rgb.shape[:2])
        image = Image.fromarray(grey.astype(np.uint16))
    elif mode == "I":
        image = Image.fromarray(rgb[:, :, 0].astype(np.int32) * 257, "I")
    elif mode == "F":
        image = Image.fromarray(rgb[:, :, 1].astype(np.float32) / 255.0, "F")
    elif mode == "PA":
        image = image.convert("P").convert("PA")
    elif mode != "RGB":
        image = image.convert(mode)
    buffer = io.BytesIO()
    fmt = MODE_FORMAT[mode]
    image.save(buffer, fmt, **({"lossless": True, "method": 0} if fmt == "WEBP" else {}))
    return buffer.getvalue()


def assert_same(pixels: Pixels, label: str) -> None:
    ours = NATIVE.hash_pixels(pixels, dihedral=True)
    reference = REFERENCE.hash_pixels(pixels, dihedral=True)
    assert (ours.dihedral, ours.quality) == (reference.dihedral, reference.quality), label


@pytest.mark.parametrize("mode", sorted(IMAGES_PER_MODE))
def test_engine_identical_for_every_mode_and_size(mode: str) -> None:
    checked = 0
    for index, size in enumerate(SIZES):
        if mode == "YCbCr" and min(size) < 2:
            continue  # Pillow's JPEG encoder wants at least 2 pixels a side for subsampling
        for kind in ("scene", "noise"):
            seed = index * 7 + len(mode)
            data = encoded(content(seed, size, kind), mode, seed)
            pixels = decode_pixels(data)
            assert (pixels.cols, pixels.rows) == size
            assert_same(pixels, f"{mode} {size} {kind}")
            checked += 1
    assert checked == IMAGES_PER_MODE[mode], f"{mode}: {checked} images decoded and compared"


def test_engine_identical_on_flat_tiny_and_prime_sizes() -> None:
    checked = 0
    for seed in range(120):
        rng = np.random.default_rng(seed)
        size = (int(rng.integers(1, 400)), int(rng.integers(1, 400)))
        kind = ("flat", "scene", "noise")[seed % 3]
        rgb = content(seed, size, kind)
        for pixels in (Pixels.from_rgb(rgb), decode_pixels(encoded(rgb, "RGB", seed))):
            assert_same(pixels, f"{size} {kind}")
            checked += 1
        if kind == "flat" and min(size) >= 5:
            assert NATIVE.hash_pixels(Pixels.from_rgb(rgb)).quality == 0
    assert checked == FLAT_TINY_IMAGES


def test_engine_identical_at_every_row_residue_and_window() -> None:
    """The column pass runs 4 output rows at a time into blocks of 16 (`column_rows`, `finish_block` in _pdqcore.c):
    every row count modulo 16, for odd and even windows (2, 11, 12, 47 rows) and a narrow and a wide image, so each
    phase of the window (growing, full, shrinking) starts and ends at every place in a group and in a block."""
    checked = 0
    for first_rows in (129, 1281, 1409, 5889):  # windows ceil(rows / 128) = 2, 11, 12, 47
        for rows in range(first_rows, first_rows + 16):
            cols = 37 if rows % 2 else 131
            rgb = content(rows, (cols, rows), "scene")
            assert_same(Pixels.from_rgb(rgb), f"{rows}x{cols}")
            assert_same(Pixels.from_rgb(np.ascontiguousarray(rgb.transpose(1, 0, 2))), f"{cols}x{rows}")
            checked += 2
    assert checked == 128


def corpus_size() -> int:
    """Images the engine is compared on (docs/architecture.md quotes this number): what the tests above count."""
    return sum(IMAGES_PER_MODE.values()) + FLAT_TINY_IMAGES


def test_zero_hash_below_five_pixels_a_side() -> None:
    for size in ((4, 100), (100, 4), (1, 1)):
        result = NATIVE.hash_pixels(Pixels.from_rgb(content(1, size, "noise")), dihedral=True)
        assert result.quality == 0 and set(result.dihedral) == {"0" * 64}


@pytest.mark.heavy
@pytest.mark.parametrize("size", [(8000, 6000), (2999, 4001)])
def test_engine_identical_on_large_images(size: tuple[int, int]) -> None:
    rgb = content(sum(size), size, "scene")
    assert_same(Pixels.from_rgb(rgb), str(size))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "PPM")  # quick to write; decoded through Pillow's single-block path
    pixels = decode_pixels(buffer.getvalue())
    assert not isinstance(pixels.source, np.ndarray)  # lent by Pillow, not copied
    assert_same(pixels, f"{size} via Pillow")


def test_engine_rejects_inconsistent_buffers() -> None:
    from hashwarden.signals import _pdqcore

    with pytest.raises(ValueError, match="expected"):
        _pdqcore.hash_pixels(b"\0" * 10, 2, 2, 3, 1)
    with pytest.raises(ValueError):
        _pdqcore.hash_pixels(b"\0" * 12, 2, 2, 2, 1)
    with pytest.raises(ValueError):
        _pdqcore.hash_pixels(b"\0" * 12, 2, 2, 3, 9)


def _bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def test_bad_and_unusual_inputs() -> None:
    scene = Image.fromarray(content(2, (200, 150), "scene"))
    other = Image.fromarray(content(3, (200, 150), "scene"))
    # animated GIF and WebP, multi-page TIFF: first frame hashed, and said so
    for fmt, extra in (("GIF", {}), ("WEBP", {"lossless": True}), ("TIFF", {})):
        data = _bytes(scene, fmt, save_all=True, append_images=[other], **extra)
        result = hash_stream(io.BytesIO(data))
        first = hash_stream(io.BytesIO(_bytes(scene, fmt, **extra)))
        assert result.pdq == first.pdq and "2 frames or pages: the first is hashed" in result.notes, fmt
    # palette with transparency: colours hashed, transparency ignored
    palette = scene.convert("P")
    palette.info["transparency"] = 0
    data = _bytes(palette, "PNG", transparency=0)
    assert hash_stream(io.BytesIO(data)).pdq == hash_stream(io.BytesIO(_bytes(palette.convert("RGB"), "PNG"))).pdq
    # CMYK JPEG with an embedded ICC profile: decoded like any CMYK JPEG (the profile is not applied)
    cmyk = scene.convert("CMYK")
    with_icc = hash_stream(io.BytesIO(_bytes(cmyk, "JPEG", icc_profile=b"\0" * 128 + b"acsp" + b"\0" * 124)))
    without = hash_stream(io.BytesIO(_bytes(cmyk, "JPEG")))
    assert with_icc.error is None and with_icc.pdq == without.pdq
    # MPO (a JPEG with a second image): the first image is hashed
    mpo = _bytes(scene, "MPO", save_all=True, append_images=[other])
    result = hash_stream(io.BytesIO(mpo))
    assert result.media == "image" and result.error is None and "2 frames" in result.notes[0]
    # an image declaring zero width: a clear error, digests kept
    png = bytearray(_bytes(scene, "PNG"))
    png[16:20] = (0).to_bytes(4, "big")
    broken = hash_stream(io.BytesIO(bytes(png)))
    assert broken.pdq is None and broken.error and broken.sha256


def test_dihedral_request_is_one_computation() -> None:
    rgb = content(9, (300, 200), "scene")
    plain = hash_stream(io.BytesIO(encoded(rgb, "RGB", 9)), HashOptions())
    both = hash_stream(io.BytesIO(encoded(rgb, "RGB", 9)), HashOptions(dihedral=True))
    assert plain.pdq == both.pdq == both.pdq_dihedral[0] and plain.pdq_quality == both.pdq_quality


@pytest.mark.parametrize("mode", ["P", "PA", "LA", "1"])
def test_palette_grey_alpha_and_bilevel_are_read_as_stored(mode: str) -> None:
    """Issue 21: these modes reach the engine as Pillow stores them (no converted RGB copy), a palette image through
    its palette's colours, and hash as their RGB conversion does, also with indices the palette does not define."""
    from hashwarden.signals.image import _normalise, _to_pixels

    rng = np.random.default_rng(21)
    if mode in ("P", "PA"):
        image = Image.fromarray(rng.integers(0, 256, (300, 257), dtype=np.uint8), "L").convert("P")
        image.putpalette(list(rng.integers(0, 256, 3 * 40)))  # 40 colours; most indices undefined
        image = image.convert("PA") if mode == "PA" else image
    else:
        image = Image.fromarray(rng.integers(0, 256, (300, 257, 3), dtype=np.uint8), "RGB").convert(mode)
    expected = np.asarray(image.convert("RGB"))
    pixels = _to_pixels(_normalise(image), 1)  # PA has no file format Pillow writes; the others also from a file
    assert pixels.owner is image and (pixels.palette is not None) == (mode in ("P", "PA"))
    assert np.array_equal(pixels.rgb(), expected)
    assert NATIVE.hash_pixels(pixels, dihedral=True) == REFERENCE.hash_pixels(pixels, dihedral=True)
    if mode != "PA":
        data = io.BytesIO()
        image.save(data, "PNG")
        decoded = decode_pixels(data.getvalue())
        assert decoded.owner.mode == mode
        assert NATIVE.hash_pixels(decoded, dihedral=True) == REFERENCE.hash_pixels(pixels, dihedral=True)
