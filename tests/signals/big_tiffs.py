"""Benign TIFFs that are small on disk but large in pixels, written without ever holding their pixels in memory.

Every strip points at one of a few deflate-compressed strips (gradients with a little noise), so a 14,000 x 14,000
float image is a few hundred KB: the shape of a decompression bomb, with nothing but stripes in it. Pillow reads
these through libtiff like any other deflate TIFF.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

# mode -> (photometric, sample format, bits per sample per band, numpy dtype of one band, extra samples)
LAYOUTS: dict[str, tuple[int, int, tuple[int, ...], str, tuple[int, ...]]] = {
    "F": (1, 3, (32,), "<f4", ()),
    "I": (1, 2, (32,), "<i4", ()),
    "I;16": (1, 1, (16,), "<u2", ()),
    "L": (1, 1, (8,), "u1", ()),
    "RGB": (2, 1, (8, 8, 8), "u1", ()),
    "RGBA": (2, 1, (8, 8, 8, 8), "u1", (2,)),
    "RGBA;16": (2, 1, (16, 16, 16, 16), "<u2", (2,)),  # Pillow keeps 8 bits a band: libtiff's strip is twice as wide
    "CMYK": (5, 1, (8, 8, 8, 8), "u1", ()),
}

_VARIANTS = 7  # distinct strips, so the image is not flat (PDQ quality above zero)


def _strip(mode: str, width: int, rows: int, variant: int, noise: bool) -> np.ndarray:
    """One strip of `rows` rows: a horizontal gradient, shifted per variant, plus a little noise if asked."""
    _, _, bits, dtype, _ = LAYOUTS[mode]
    rng = np.random.default_rng(variant)
    ramp = (np.arange(width, dtype=np.float64) * (variant + 1) * 7 / max(width, 1)) % 1.0
    unit = np.clip(ramp + (rng.normal(0, 0.02, (rows, width)) if noise else np.zeros((rows, 1))), 0.0, 1.0)
    if mode == "F":
        values = unit  # a float image in 0..1, which the normaliser scales by 255
    elif mode == "I":
        values = unit * 0x7FFF_FFFF  # true 32-bit values: the top byte is kept
    else:
        values = unit * (2 ** bits[0] - 1)
    bands = np.repeat(values[:, :, None], len(bits), axis=2)
    if len(bits) == 4:
        bands[:, :, 3] = 2 ** bits[0] - 1 if mode.startswith("RGBA") else bands[:, :, 3] / 4  # opaque; light black
    return bands.astype(dtype)


def _compressed(mode: str, width: int, rows: int, variant: int, noise: bool) -> bytes:
    """One deflated strip; without noise its rows are all alike, so only one row is ever held."""
    if noise:
        return zlib.compress(_strip(mode, width, rows, variant, noise).tobytes(), 6)
    row = _strip(mode, width, 1, variant, noise).tobytes()
    compressor = zlib.compressobj(6)
    return b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()


def tiff_bytes(mode: str, width: int, height: int, rows_per_strip: int = 1, noise: bool = True) -> bytes:
    """A little-endian deflate TIFF of `mode` (a key of LAYOUTS) and this size.

    Without `noise` the strips are pure gradients, which compress well however many rows a strip has (a strip of
    the whole image is then still small on disk)."""
    photometric, sample_format, bits, _, extra = LAYOUTS[mode]
    rows_per_strip = min(rows_per_strip, height)
    count = -(-height // rows_per_strip)
    strips = [_compressed(mode, width, rows_per_strip, v, noise) for v in range(min(_VARIANTS, count))]
    spp = len(bits)
    blob = b"".join(strips)
    starts = np.cumsum([0] + [len(s) for s in strips])[:-1]

    header = 8
    data_at = header
    offsets_at = data_at + len(blob)
    counts_at = offsets_at + 4 * count
    bits_at = counts_at + 4 * count
    format_at = bits_at + 2 * spp
    ifd_at = format_at + 2 * spp
    ifd_at += ifd_at % 2

    # The last strip may be shorter: libtiff decodes only the rows that exist, so a full strip there is harmless.
    offsets = np.array([data_at + starts[i % len(strips)] for i in range(count)], dtype="<u4")
    sizes = np.array([len(strips[i % len(strips)]) for i in range(count)], dtype="<u4")

    def short_or_offset(values: tuple[int, ...], at: int) -> tuple[int, int, int]:
        if len(values) <= 2:
            packed = struct.pack("<2H", *(values + (0,) * (2 - len(values))))
            return 3, len(values), struct.unpack("<I", packed)[0]
        return 3, len(values), at

    entries: list[tuple[int, int, int, int]] = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, *short_or_offset(bits, bits_at)),
        (259, 3, 1, 8),  # Adobe deflate
        (262, 3, 1, photometric),
        (273, 4, count, offsets_at if count > 1 else int(offsets[0])),
        (277, 3, 1, spp),
        (278, 4, 1, rows_per_strip),
        (279, 4, count, counts_at if count > 1 else int(sizes[0])),
        (284, 3, 1, 1),  # chunky
    ]
    if extra:
        entries.append((338, 3, 1, extra[0]))
    entries.append((339, *short_or_offset((sample_format,) * spp, format_at)))

    out = bytearray(struct.pack("<2sHI", b"II", 42, ifd_at))
    out += blob
    out += offsets.tobytes() + sizes.tobytes()
    out += struct.pack(f"<{spp}H", *bits) + struct.pack(f"<{spp}H", *((sample_format,) * spp))
    out += b"\0" * (ifd_at - len(out))
    out += struct.pack("<H", len(entries))
    for tag, kind, n, value in entries:
        out += struct.pack("<HHII", tag, kind, n, value)
    out += struct.pack("<I", 0)
    return bytes(out)
