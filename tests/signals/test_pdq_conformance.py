"""PDQ bit-identity with ThreatExchange's library flavour, dihedral order, and mode normalisation."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from hashwarden.signals import DIHEDRAL_NAMES, PDQ, HashOptions, hash_stream
from hashwarden.signals.image import Pixels, decode_rgb
from hashwarden.signals.pdq import ReferencePdqEngine, bits_to_hex


def _rows(conformance: Path, name: str) -> list[list[str]]:
    with open(conformance / "threatexchange" / "expected" / name, newline="") as fp:
        return list(csv.reader(fp))


def test_library_flavour_all_images_bit_identical(conformance: Path) -> None:
    rows = _rows(conformance, "pdq-library-flavour.csv")
    assert len(rows) == 49
    wrong = []
    for expected_hash, expected_quality, relative in rows:
        with open(conformance / "threatexchange" / relative, "rb") as fp:
            result = hash_stream(fp, HashOptions(dihedral=True))
        if (result.pdq, result.pdq_quality) != (expected_hash, int(expected_quality)):
            wrong.append((relative, result.pdq, result.pdq_quality, result.error))
        assert result.pdq_dihedral is not None and result.pdq_dihedral[0] == result.pdq
    assert wrong == [], f"{len(wrong)}/49 differ"


def test_dihedral_order_matches_reference_cli(conformance: Path) -> None:
    """The CLI pre-resizes images above 512 px, so its hashes are the library flavour only at <= 512 px."""
    checked = 0
    for row in _rows(conformance, "pdq-cli-dihedral.csv"):
        hashes, relative = row[:8], row[9]
        path = conformance / "threatexchange" / relative
        with Image.open(path) as image:
            if max(image.size) > 512:
                continue
        with open(path, "rb") as fp:
            result = hash_stream(fp, HashOptions(dihedral=True))
        assert list(result.pdq_dihedral) == hashes, relative
        checked += 1
    assert checked >= 10
    assert DIHEDRAL_NAMES == ("orig", "rot90", "rot180", "rot270", "flipx", "flipy", "flipplus1", "flipminus1")


def test_dihedral_forms_recognise_transformed_files(conformance: Path) -> None:
    """bridge-2..8 are the 8 transformed files: one of the original's dihedral forms is close to each."""
    folder = conformance / "threatexchange" / "pdq" / "data" / "reg-test-input" / "dih"
    files = sorted(folder.glob("*.jpg"))
    with open(files[0], "rb") as fp:
        original = hash_stream(fp, HashOptions(dihedral=True))
    for index, path in enumerate(files):
        with open(path, "rb") as fp:
            transformed = hash_stream(fp).pdq
        distances = [PDQ.distance(form, transformed) for form in original.pdq_dihedral]
        assert distances[index] <= 31, (path.name, distances)
        assert min(distances) == distances[index]


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    ramp[:, 128:] //= 3  # some structure so PDQ quality is not zero
    data = _encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    rgb = decode_rgb(data)
    expected = ((ramp.astype(np.int64) + 128 - ((ramp.astype(np.int64) + 128) >> 8)) >> 8).astype(np.uint8)
    assert np.array_equal(rgb[:, :, 0], expected)
    assert (rgb == 255).mean() < 0.05 and rgb.max() > 100  # a clipping decoder makes nearly all of it 255
    reference = bits_to_hex(pdqhash.compute(np.ascontiguousarray(np.repeat(expected[:, :, None], 3, axis=2)))[0])
    assert hash_stream(io.BytesIO(data)).pdq == reference


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I", "F"])
def test_every_mode_normalises_like_convert_rgb_of_its_colours(mode: str) -> None:
    rng = np.random.default_rng(7)
    base = Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8), "RGB")
    image = base.convert(mode)
    rgb = decode_rgb(_encode(image, "TIFF"))
    if mode == "1":
        assert set(np.unique(rgb)) <= {0, 255}
    elif mode in ("I", "F"):
        grey = np.asarray(image, dtype=np.float64)
        assert rgb.shape == (48, 40, 3)
        assert np.abs(rgb[:, :, 0].astype(np.float64) - np.clip(grey if mode == "F" else grey / 257, 0, 255)).max() <= 1
    else:
        assert np.array_equal(rgb, np.asarray(image.convert("RGB")))


def test_alpha_is_dropped_not_composited() -> None:
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (32, 32, 4), dtype=np.uint8)
    rgba[:, :, 3] = 0  # fully transparent: compositing on white or black would change every pixel
    rgb = decode_rgb(_encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert np.array_equal(rgb, rgba[:, :, :3])


def test_exif_orientation_is_not_applied(conformance: Path) -> None:
    path = conformance / "threatexchange" / "pdq" / "data" / "reg-test-input" / "exif-rotn" / "exif-rotn-6.jpg"
    rgb = decode_rgb(path.read_bytes())
    with Image.open(path) as image:
        assert image.getexif().get(0x0112) == 6
        assert rgb.shape[:2] == (image.size[1], image.size[0])  # stored grid, not rotated


def test_engine_interface_matches_pdqhash_directly() -> None:
    rng = np.random.default_rng(11)
    pixels = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    vector, quality = pdqhash.compute(pixels)
    result = ReferencePdqEngine().hash_pixels(Pixels.from_rgb(pixels))
    assert result.hash == bits_to_hex(vector) and result.quality == quality
    assert PDQ.validate(result.hash.upper()) == result.hash
