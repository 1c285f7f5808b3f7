"""The synthetic demo material: scenes PDQ can tell apart, variants PDQ still recognises, and broken files.

All images here are procedural (gradients, wedges, shapes, noise) and made by hashwarden.demo.synthetic.
"""

from __future__ import annotations

import functools
import io
import itertools
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, UnidentifiedImageError

from hashwarden.demo.synthetic import (
    VARIANTS,
    corrupt_files,
    png_bytes_with_declared_size,
    save,
    scene,
    variant,
)

MATCH = 31  # PDQ match distance the scanner uses
MIN_QUALITY = 50
SCENE_SEEDS = range(20)
VARIANT_SEEDS = range(10)

# Development targets, kept as regression guards: well inside MATCH for variants, far outside it for strangers.
VARIANT_TARGET = 24
UNRELATED_TARGET = 64


@functools.cache
def _scene(seed: int) -> Image.Image:
    return scene(seed)


def _rgb(image: Image.Image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB")))


@functools.cache
def _plain(seed: int) -> tuple[np.ndarray, int]:
    vector, quality = pdqhash.compute(_rgb(_scene(seed)))
    return vector, int(quality)


@functools.cache
def _dihedral(seed: int) -> list[np.ndarray]:
    vectors, _ = pdqhash.compute_dihedral(_rgb(_scene(seed)))
    return list(vectors)


def _distance(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.count_nonzero(np.asarray(a) != np.asarray(b)))


def _dihedral_distance(forms: list[np.ndarray], target: np.ndarray) -> int:
    """The scanner's rule: the closest of an image's 8 dihedral hashes to a known (plain) hash."""
    return min(_distance(form, target) for form in forms)


# ----------------------------------------------------------------------------------------------------- scenes


def test_scene_is_deterministic_rgb_of_the_requested_size() -> None:
    first = scene(7)
    assert first.mode == "RGB" and first.size == (640, 480)
    assert scene(7).tobytes() == first.tobytes()
    assert scene(8).tobytes() != first.tobytes()
    small = scene(7, size=(200, 120))
    assert small.size == (200, 120) and small.mode == "RGB"
    assert scene(7, size=(200, 120)).tobytes() == small.tobytes()


def test_scene_rejects_empty_size() -> None:
    with pytest.raises(ValueError):
        scene(0, size=(0, 10))


def test_scene_is_not_flat() -> None:
    pixels = np.asarray(_scene(0), dtype=np.float64)
    assert pixels.std() > 20  # real structure, not a near-uniform field
    packed = pixels.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32)
    assert len(np.unique(packed)) > 1000


@pytest.mark.parametrize("seed", SCENE_SEEDS)
def test_scene_pdq_quality_is_high_enough(seed: int) -> None:
    _, quality = _plain(seed)
    assert quality >= MIN_QUALITY


def test_unrelated_scenes_never_match_in_any_dihedral_form() -> None:
    distances = {
        (a, b): _dihedral_distance(_dihedral(a), _plain(b)[0]) for a, b in itertools.permutations(SCENE_SEEDS, 2)
    }
    worst = min(distances, key=distances.__getitem__)
    print(f"min unrelated distance {distances[worst]} (seeds {worst}); mean {np.mean(list(distances.values())):.1f}")
    assert distances[worst] > MATCH
    assert distances[worst] >= UNRELATED_TARGET


# --------------------------------------------------------------------------------------------------- variants


@pytest.mark.parametrize("kind", VARIANTS)
def test_every_variant_still_matches_its_original(kind: str) -> None:
    distances = []
    for seed in VARIANT_SEEDS:
        altered = variant(_scene(seed), kind)
        forms, quality = pdqhash.compute_dihedral(_rgb(altered))
        assert quality >= MIN_QUALITY, (seed, quality)
        distances.append(_dihedral_distance(list(forms), _plain(seed)[0]))
    print(f"{kind}: max distance {max(distances)}, per seed {distances}")
    assert max(distances) <= MATCH
    assert max(distances) <= VARIANT_TARGET


