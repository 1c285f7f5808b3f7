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
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from hashwarden.config import MAX_IMAGE_PIXELS
from hashwarden.errors import EvidenceReadError, ImageTooLarge

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
# Modes whose pixels the PDQ engine reads as they are: 4 bytes per pixel (R, G, B, ignored) or 1 (grey).
_DIRECT_MODES = {"RGB": 4, "RGBA": 4, "RGBX": 4, "L": 1}
# Pillow allocates large images in 16 MB blocks, whose rows are not contiguous and so cannot be lent without a
# copy; while hashwarden decodes, one block holds a whole image (up to this size, else the copy path is used).
_SINGLE_BLOCK_BYTES = 1 << 30


@dataclass(frozen=True)
class Pixels:
    """Decoded, normalised pixels of one image, ready for a PDQ engine.

    `source` is either Pillow's zero-copy Arrow export ("arrow_array" capsule) of `owner`, or a C-contiguous uint8
    array; `pixel_size` is 1 (grey, R = G = B), 3 (RGB) or 4 (RGB + an ignored byte). `frames` counts the frames
    or pages of the file, of which only the first is hashed.
    """

    source: Any
    rows: int
    cols: int
    pixel_size: int
    owner: Any = None
    frames: int = 1

    @classmethod
    def from_rgb(cls, rgb: np.ndarray) -> "Pixels":
        """Pixels of an (H, W, 3) uint8 array (video frames, tests)."""
        array = np.ascontiguousarray(rgb, dtype=np.uint8)
        if array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) array, got shape {array.shape}")
        return cls(array, array.shape[0], array.shape[1], 3)

    def rgb(self) -> np.ndarray:
        """The pixels as an (H, W, 3) uint8 array (a copy): what the reference engine and tests consume."""
        if isinstance(self.source, np.ndarray):
            if self.pixel_size == 1:
                return np.repeat(self.source.reshape(self.rows, self.cols, 1), 3, axis=2)
            return self.source.reshape(self.rows, self.cols, self.pixel_size)[:, :, :3].copy()
        return np.asarray(self.owner.convert("RGB"))


def decode_rgb(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image's bytes to an (H, W, 3) uint8 array of its first frame (see `decode_pixels`)."""
    return decode_pixels(data, max_pixels=max_pixels).rgb()


def decode_pixels(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> Pixels:
    """Decode an image's bytes to normalised pixels of its first frame, lending Pillow's memory where it can.

    Raises:
        ImageTooLarge: the header declares more than `max_pixels` pixels (nothing is allocated).
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
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    f"refused: image declares {width}x{height} = {width * height:,} pixels, above the limit of {max_pixels:,}"
                )
            image.load()
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


def _to_pixels(normalised: Image.Image | np.ndarray, frames: int) -> Pixels:
    if isinstance(normalised, np.ndarray):
        return Pixels(np.ascontiguousarray(normalised), normalised.shape[0], normalised.shape[1], 1, frames=frames)
    width, height = normalised.size
    pixel_size = _DIRECT_MODES[normalised.mode]
    try:
        _, capsule = normalised.__arrow_c_array__()
        return Pixels(capsule, height, width, pixel_size, owner=normalised, frames=frames)
    except (AttributeError, ValueError):  # older Pillow, or rows in several blocks: copy instead
        array = np.ascontiguousarray(np.asarray(normalised))
        return Pixels(array, height, width, 1 if array.ndim == 2 else array.shape[2], owner=normalised, frames=frames)


def _normalise(image: Image.Image) -> Image.Image | np.ndarray:
    """A Pillow image in a direct mode (RGB, RGBA, RGBX, L), or a grey uint8 array for wide and float modes.

    The conversions are those of the module docstring: colours of palettes and CMYK, 0/255 for 1-bit, alpha
    dropped (the engine reads R, G, B only), wide integers scaled like ImageMagick.
    """
    mode = image.mode
    if mode in _DIRECT_MODES:
        return image
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        return _scale_wide_to_8bit(np.asarray(image))
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            values = values * 255.0
        grey = np.clip(np.nan_to_num(values, nan=0.0), 0, 255)
        return np.floor(grey + 0.5).astype(np.uint8)
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def _scale_wide_to_8bit(values: np.ndarray) -> np.ndarray:
    """Scale 16-bit (or wider) integer samples to 8 bits with ImageMagick's rounding (q / 257, rounded)."""
    wide = values.astype(np.int64)
    np.clip(wide, 0, None, out=wide)
    if wide.size and wide.max() > 0xFFFF:  # a true 32-bit image: keep the top byte, rounded
        return np.clip((wide + (1 << 23)) >> 24, 0, 255).astype(np.uint8)
    quantum = wide + 128
    return ((quantum - (quantum >> 8)) >> 8).astype(np.uint8)
