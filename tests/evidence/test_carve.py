"""Carving by signature and structure: every format measured exactly, progressive and EXIF JPEGs included,
hits across chunk boundaries found once, noise ignored."""

from __future__ import annotations

import io
import random

import pytest

from hashwarden.demo.synthetic import scene
from hashwarden.evidence import carve as carve_module
from hashwarden.evidence.carve import carve


def _planted(chunk: int | None = None) -> tuple[bytes, list[tuple[int, int, str]]]:
    rnd = random.Random(1)
    parts: list[bytes] = []
    expected = []

    def add(data: bytes, fmt: str) -> None:
        parts.append(rnd.randbytes(rnd.randint(100, 5000)))
        expected.append((sum(map(len, parts)), len(data), fmt))
        parts.append(data)

    image = scene(4, (300, 200))
    for fmt, options in (("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("GIF", {}),
                         ("WEBP", {}), ("JPEG", {"exif": image.getexif().tobytes()})):
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        add(buffer.getvalue(), fmt.lower())
    add(b"\0\0\0\x18ftypisom\0\0\0\0isomavc1" + b"\0\0\0\x10mdat12345678" + b"\0\0\0\x08free", "mp4")
    parts.append(b"\0" * 1000)
    return b"".join(parts), expected


@pytest.mark.parametrize("chunk", [4 << 20, 4096, 1000])
def test_carve_finds_every_planted_item_exactly(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(carve_module, "CHUNK", chunk)
    data, expected = _planted()
    found = [(c.offset, c.length, c.format) for c in carve(lambda o, n: data[o : o + n], [(0, len(data))])]
    assert found == expected


def test_noise_and_false_signatures_are_dropped() -> None:
    noise = bytearray(random.Random(2).randbytes(2_000_000))
    for at in (100, 5000, 77777):
        noise[at : at + 3] = b"\xff\xd8\xff"  # a JPEG start with no JPEG behind it
    noise[9000:9004] = b"RIFF"
    assert list(carve(lambda o, n: bytes(noise[o : o + n]), [(0, len(noise))])) == []