def test_variant_geometry() -> None:
    original = _scene(1)
    assert variant(original, "resized").size == (384, 288)
    assert variant(original, "cropped").size == (602, 452)
    assert variant(original, "rot90").size == (480, 640)
    assert variant(original, "transposed").size == (480, 640)
    for kind in ("reencoded", "rot180", "mirrored", "flipped"):
        assert variant(original, kind).size == (640, 480)


def test_variant_pixels() -> None:
    original = _scene(2)
    pixels = np.asarray(original)
    assert np.array_equal(np.asarray(variant(original, "mirrored")), pixels[:, ::-1])
    assert np.array_equal(np.asarray(variant(original, "flipped")), pixels[::-1, :])
    assert np.array_equal(np.asarray(variant(original, "rot180")), pixels[::-1, ::-1])
    assert np.array_equal(np.asarray(variant(original, "transposed")), pixels.transpose(1, 0, 2))
    assert np.array_equal(np.asarray(variant(original, "rot90")), np.rot90(pixels))  # counter-clockwise
    assert np.array_equal(np.asarray(variant(original, "cropped")), pixels[14:466, 19:621])

    reencoded = variant(original, "reencoded")
    assert reencoded.mode == "RGB"
    assert reencoded.tobytes() != original.tobytes()  # lossy, and really decoded
    difference = np.abs(np.asarray(reencoded, dtype=np.int16) - pixels.astype(np.int16))
    assert difference.mean() < 10


def test_variants_are_deterministic_and_leave_the_original_alone() -> None:
    original = _scene(3)
    before = original.tobytes()
    for kind in VARIANTS:
        assert variant(original, kind).tobytes() == variant(original, kind).tobytes()
    assert original.tobytes() == before


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown variant"):
        variant(_scene(0), "sheared")


# ------------------------------------------------------------------------------------------------------- save


def test_save_creates_parents_and_defaults_to_jpeg_quality_92(tmp_path: Path) -> None:
    image = scene(4, size=(160, 120))
    path = save(image, tmp_path / "a" / "b" / "picture.jpg")
    assert path == tmp_path / "a" / "b" / "picture.jpg"
    with Image.open(path) as saved:
        assert saved.format == "JPEG" and saved.size == (160, 120)
    explicit = io.BytesIO()
    image.save(explicit, format="JPEG", quality=92)
    assert path.read_bytes() == explicit.getvalue()
    assert save(image, tmp_path / "again.jpg").read_bytes() == path.read_bytes()


def test_save_other_formats_and_options(tmp_path: Path) -> None:
    image = scene(4, size=(160, 120))
    png = save(image, tmp_path / "x" / "picture.png", "PNG")
    with Image.open(png) as saved:
        assert saved.format == "PNG"
        assert saved.tobytes() == image.tobytes()  # lossless
    low = save(image, tmp_path / "low.jpg", quality=30)
    assert low.stat().st_size < (tmp_path / "x" / "picture.png").stat().st_size
    rgba = save(image.convert("RGBA"), tmp_path / "rgba.jpg")  # JPEG has no alpha: converted, not an error
    with Image.open(rgba) as saved:
        assert saved.mode == "RGB"


# ----------------------------------------------------------------------------------------------- broken files


@pytest.fixture(scope="module")
def broken_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return corrupt_files(tmp_path_factory.mktemp("broken"))


