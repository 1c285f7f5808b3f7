"""Synthetic, benign images for the demo and the test suite: procedural scenes, their light variants, broken files.

Why this module exists: hashwarden scans seized media against hashes of known abuse material, and its demo and
tests need "known" and "seized" pictures to exercise the whole pipeline. Those pictures must never be real
material (nor any real photograph at all), so every image here is drawn by code from a seed: colour gradients, a
sunburst of coloured wedges, a smooth colour field, random ellipses/polygons/rectangles (some striped) and a fine
grain. Nothing is downloaded and no image is stored in the repository; the same seed always gives the same pixels.

Design constraints, checked by tests/demo/test_synthetic.py with the reference PDQ implementation (`pdqhash`,
a test-time dependency only):

* PDQ quality >= 50 for every scene (quality measures gradient energy in a 64x64 downsample; flat images get 0).
* Every `variant` (JPEG re-encoding, 0.6x resize, a 3% crop on each edge, rotations and flips, the latter matched
  through the 8 dihedral hashes) stays well within PDQ's match distance of 31 bits of its original, while scenes
  of different seeds stay far apart (about 108 bits on average, around 75 at the very least), in any dihedral form.
  The crop is the hard part: see the comment above `scene` for how the picture is composed to survive it.
* `corrupt_files` writes the broken inputs a scanner must survive: truncated JPEG/PNG, random bytes with an image
  extension, an empty file, and a ~1 KB PNG whose header declares 100000 x 100000 pixels (a decompression bomb).

Runtime dependencies: numpy and Pillow only.
"""

from __future__ import annotations

import io
import math
import pathlib
import struct
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "VARIANTS",
    "corrupt_files",
    "png_bytes_with_declared_size",
    "save",
    "scene",
    "variant",
]

# Mixed into every seed so that scene(0) does not share a random stream with other users of seed 0.
_SCENE_STREAM = 0x68_61_73_68  # "hash"
_CORRUPT_STREAM = 0x62_61_64  # "bad"

VARIANTS: tuple[str, ...] = ("reencoded", "resized", "cropped", "rot90", "rot180", "mirrored", "flipped", "transposed")

REENCODE_QUALITY = 75
RESIZE_FACTOR = 0.6
CROP_FRACTION = 0.03
SAVE_JPEG_QUALITY = 92

# The subject disc fades out between these elliptical radii (1 = middle of an edge).
_SUBJECT_INNER = 0.05
_SUBJECT_OUTER = 0.3

# Angular resolution of the sunburst's lookup table.
_ANGLE_BINS = 8192

BOMB_SIZE = 100_000
# Uncompressed scanline bytes the bomb's IDAT carries at most: zeros compress about 1000:1, so ~1 KB on disk.
_BOMB_IDAT_BUDGET = 1 << 20


# --------------------------------------------------------------------------------------------------- scenes
#
# Why a scene looks the way it does. PDQ keeps the signs (against their median) of the 16x16 lowest DCT
# coefficients of a 64x64 luminance downsample. A 3% crop on each edge is, once PDQ rescales the picture, a 6.4%
# zoom about the centre: content at distance d from the centre moves by 0.064 d, which scrambles the phase of the
# higher DCT cells for anything far from the centre. Full-frame random shapes and colour fields measured 40-90
# bits off after such a crop, however smooth or large-scale; blurring did not help. So a scene is built from parts
# that each survive that zoom:
#
# * a separable backdrop f(x) + g(y) (gradients, 1-D waves): colour and PDQ quality, but invisible to the hash,
#   whose DCT cells all have both frequencies >= 1;
# * a "sunburst" around the centre (coloured wedges half-blended with smooth angular shading): a function of the
#   angle only, hence unchanged by any zoom about the centre; its random angles and colours give each seed its
#   own strong, crop-proof coefficients;
# * a "subject" in a soft central disc: a smooth colour field and random ellipses/polygons/rectangles (some
#   striped), close enough to the centre that the zoom barely moves it; it separates seeds further;
# * a slight blur and a fine grain, which PDQ's 64x64 view hardly sees but which make every pixel seed-specific.
#
# Measured on seeds 0-29 at 640x480: crop <= 18 bits (mean ~10), other variants <= 18, quality >= 86.
# Shifting the crop off-centre by even 1% about doubles those distances, hence the centred crop in `variant`.


