"""Image decoding for perceptual hashing: any Pillow mode in, 8-bit RGB (or grey) pixels out, as the reference decodes.

The canonical PDQ flavour (ThreatExchange/HMA) hashes the full-resolution pixels that ImageMagick decodes. To be
bit-identical with it we must normalise the way ImageMagick does, which differs from naive Pillow use:
- palette and CMYK images are converted to their colours (hashing palette indices or C/M/Y as R/G/B is wrong);
- 1-bit images become 0/255, not 0/1;
- alpha is dropped, not composited onto a background;
- 16-bit greyscale is scaled to 8 bits (ImageMagick's ScaleQuantumToChar), where Pillow's convert() clips to 255;
- EXIF orientation is NOT applied (the reference ignores it).
16-bit RGB PNGs are reduced by Pillow itself to their high byte, which can differ from ImageMagick's rounding by one
level in a few pixels; it is noted in docs/architecture.md.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from PIL import Image, UnidentifiedImageError

from hashwarden.config import MAX_DECODE_BYTES, MAX_IMAGE_PIXELS
from hashwarden.errors import EvidenceReadError, ImageTooLarge

if TYPE_CHECKING:  # NumPy is loaded only where an array is made: an 8-bit image goes from Pillow to the engine without
    import numpy as np  # it, so a worker process does not pay its import (~0.1 s) for JPEG, PNG and WebP photos

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
# Integer and float modes are scaled to 8-bit grey by NumPy, one tile of this many pixels at a time: the
# temporaries of that arithmetic (int64 and float32 arrays, up to ~64 bytes a pixel) stay a few MB whatever the
# image size, instead of several full-size copies (a 14,000^2 float TIFF needed 4.5 GiB with whole-image arrays).
_TILE_PIXELS = 1 << 18
_TILE_TEMPORARY_BYTES = 64 * _TILE_PIXELS
# Bytes per pixel of Pillow's storage of a mode; every mode not listed is stored in 4 bytes (the widest).
_STORAGE_BYTES = {"1": 1, "L": 1, "P": 1, **{mode: 2 for mode in _SIXTEEN_BIT_MODES}}
# Modes whose pixels the PDQ engine reads as Pillow stores them, with no converted copy: 4 bytes per pixel (R, G, B,
# ignored; LA is stored as L, L, L, A) or 1 (grey; "1" is stored as 0/255), and palette modes, whose first byte is an
# index into the palette's colours (`_PALETTE_MODES`: P in 1 byte, PA in 4).
_DIRECT_MODES = {"RGB": 4, "RGBA": 4, "RGBX": 4, "LA": 4, "L": 1, "1": 1, "P": 1, "PA": 4}
_PALETTE_MODES = {"P", "PA"}
# Pillow allocates large images in 16 MB blocks, whose rows are not contiguous and so cannot be lent without a
# copy; while hashwarden decodes, one block holds a whole image (up to this size, else the copy path is used).
_SINGLE_BLOCK_BYTES = 1 << 30
# What `keep_pixel_memory` keeps of a freed image for the next one: Pillow shrinks a block it caches to its block
# size, so a larger image's block is kept only in part (the rest goes back to the system).
_KEPT_BLOCK_BYTES = 256 << 20


def keep_pixel_memory() -> None:
    """Make Pillow keep the memory of a freed image (one block of up to `_KEPT_BLOCK_BYTES`) for the next image, in
    a process that decodes one image after another: a scan's worker.

    Why: by default Pillow returns each image's memory to the system, so the next image's pixels are new pages,
    each zeroed by the kernel on its first touch: a quarter of a scan worker's CPU time was the kernel's, most of it
    these page faults. A kept block is reused (shrunk or grown in place, `realloc`), and the scan hands out its
    files largest first, so the next image mostly fits. The cost: a worker holds up to 256 MiB between images. Not
    for the service, whose processes hash an upload now and then and should not hold that memory idle.
    Idempotent; `decode_pixels` still widens the block size while it decodes (one block per image) and restores
    this one."""
    Image.core.set_block_size(_KEPT_BLOCK_BYTES)
    if Image.core.get_blocks_max() < 1:
        Image.core.set_blocks_max(1)


@dataclass(frozen=True)
class Pixels:
    """Decoded, normalised pixels of one image, ready for a PDQ engine.

    `source` is either Pillow's zero-copy Arrow export ("arrow_array" capsule) of `owner`, or a C-contiguous uint8
    array; `pixel_size` is 1 (grey, R = G = B), 3 (RGB) or 4 (RGB + an ignored byte). With `palette` (256 RGB
    colours, 768 bytes) the first byte of each pixel is an index into it. `frames` counts the frames or pages of the
    file, of which only the first is hashed.
    """

    source: Any
    rows: int
    cols: int
    pixel_size: int
    owner: Any = None
    frames: int = 1
    palette: bytes | None = None

    @classmethod
    def from_rgb(cls, rgb: np.ndarray) -> "Pixels":
        """Pixels of an (H, W, 3) uint8 array (video frames, tests)."""
        import numpy as np

        array = np.ascontiguousarray(rgb, dtype=np.uint8)
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) array, got shape {array.shape}")
        return cls(array, array.shape[0], array.shape[1], 3)

    def rgb(self) -> np.ndarray:
        """The pixels as an (H, W, 3) uint8 array (a copy): what the reference engine and tests consume."""
        import numpy as np

        if isinstance(self.source, np.ndarray):
            if self.pixel_size == 1:
                return np.repeat(self.source.reshape(self.rows, self.cols, 1), 3, axis=2)
            return self.source.reshape(self.rows, self.cols, self.pixel_size)[:, :, :3].copy()
        return np.asarray(self.owner.convert("RGB"))


def decode_rgb(
    data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS, max_bytes: int = MAX_DECODE_BYTES
) -> np.ndarray:
    """Decode an image's bytes to an (H, W, 3) uint8 array of its first frame (see `decode_pixels`)."""
    return decode_pixels(data, max_pixels=max_pixels, max_bytes=max_bytes).rgb()


