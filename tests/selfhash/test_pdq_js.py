"""The page's PDQ (web/selfhash/pdq.mjs, run by Node through pdq-cli.mjs) against hashwarden's engine, given the same
pixels: bit for bit, hash, quality and the 8 dihedral forms.

The pixels are those `hashwarden hash` hashes: the file decoded by hashwarden's own decoder path
(`signals.image.decode_pixels`, every Pillow mode normalised as the engine reads it), as RGB bytes. The corpora are
the 49 conformance images (also checked against the reference's expected hashes) and the generated mode/size corpus
of the engine's own tests (tests/signals/test_pdq_engine.py): every mode, sizes from 1x1 to 2003x3001, odd, prime
and extreme aspect ratios, flat images of quality 0, and a 12 MP image.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import pytest

from hashwarden.signals import HashOptions, hash_stream
from hashwarden.signals.image import Pixels, decode_pixels
from hashwarden.signals.pdq import NativePdqEngine
from tests.selfhash.node_js import CLI, node, node_pdq, rgb_stream, run_module
from tests.signals.test_pdq_engine import IMAGES_PER_MODE, SIZES, content, encoded

NATIVE = NativePdqEngine()


def engine(pixels: Pixels) -> tuple[tuple[str, ...], int]:
    result = NATIVE.hash_pixels(pixels, dihedral=True)
    return tuple(result.dihedral), result.quality


def test_conformance_images_bit_identical(conformance: Path) -> None:
    """All 49 conformance images: Node's hashes of hashwarden's decoded pixels equal `hashwarden hash`'s (and the
    reference's expected library-flavour hashes)."""
    with open(conformance / "threatexchange" / "expected" / "pdq-library-flavour.csv", newline="") as fp:
        rows = list(csv.reader(fp))
    assert len(rows) == 49
    images, expected = [], []
    for expected_hash, expected_quality, relative in rows:
        data = (conformance / "threatexchange" / relative).read_bytes()
        signals = hash_stream(io.BytesIO(data), HashOptions(dihedral=True))
        assert (signals.pdq, signals.pdq_quality) == (expected_hash, int(expected_quality)), relative
        images.append(decode_pixels(data).rgb())
        expected.append((signals.pdq_dihedral, signals.pdq_quality))
    got = node_pdq(images, dihedral=True)
    wrong = [row[2] for row, mine, theirs in zip(rows, got, expected) if mine != theirs]
    assert wrong == [], f"{len(wrong)}/49 differ"


@pytest.mark.parametrize("mode", sorted(IMAGES_PER_MODE))
def test_generated_corpus_bit_identical(mode: str) -> None:
    """The engine tests' corpus, mode by mode: every size, a scene and noise, decoded by hashwarden."""
    images, expected = [], []
    for index, size in enumerate(SIZES):
        if mode == "YCbCr" and min(size) < 2:
            continue  # as the engine test: Pillow's JPEG encoder wants 2 pixels a side
        for kind in ("scene", "noise"):
            seed = index * 7 + len(mode)
            pixels = decode_pixels(encoded(content(seed, size, kind), mode, seed))
            images.append(pixels.rgb())
            expected.append(engine(pixels))
    assert len(images) == IMAGES_PER_MODE[mode]
    assert node_pdq(images, dihedral=True) == expected


def test_flat_tiny_and_random_sizes_bit_identical() -> None:
    """120 random sizes below 400 a side (flat, scene, noise), below 5 pixels a side included (all-zero hash)."""
    images, expected = [], []
    for seed in range(120):
        rng = np.random.default_rng(seed)
        size = (int(rng.integers(1, 400)), int(rng.integers(1, 400)))
        rgb = content(seed, size, ("flat", "scene", "noise")[seed % 3])
        images.append(rgb)
        expected.append(engine(Pixels.from_rgb(rgb)))
    got = node_pdq(images, dihedral=True)
    assert got == expected
    assert any(quality == 0 for _, quality in got) and any(hashes[0] == "0" * 64 for hashes, _ in got)


@pytest.mark.heavy
def test_twelve_megapixels_bit_identical() -> None:
    """A 4000x3000 photo-sized scene (the size bench/selfhash.py times)."""
    rgb = content(12, (4000, 3000), "scene")
    assert node_pdq([rgb], dihedral=True) == [engine(Pixels.from_rgb(rgb))]


def test_dct_matrix_is_the_engines() -> None:
    """The embedded float32 DCT matrix equals _pdqcore.c's init_dct_matrix, computed here with the same libm cos."""
    scale = float(np.float32(math.sqrt(2.0 / 64.0)))
    wanted = np.array([np.float32(scale * math.cos((math.pi / 2.0 / 64.0) * (i + 1) * (2 * j + 1)))
                       for i in range(16) for j in range(64)], dtype=np.float32)
    printed = run_module('import {DCT_MATRIX} from "WEB/pdq.mjs";'
                         'process.stdout.write(Buffer.from(DCT_MATRIX.buffer).toString("hex"))')
    assert np.array_equal(np.frombuffer(bytes.fromhex(printed), dtype="<f4"), wanted)


def test_cli_one_image_and_its_errors() -> None:
    """The contract: `width height` + RGB bytes in, `hash quality` out; a wrong input is refused, naming why."""
    import subprocess

    rgb = content(5, (64, 48), "scene")
    done = subprocess.run([node(), str(CLI)], input=rgb_stream([rgb]), capture_output=True, timeout=60)
    result = NATIVE.hash_pixels(Pixels.from_rgb(rgb))
    assert done.returncode == 0 and done.stdout.decode() == f"{result.hash} {result.quality}\n"
    for given, message in ((b"", b"no image"), (b"64 48\n" + b"\0" * 10, b"expected 9216 bytes"),
                           (b"sixty\n", b"not a size line"), (b"20000 20000\n", b"above 200000000 pixels")):
        done = subprocess.run([node(), str(CLI)], input=given, capture_output=True, timeout=60)
        assert done.returncode == 2 and message in done.stderr, (given[:20], done.stderr)


def test_rgba_and_grey_inputs_equal_rgb() -> None:
    """The page hashes a canvas's RGBA (alpha ignored, as the engine drops it); grey is R = G = B."""
    rgb = content(8, (97, 61), "scene")
    alpha = np.random.default_rng(1).integers(0, 256, rgb.shape[:2] + (1,), dtype=np.uint8)
    grey = rgb[:, :, 1].copy()
    printed = run_module(
        'import {pdqHash} from "WEB/pdq.mjs";'
        'const data = require_stdin();'.replace("require_stdin()", "await new Promise(r => {const c = [];"
                                                "process.stdin.on('data', d => c.push(d));"
                                                "process.stdin.on('end', () => r(Buffer.concat(c)))})")
        + 'const n = 97 * 61;'
        'const rgba = new Uint8Array(data.subarray(0, 4 * n)), grey = new Uint8Array(data.subarray(4 * n));'
        'console.log(pdqHash(rgba, 97, 61, 4).hash, pdqHash(grey, 97, 61, 1).hash);',
        stdin=np.concatenate([rgb, alpha], axis=2).tobytes() + grey.tobytes())
    assert printed.split() == [NATIVE.hash_pixels(Pixels.from_rgb(rgb)).hash,
                               NATIVE.hash_pixels(Pixels.from_rgb(np.repeat(grey[:, :, None], 3, axis=2))).hash]