def _random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A random colour that is clearly light or clearly dark, so edges between colours carry luminance contrast."""
    colour = rng.uniform(0.0, 255.0, size=3)
    if rng.random() < 0.5:
        colour = 0.35 * colour  # dark
    else:
        colour = 255.0 - 0.35 * (255.0 - colour)  # light
    return (int(colour[0]), int(colour[1]), int(colour[2]))


def _curve(rng: np.random.Generator, n: int) -> np.ndarray:
    """A smooth (n, 3) colour curve: a linear ramp plus two gentle waves."""
    t = np.linspace(0.0, 1.0, n)
    out = np.outer(t - 0.5, rng.uniform(-120.0, 120.0, size=3))
    for _ in range(2):
        frequency, phase = rng.uniform(0.5, 6.0), rng.uniform(0.0, 2.0 * math.pi)
        out += np.outer(np.sin(2.0 * math.pi * frequency * t + phase), rng.uniform(-30.0, 30.0, size=3))
    return out


def _backdrop(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Separable colour variation f(x) + g(y) around zero, (H, W, 3): colour and gradient energy, no hash bits."""
    return _curve(rng, width)[None, :, :] + _curve(rng, height)[:, None, :]


def _polar(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Angle around the picture's centre (pixel units, so it is zoom-invariant) and the elliptical radius
    normalised to 1 at the middle of each edge."""
    ys, xs = np.ogrid[0:height, 0:width]
    dx = xs - (width - 1) / 2.0
    dy = ys - (height - 1) / 2.0
    angle = np.arctan2(dy, dx)
    radius = np.sqrt((dx / (width / 2.0)) ** 2 + (dy / (height / 2.0)) ** 2)
    return angle, radius


def _sunburst(rng: np.random.Generator, angle: np.ndarray) -> np.ndarray:
    """5 to 10 wedges of random angular widths and colours meeting at the centre, half-blended with smooth
    angular shading (12 random harmonics of the angle), (H, W, 3). The wedges give sharp edges; the shading
    gives coefficients that hold up better against sampling shifts.

    Both depend on the angle only, so they are tabulated over _ANGLE_BINS angles (a step well under a pixel at
    the edge of the picture) and looked up, which is several times faster than evaluating them per pixel.
    """
    count = int(rng.integers(5, 11))
    cuts = np.sort(rng.uniform(-math.pi, math.pi, size=count))
    colours = np.array([_random_colour(rng) for _ in range(count)], dtype=np.float64)
    table_angle = (np.arange(_ANGLE_BINS) + 0.5) * (2.0 * math.pi / _ANGLE_BINS) - math.pi
    wedges = colours[np.searchsorted(cuts, table_angle) % count]
    shading = np.zeros_like(wedges)
    for k in range(1, 13):
        amplitude = rng.uniform(-1.0, 1.0, size=3) * 80.0 / math.sqrt(k)
        shading += np.cos(k * table_angle + rng.uniform(0.0, 2.0 * math.pi))[:, None] * amplitude
    table = 0.5 * wedges + 0.5 * (128.0 + shading)
    index = ((angle + math.pi) * (_ANGLE_BINS / (2.0 * math.pi))).astype(np.intp)
    return table[np.clip(index, 0, _ANGLE_BINS - 1)]


def _stripes(
    rng: np.random.Generator, short: int, box: tuple[int, int, int, int], colour: tuple[int, int, int]
) -> Image.Image:
    """`colour` modulated by stripes or a checkerboard (period 4-7% of the short side), over `box` only."""
    period = rng.uniform(0.04, 0.07) * short
    theta = rng.uniform(0.0, math.pi)
    checker = rng.random() < 0.5
    amplitude = rng.uniform(35.0, 60.0)
    left, top, right, bottom = box
    ys, xs = np.ogrid[top:bottom, left:right]
    a = (xs * math.cos(theta) + ys * math.sin(theta)) / period
    if checker:
        b = (ys * math.cos(theta) - xs * math.sin(theta)) / period
        wave = np.sign(np.sin(math.pi * a) * np.sin(math.pi * b))
    else:
        wave = np.sign(np.sin(2.0 * math.pi * a))
    pixels = np.asarray(colour, dtype=np.float32) + (amplitude * wave)[..., None].astype(np.float32)
    return Image.fromarray(np.clip(pixels, 0.0, 255.0).astype(np.uint8), "RGB")


def _field(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A smooth random colour field (a few 2-D waves of up to 3 cycles), computed at 1/4 size and upscaled."""
    gw, gh = max(2, -(-width // 4)), max(2, -(-height // 4))
    v, u = np.mgrid[0:gh, 0:gw].astype(np.float64)
    u /= gw - 1
    v /= gh - 1
    field = np.zeros((gh, gw), dtype=np.float64)
    for _ in range(6):
        fx, fy = rng.uniform(-3.0, 3.0, size=2)
        phase = rng.uniform(0.0, 2.0 * math.pi)
        field += rng.uniform(0.5, 1.0) * np.sin(2.0 * math.pi * (fx * u + fy * v) + phase)
    field /= max(float(np.abs(field).max()), 1e-9)
    tint = rng.uniform(-1.0, 1.0, size=3)
    tint /= max(float(np.abs(tint).max()), 1e-9)
    base = np.array(_random_colour(rng), dtype=np.float64)
    pixels = base + field[..., None] * (60.0 * tint + 40.0)
    small = Image.fromarray(np.clip(pixels, 0.0, 255.0).astype(np.uint8), "RGB")
    return small.resize((width, height), Image.Resampling.BICUBIC)


def _subject(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A colour field overlaid with random translucent ellipses, polygons and rotated rectangles, (H, W, 3).

    Shapes cluster around the centre, large ones first; about a third are striped or checkered.
    """
    canvas = _field(rng, width, height)
    short = min(width, height)
    count = int(rng.integers(8, 14))
    for radius in np.sort(rng.uniform(0.06, 0.3, size=count))[::-1] * short:
        cx = (0.5 + float(np.clip(rng.normal(0.0, 0.12), -0.5, 0.5))) * width
        cy = (0.5 + float(np.clip(rng.normal(0.0, 0.12), -0.5, 0.5))) * height
        colour = _random_colour(rng)
        alpha = int(rng.integers(180, 256))
        kind = int(rng.integers(0, 3))
        mask = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(mask)
        if kind == 0:
            aspect = rng.uniform(0.5, 1.6)
            rx, ry = radius * aspect, radius / aspect
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=alpha)
        else:
            if kind == 1:
                n = int(rng.integers(3, 8))
                angles = np.sort(rng.uniform(0.0, 2.0 * math.pi, size=n))
                radii = radius * rng.uniform(0.5, 1.2, size=n)
            else:  # a rectangle at a random angle
                half_w, half_h = radius * rng.uniform(0.6, 1.4), radius * rng.uniform(0.4, 1.0)
                theta = rng.uniform(0.0, math.pi)
                corner = math.atan2(half_h, half_w)
                angles = theta + np.array([corner, math.pi - corner, math.pi + corner, -corner])
                radii = np.full(4, math.hypot(half_w, half_h))
            points = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a, r in zip(angles, radii, strict=True)]
            draw.polygon(points, fill=alpha)
        textured = rng.random() < 0.3
        box = mask.getbbox()
        if box is None:  # entirely off the canvas
            continue
        if textured:
            canvas.paste(_stripes(rng, short, box, colour), box[:2], mask.crop(box))
        else:
            canvas.paste(colour, box, mask.crop(box))
    return np.asarray(canvas, dtype=np.float64)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A benign procedural RGB image (gradients, random shapes/ellipses/polygons, some texture/noise).

    Deterministic for a seed; different seeds give very different images (PDQ Hamming distance far above 31
    between any two seeds, including their dihedral forms), and the PDQ quality is >= 50 at the default size.
    `size` is (width, height), as in Pillow.
    """
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    rng = np.random.default_rng([_SCENE_STREAM, int(seed) & 0xFFFF_FFFF_FFFF_FFFF])

    angle, radius = _polar(width, height)
    backdrop = _backdrop(rng, width, height)
    sunburst = _sunburst(rng, angle)
    subject = _subject(rng, width, height)
    # The subject fills the centre and fades out between 5% and 30% of the way to the edges.
    weight = (1.0 - _smoothstep(_SUBJECT_INNER, _SUBJECT_OUTER, radius))[..., None]
    pixels = backdrop + sunburst * (1.0 - weight) + subject * weight

    picture = Image.fromarray(np.clip(pixels, 0.0, 255.0).astype(np.uint8), "RGB")
    # Soften aliasing a little, so edges do not turn into pure pixel-level content under resizing.
    picture = picture.filter(ImageFilter.GaussianBlur(radius=max(min(width, height) / 480.0, 0.5)))
    grain = rng.integers(-8, 9, size=(height, width, 3), dtype=np.int16)
    return Image.fromarray(np.clip(np.asarray(picture, dtype=np.int16) + grain, 0, 255).astype(np.uint8), "RGB")


# ------------------------------------------------------------------------------------------------- variants


def _jpeg_roundtrip(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        decoded.load()
        return decoded.copy()


def _crop_box(width: int, height: int) -> tuple[int, int, int, int]:
    """CROP_FRACTION off each edge: a centred crop, which PDQ (after rescaling to 64x64) sees as a pure zoom."""
    dx, dy = int(round(width * CROP_FRACTION)), int(round(height * CROP_FRACTION))
    if width - 2 * dx < 1 or height - 2 * dy < 1:
        return (0, 0, width, height)
    return (dx, dy, width - dx, height - dy)


def variant(image: Image.Image, kind: str, seed: int = 0) -> Image.Image:
    """A lightly modified copy of `image`; `kind` is one of VARIANTS.

    reencoded: JPEG round trip at quality 75 (the decoded image); resized: 0.6x LANCZOS; cropped: 3% trimmed off
    each edge (a centred crop); rot90/rot180: rotations (Image.Transpose); mirrored: left-right flip; flipped:
    top-bottom flip; transposed: Image.Transpose.TRANSPOSE. Every kind is deterministic: `seed` is accepted so
    that callers can pass one uniformly, and currently changes nothing.
    """
    width, height = image.size
    if kind == "reencoded":
        return _jpeg_roundtrip(image, REENCODE_QUALITY)
    if kind == "resized":
        new_size = (max(1, int(round(width * RESIZE_FACTOR))), max(1, int(round(height * RESIZE_FACTOR))))
        return image.resize(new_size, Image.Resampling.LANCZOS)
    if kind == "cropped":
        return image.crop(_crop_box(width, height))
    transposes = {
        "rot90": Image.Transpose.ROTATE_90,
        "rot180": Image.Transpose.ROTATE_180,
        "mirrored": Image.Transpose.FLIP_LEFT_RIGHT,
        "flipped": Image.Transpose.FLIP_TOP_BOTTOM,
        "transposed": Image.Transpose.TRANSPOSE,
    }
    if kind in transposes:
        return image.transpose(transposes[kind])
    raise ValueError(f"unknown variant kind {kind!r}; expected one of {VARIANTS}")


def save(image: Image.Image, path: pathlib.Path, fmt: str = "JPEG", **kw: object) -> pathlib.Path:
    """Write `image` to `path` in format `fmt` (JPEG at quality 92 unless `quality=` is given), creating parents."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, object] = dict(kw)
    if fmt.upper() in ("JPEG", "JPG"):
        fmt = "JPEG"
        options.setdefault("quality", SAVE_JPEG_QUALITY)
        if image.mode not in ("RGB", "L", "CMYK"):
            image = image.convert("RGB")
    image.save(path, format=fmt, **options)
    return path


# ---------------------------------------------------------------------------------------------- broken files


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFF_FFFF)


def png_bytes_with_declared_size(width: int, height: int) -> bytes:
    """A well-formed 8-bit greyscale PNG whose IHDR declares `width` x `height`, built by hand with valid CRCs.

    The IDAT holds zlib-compressed black scanlines, at most 1 MiB of them uncompressed: a small size gives a
    complete, loadable black image; a huge one (the demo's 100000 x 100000 "bomb") stays a file of about a
    kilobyte whose header alone claims gigabytes of pixels, and whose pixel data ends early.
    """
    if not (1 <= width < 2**31 and 1 <= height < 2**31):
        raise ValueError(f"PNG dimensions must be in 1..2**31-1, got {width}x{height}")
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # depth 8, greyscale, deflate, no filter/interlace
    raw_size = (width + 1) * height  # each scanline: a filter-type byte (0, None) and one byte per pixel
    payload = zlib.compress(bytes(min(raw_size, _BOMB_IDAT_BUDGET)), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", payload)
        + _png_chunk(b"IEND", b"")
    )


def _idat_cut_offset(png: bytes) -> int:
    """An offset in the middle of the data of the IDAT chunk holding the file's midpoint of pixel data."""
    offset = 8
    idats: list[tuple[int, int]] = []  # (data start, data length)
    while offset + 8 <= len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        if png[offset + 4 : offset + 8] == b"IDAT":
            idats.append((offset + 8, length))
        offset += 12 + length
    if not idats:
        raise ValueError("PNG has no IDAT chunk")
    start, length = idats[len(idats) // 2]
    return start + max(1, length // 2)


def corrupt_files(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """Write the demo's broken files into `directory` (created if needed) and return their paths by kind.

    truncated_jpeg: a valid JPEG cut at 60% of its length; truncated_png: a valid PNG cut mid IDAT;
    random_bytes_jpg: deterministic pseudo-random bytes named .jpg; empty: zero bytes named .png;
    png_bomb: a ~1 KB PNG whose IHDR declares 100000 x 100000 pixels. Same bytes on every call.
    """
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    picture = scene(9_000_001, size=(320, 240))  # small: the files only need to be broken, not big

    jpeg = io.BytesIO()
    picture.save(jpeg, format="JPEG", quality=SAVE_JPEG_QUALITY)
    jpeg_bytes = jpeg.getvalue()

    png = io.BytesIO()
    picture.save(png, format="PNG")
    png_bytes = png.getvalue()

    contents: dict[str, tuple[str, bytes]] = {
        "truncated_jpeg": ("truncated.jpg", jpeg_bytes[: int(len(jpeg_bytes) * 0.6)]),
        "truncated_png": ("truncated.png", png_bytes[: _idat_cut_offset(png_bytes)]),
        "random_bytes_jpg": ("random_bytes.jpg", np.random.default_rng([_CORRUPT_STREAM, 1]).bytes(8192)),
        "empty": ("empty.png", b""),
        "png_bomb": ("bomb.png", png_bytes_with_declared_size(BOMB_SIZE, BOMB_SIZE)),
    }
    written: dict[str, pathlib.Path] = {}
    for kind, (name, data) in contents.items():
        path = directory / name
        path.write_bytes(data)
        written[kind] = path
    return written


def video(path: pathlib.Path, seed: int, *, start: float = 0.0, seconds: float = 4.0, scale: float = 1.0,
          crf: int = 23, fps: int = 30) -> pathlib.Path:
    """A benign MP4 (libx264 through PyAV): a fast pan, back and forth, across a wide `scene`, from `start` seconds
    for `seconds`, scaled and at the given CRF, so a trimmed, re-encoded and resized copy of a known video is
    frame for frame the same footage. The pan moves the picture by 12 px a frame, as fast as handheld footage
    changes: frames a few apart differ beyond PDQ's match distance, which is what defeats sparse sampling."""
    import av

    panorama = np.asarray(scene(seed, (1280, 360)).convert("RGB"))
    width, height = int(320 * scale) // 2 * 2, int(240 * scale) // 2 * 2
    travel = panorama.shape[1] - 480
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        first = round(start * fps)
        for number in range(first, first + round(seconds * fps)):
            x = abs((number * 12) % (2 * travel) - travel)  # ping-pong across the panorama
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(panorama[:, x:x + 480]), format="rgb24")
            for packet in stream.encode(frame.reformat(width=width, height=height, format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path