def decode_pixels(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS, max_bytes: int = MAX_DECODE_BYTES,
                  inspect: Callable[[Image.Image], None] | None = None) -> Pixels:
    """Decode an image's bytes to normalised pixels of its first frame, lending Pillow's memory where it can.

    `inspect` sees the opened image once, before its pixels are converted, whether or not they could be decoded
    (an image refused as too large or truncated still has its header): the scan reads the file's tags there
    (`leads.metadata`) instead of reading the bytes again. It must not raise.

    Two limits are checked from the header, before any pixel is allocated: the pixel count, and the predicted
    peak memory of decoding and hashing the image (`predicted_peak_bytes`), which depends on its mode and format.

    Raises:
        ImageTooLarge: the header declares more than `max_pixels` pixels, or an image whose predicted peak memory
            is above `max_bytes` (nothing is allocated).
        EvidenceReadError: the content is not a decodable image, or is corrupt or truncated.
    """
    # hashwarden enforces its own pixel limit (below, from the header, before any pixel is allocated). Pillow's
    # process-wide limit would refuse at another size, naming its own limit, so it is lifted while we open and
    # restored after, as is the block size: callers of Pillow elsewhere in the process keep their settings.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    block_size = Image.core.get_block_size()
    Image.MAX_IMAGE_PIXELS = None
    Image.core.set_block_size(_SINGLE_BLOCK_BYTES)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            try:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageTooLarge(f"refused: image declares {width}x{height} = {width * height:,} pixels, "
                                        f"above the limit of {max_pixels:,}")
                peak = predicted_peak_bytes(image, len(data))
                if peak > max_bytes:
                    raise ImageTooLarge(
                        f"refused: {image.format or 'image'} {image.mode} {width}x{height} would need about {peak:,} "
                        f"bytes to decode and hash, above the limit of {max_bytes:,} bytes"
                    )
                image.load()
            finally:
                if inspect is not None:
                    inspect(image)
        frames = getattr(image, "n_frames", 1)
        try:
            return _to_pixels(_normalise(image), frames)
        except Exception as exc:  # noqa: BLE001
            raise EvidenceReadError(f"cannot convert image mode {image.mode}: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise EvidenceReadError("not a decodable image (format not recognised by the decoder)") from exc
    except EvidenceReadError:
        raise
    except MemoryError as exc:
        raise ImageTooLarge("image too large to decode in memory") from exc
    except Exception as exc:  # noqa: BLE001 - hostile input makes decoders raise anything
        raise EvidenceReadError(f"corrupt or truncated image: {exc}") from exc
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
        Image.core.set_block_size(block_size)


def predicted_peak_bytes(image: Image.Image, encoded_bytes: int) -> int:
    """An upper bound of the memory that decoding and hashing an opened (not loaded) image will hold at its peak.

    Three stages follow one another, each holding its own full-size buffers; the peak is the largest, plus the
    encoded file, which the caller holds throughout:
      decoding     Pillow's pixels (1, 2 or 4 bytes a pixel by mode) and the decoder's own buffers (`_decoder_bytes`);
      normalising  the decoded pixels and their 8-bit form (none for direct modes, 1 byte a pixel for 1-bit, wide and
                   float modes, which are scaled tile by tile; 4 for a conversion to RGB);
      hashing      the normalised pixels and the PDQ engine's buffers (`_engine_bytes`); a direct-mode image is lent
                   to the engine, so its decoder's lasting buffers are still held.
    """
    width, height = image.size
    pixels = width * height
    stored = _STORAGE_BYTES.get(image.mode, 4) * pixels
    transient, lasting = _decoder_bytes(image)
    decoding = stored + transient + lasting
    if image.mode in _DIRECT_MODES:
        lent = stored + (2 * stored if stored > _SINGLE_BLOCK_BYTES else 0)  # copied out of several blocks
        normalising, hashing = stored + lasting, lent + lasting
    else:
        scaled = _SIXTEEN_BIT_MODES | {"I", "F"}
        normalised = pixels if image.mode in scaled else 4 * pixels
        tiles = _TILE_TEMPORARY_BYTES if image.mode in scaled else 0
        # The tiles' temporaries are counted while hashing too: the allocator may keep them in its heap.
        normalising, hashing = stored + lasting + normalised + tiles, normalised + tiles
    return encoded_bytes + max(decoding, normalising, hashing + _engine_bytes(height, width))


def _decoder_bytes(image: Image.Image) -> tuple[int, int]:
    """(transient, lasting) bytes a decoder holds beside Pillow's pixels: freed when loading ends, or kept with it.

    libtiff (compressed TIFF) decodes a whole strip or tile into one buffer, whose size the header declares, in
    at least Pillow's bytes a pixel (RGBA for YCbCr and JPEG-in-TIFF). libwebp keeps two RGBA canvases and Pillow
    a copy of the frame as bytes, for as long as the image lives. A progressive JPEG is decoded from a buffer of
    all its DCT coefficients: 2 bytes a sample of each component (an upper bound, without chroma subsampling).
    """
    width, height = image.size
    pixels = width * height
    if image.format == "TIFF" and image.info.get("compression", "raw") != "raw":
        tags = getattr(image, "tag_v2", {})
        bits = sum(_tag_values(tags, 258, 8))
        per_pixel = max(-(-bits // 8), _STORAGE_BYTES.get(image.mode, 4))
        if 322 in tags and 323 in tags:
            return _tag_values(tags, 322, 0)[0] * _tag_values(tags, 323, 0)[0] * per_pixel, 0
        rows = min(_tag_values(tags, 278, height)[0], height)
        return rows * width * per_pixel, 0
    if image.format == "WEBP":
        return 0, 12 * pixels
    if image.format == "JPEG" and image.info.get("progressive"):
        return 2 * len(image.getbands()) * pixels, 0
    return 0, 0


def _tag_values(tags: Any, tag: int, default: int) -> tuple[int, ...]:
    """A TIFF tag's values as non-negative integers (a hostile file may give any type or count), else `default`."""
    value = tags.get(tag, default)
    values = value if isinstance(value, tuple) else (value,)
    try:
        return tuple(max(0, int(v)) for v in values) or (default,)
    except (TypeError, ValueError):
        return (default,)


def _engine_bytes(rows: int, cols: int) -> int:
    """The PDQ engine's allocations for an image (`downsample` in _pdqcore.c): a ring of `window` + 20 rows (rows
    `row_pitch` floats apart), a block and two staging blocks of 16 rows, 64 floats a row for the sampled columns,
    and the column sums."""
    if rows < 5 or cols < 5 or (rows, cols) == (64, 64):
        return 0
    window = -(-rows // 128)
    pitch = -(-cols // 16) * 16
    pitch += 16 if pitch % 1024 == 0 else 0
    return 4 * ((window + 20) * pitch + 3 * 16 * cols + 64 * rows + cols)


def _to_pixels(normalised: Image.Image | np.ndarray, frames: int) -> Pixels:
    if not isinstance(normalised, Image.Image):  # a grey array scaled by tiles (`_normalise`)
        import numpy as np

        return Pixels(np.ascontiguousarray(normalised), normalised.shape[0], normalised.shape[1], 1, frames=frames)
    width, height = normalised.size
    pixel_size = _DIRECT_MODES[normalised.mode]
    try:
        _, capsule = normalised.__arrow_c_array__()
    except (AttributeError, ValueError):  # older Pillow, or rows in several blocks: copy instead
        import numpy as np

        if normalised.mode in _PALETTE_MODES | {"LA", "1"}:  # NumPy sees their bands, not Pillow's storage
            normalised = normalised.convert("RGB")
        array = np.ascontiguousarray(np.asarray(normalised))
        return Pixels(array, height, width, 1 if array.ndim == 2 else array.shape[2], owner=normalised, frames=frames)
    palette = _palette_colours(normalised) if normalised.mode in _PALETTE_MODES else None
    return Pixels(capsule, height, width, pixel_size, owner=normalised, frames=frames, palette=palette)


def _palette_colours(image: Image.Image) -> bytes:
    """The RGB colour that `convert("RGB")` gives each of the 256 indices of a palette image (768 bytes): a 256-pixel
    image holding every index, with the image's palette, converted by Pillow itself, so an index the palette does not
    define maps to what a conversion of the whole image would give it."""
    ramp = image.crop((0, 0, 256, 1))  # the same mode, palette and info; its pixels are replaced
    ramp.putdata([(index, 255) for index in range(256)] if image.mode == "PA" else list(range(256)))
    colours = ramp.convert("RGB").tobytes()
    if len(colours) != 768:
        raise ValueError(f"palette of {len(colours)} bytes")
    return colours


def _normalise(image: Image.Image) -> Image.Image | np.ndarray:
    """A Pillow image in a direct mode (`_DIRECT_MODES`), or a grey uint8 array for wide and float modes.

    The conversions are those of the module docstring: colours of palettes (read through the palette by the engine)
    and CMYK, 0/255 for 1-bit (as Pillow stores it), alpha dropped (the engine reads R, G, B or L only), wide
    integers scaled like ImageMagick. A converted image's source is closed as soon as it is converted, so the two
    are not both held while the engine runs.
    """
    mode = image.mode
    if mode in _DIRECT_MODES:  # read as stored: no converted copy
        return image
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        top_byte = mode == "I" and image.getextrema()[1] > 0xFFFF  # a true 32-bit image: keep the top byte
        normalised = _grey_by_tiles(image, lambda values: _scale_wide_to_8bit(values, top_byte))
    elif mode == "F":
        scale = _float_in_unit_range(image)
        normalised = _grey_by_tiles(image, lambda values: _float_to_8bit(values, scale))
    else:
        normalised = image.convert("RGB")
    image.close()
    return normalised


def _tiles(width: int, height: int) -> Iterator[tuple[int, int, int, int]]:
    """Boxes of at most _TILE_PIXELS pixels covering the image: bands of whole rows, split when a row is longer."""
    rows = max(1, _TILE_PIXELS // max(width, 1))
    cols = min(width, _TILE_PIXELS)
    for top in range(0, height, rows):
        for left in range(0, width, cols):
            yield left, top, min(left + cols, width), min(top + rows, height)


def _grey_by_tiles(image: Image.Image, to_8bit: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """The image's samples mapped to uint8 by `to_8bit`, one tile at a time, into one (H, W) array."""
    import numpy as np

    width, height = image.size
    grey = np.empty((height, width), dtype=np.uint8)
    for left, top, right, bottom in _tiles(width, height):
        grey[top:bottom, left:right] = to_8bit(np.asarray(image.crop((left, top, right, bottom))))
    return grey


def _float_in_unit_range(image: Image.Image) -> bool:
    """Whether the finite samples of a float image all lie in 0..1 (then they are scaled by 255), tile by tile."""
    import numpy as np

    low, high, found = np.inf, -np.inf, False
    for box in _tiles(*image.size):
        values = np.asarray(image.crop(box), dtype=np.float32)
        finite = values[np.isfinite(values)]
        if finite.size:
            low, high, found = min(low, finite.min()), max(high, finite.max()), True
    return found and low >= 0.0 and high <= 1.0


def _float_to_8bit(values: np.ndarray, scale: bool) -> np.ndarray:
    """Float samples to 8 bits: times 255 if the image is in 0..1, NaN as 0, clipped, rounded half up."""
    import numpy as np

    values = np.asarray(values, dtype=np.float32)
    if scale:
        values = values * 255.0
    grey = np.clip(np.nan_to_num(values, nan=0.0), 0, 255)
    return np.floor(grey + 0.5).astype(np.uint8)


def _scale_wide_to_8bit(values: np.ndarray, top_byte: bool) -> np.ndarray:
    """Scale 16-bit (or wider) integer samples to 8 bits with ImageMagick's rounding (q / 257, rounded); with
    `top_byte` (an image with samples above 16 bits), keep the top byte of 32, rounded."""
    import numpy as np

    wide = values.astype(np.int64)
    np.clip(wide, 0, None, out=wide)
    if top_byte:
        return np.clip((wide + (1 << 23)) >> 24, 0, 255).astype(np.uint8)
    quantum = wide + 128
    return ((quantum - (quantum >> 8)) >> 8).astype(np.uint8)