@pytest.fixture
def broken(broken_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """The broken files, with Pillow in its default strict mode whatever another test or module set."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False)
    return broken_files


def _chunks(data: bytes) -> list[tuple[bytes, int, bytes, int]]:
    """(type, data offset, data, stored crc) for every complete chunk of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset + 12 <= len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if len(body) < length or offset + 12 + length > len(data):
            break
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        chunks.append((kind, offset + 8, body, crc))
        offset += 12 + length
    return chunks


def test_corrupt_files_kinds_and_names(broken: dict[str, Path]) -> None:
    assert set(broken) == {"truncated_jpeg", "truncated_png", "random_bytes_jpg", "empty", "png_bomb"}
    assert all(path.is_file() for path in broken.values())
    assert broken["random_bytes_jpg"].suffix == ".jpg"
    assert broken["empty"].suffix == ".png"
    assert broken["empty"].stat().st_size == 0


def test_truncated_jpeg_opens_but_does_not_load(broken: dict[str, Path]) -> None:
    data = broken["truncated_jpeg"].read_bytes()
    assert data[:2] == b"\xff\xd8" and not data.endswith(b"\xff\xd9")
    with Image.open(broken["truncated_jpeg"]) as image:
        assert image.format == "JPEG" and image.size == (320, 240)
        with pytest.raises(OSError):
            image.load()


def test_truncated_png_is_cut_inside_idat_and_does_not_load(broken: dict[str, Path]) -> None:
    data = broken["truncated_png"].read_bytes()
    complete = _chunks(data)
    assert [kind for kind, *_ in complete][:1] == [b"IHDR"]
    assert b"IEND" not in [kind for kind, *_ in complete]
    # the bytes after the last complete chunk are the start of an IDAT whose data is cut short
    tail = data[complete[-1][1] + len(complete[-1][2]) + 4 :]
    (length,) = struct.unpack(">I", tail[:4])
    assert tail[4:8] == b"IDAT" and 0 < len(tail) - 8 < length
    with Image.open(broken["truncated_png"]) as image:
        assert image.format == "PNG"
        with pytest.raises(OSError):
            image.load()


@pytest.mark.parametrize("kind", ["random_bytes_jpg", "empty"])
def test_garbage_is_not_identified(broken: dict[str, Path], kind: str) -> None:
    with pytest.raises(UnidentifiedImageError):
        Image.open(broken[kind])


def test_png_bomb_declares_a_huge_size_in_a_tiny_file(broken: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    path = broken["png_bomb"]
    assert path.stat().st_size < 4096
    data = path.read_bytes()
    for kind, _, body, crc in _chunks(data):
        assert zlib.crc32(kind + body) == crc, kind
    assert struct.unpack(">II", data[16:24]) == (100_000, 100_000)

    # Pillow's default guard refuses it outright ...
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    # ... and without the guard, opening reads the header only: the size is reported, nothing is allocated.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    tracemalloc.start()
    try:
        with Image.open(path) as image:
            assert image.size == (100_000, 100_000)
            assert image.format == "PNG"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def test_corrupt_files_are_deterministic(tmp_path: Path) -> None:
    first = corrupt_files(tmp_path / "one")
    second = corrupt_files(tmp_path / "two")
    assert {k: p.name for k, p in first.items()} == {k: p.name for k, p in second.items()}
    for kind in first:
        assert first[kind].read_bytes() == second[kind].read_bytes(), kind


def test_png_with_small_declared_size_is_a_complete_black_image() -> None:
    with Image.open(io.BytesIO(png_bytes_with_declared_size(5, 3))) as image:
        image.load()
        assert image.size == (5, 3) and image.mode == "L"
        assert image.getextrema() == (0, 0)


@pytest.mark.parametrize("size", [(0, 1), (1, 0), (2**31, 1)])
def test_png_with_declared_size_rejects_impossible_dimensions(size: tuple[int, int]) -> None:
    with pytest.raises(ValueError):
        png_bytes_with_declared_size(*size)


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 2**31 - 1), height=st.integers(1, 2**31 - 1))
def test_png_declared_size_round_trips_through_pillow(width: int, height: int) -> None:
    data = png_bytes_with_declared_size(width, height)
    assert len(data) < 4096
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (width, height)
    finally:
        Image.MAX_IMAGE_PIXELS = previous
