"""Image decoding for perceptual hashing: any Pillow mode in, 8-bit RGB pixels out, as the reference decoder gives.

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

import numpy as np
from PIL import Image, UnidentifiedImageError

from hashwarden.config import MAX_IMAGE_PIXELS
from hashwarden.errors import EvidenceReadError, ImageTooLarge

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}


def decode_rgb(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode an image's bytes to an (H, W, 3) uint8 array of its first frame.

    Raises:
        ImageTooLarge: the header declares more than `max_pixels` pixels (nothing is allocated).
        EvidenceReadError: the content is not a decodable image, or is corrupt or truncated.
    """
    # hashwarden enforces its own pixel limit (below, from the header, before any pixel is allocated). Pillow's
    # process-wide limit would refuse at another size, naming its own limit, so it is lifted while we open and
    # restored after: callers of Pillow elsewhere in the process keep their setting.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
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
    try:
        return to_rgb8(image)
    except Exception as exc:  # noqa: BLE001
        raise EvidenceReadError(f"cannot convert image mode {image.mode}: {exc}") from exc


def to_rgb8(image: Image.Image) -> np.ndarray:
    """Normalise a decoded Pillow image of any mode to an (H, W, 3) uint8 RGB array (see module docstring)."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        grey = _scale_wide_to_8bit(np.asarray(image))
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        values = np.asarray(image, dtype=np.float32)
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0:
            values = values * 255.0
        grey = np.clip(np.nan_to_num(values, nan=0.0), 0, 255)
        grey = np.floor(grey + 0.5).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "RGB":
        return np.asarray(image)
    if mode == "1":
        image = image.convert("L")
    return np.asarray(image.convert("RGB"))


def _scale_wide_to_8bit(values: np.ndarray) -> np.ndarray:
    """Scale 16-bit (or wider) integer samples to 8 bits with ImageMagick's rounding (q / 257, rounded)."""
    wide = values.astype(np.int64)
    np.clip(wide, 0, None, out=wide)
    if wide.size and wide.max() > 0xFFFF:  # a true 32-bit image: keep the top byte, rounded
        return np.clip((wide + (1 << 23)) >> 24, 0, 255).astype(np.uint8)
    quantum = wide + 128
    return ((quantum - (quantum >> 8)) >> 8).astype(np.uint8)
