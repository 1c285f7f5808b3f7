"""Metadata of images and videos, read from the file's own tags, never from its pixels: who made it, with what and when.

Why these fields: a victim-identification team links new material to a camera or phone (make, model, body and lens
serial numbers, the software that wrote it), to a time (capture time with its zone) and to a place (GPS); an
embedded EXIF thumbnail is reported as a flag only (it may show the picture before an edit: the examiner opens the
file in an approved viewer; hashwarden never extracts it).

Why read here and not with a second tool: the scan already holds each image's bytes and opens them with Pillow to
hash them, and each video with PyAV (FFmpeg) for vPDQ. Reading the tags from those objects costs a few tens of
microseconds an image (docs/architecture.md, Leads), where exiftool costs a process or a pipe round trip per file
and a second read of the bytes. exiftool stays the reference the tests check these readers against.

Which tags:
  make, model, software   EXIF IFD0 Make (0x010F), Model (0x0110), Software (0x0131); XMP tiff:Make, tiff:Model,
                          xmp:CreatorTool when EXIF has none. Videos: QuickTime keys (com.apple.quicktime.make ...),
                          the udta atoms FFmpeg names make/model/encoder, Android's com.android.manufacturer/model.
  serial                  EXIF BodySerialNumber (0xA431); without it, DNG's CameraSerialNumber (0xC62F, IFD0: the
                          Adobe DNG specification's own field, written by raw converters), then XMP exifEX:
                          BodySerialNumber or aux:SerialNumber (Adobe's auxiliary namespace, which Lightroom and
                          Photoshop fill from the maker note). Maker notes themselves are not parsed: each vendor's
                          format differs and is where hostile-file parser bugs live.
  lens_serial             EXIF LensSerialNumber (0xA435); XMP exifEX:LensSerialNumber or aux:LensSerialNumber.
  captured                EXIF DateTimeOriginal (0x9003) with OffsetTimeOriginal (0x9011) when present, as ISO
                          8601 (`2024-05-01T10:20:30+02:00`, or without a zone when the file states none). Videos:
                          com.apple.quicktime.creationdate (with its zone), else the container's creation_time (UTC).
  gps                     {"latitude", "longitude"} in degrees from the GPS IFD (0x8825) or a video's ISO 6709
                          location; {} when GPS tags are present without usable coordinates.
  has_thumbnail           IFD1 declares a JPEG thumbnail (0x0201/0x0202) or strips (0x0111).

Hostile files: every value is checked (type, length, printable text; coordinates finite and in range), a value that
fails is left out, and a reader that fails altogether gives `problem` (the item's note), never an exception: the
scan goes on. Bounds: EXIF is parsed by Pillow from the bytes already in memory (a JPEG APP1 segment is at most
64 KiB; a TIFF's offsets are read from the file's own bytes, so no count can make it read more than the file), only
IFD0, the Exif, GPS and IFD1 directories are read (no chain is followed, so an offset loop is read once), EXIF
above `_MAX_EXIF_BYTES` is not parsed (a problem note), and XMP is searched in its first `_MAX_XMP_BYTES` with
fixed patterns (no XML parser on hostile input).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FIELDS = ("make", "model", "serial", "lens_serial", "software", "captured", "gps", "has_thumbnail")
"""report.json's `metadata` keys, in order. A key is absent when the file does not state it (never null)."""

_MAX_TEXT_CHARS = 128  # a make, model or serial number longer than this is not one
_MAX_XMP_BYTES = 1 << 20
# A JPEG's EXIF is one APP1 segment (64 KiB at most); PNG and WebP carry the same structure in a chunk of any size.
_MAX_EXIF_BYTES = 1 << 20

_MAKE, _MODEL, _SOFTWARE = 0x010F, 0x0110, 0x0131
_EXIF_IFD, _GPS_IFD, _IFD1 = 0x8769, 0x8825, -1  # IFD1: Pillow's ExifTags.IFD.IFD1
_DNG_CAMERA_SERIAL = 0xC62F
_DATE_TIME_ORIGINAL, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9011
_BODY_SERIAL, _LENS_SERIAL = 0xA431, 0xA435
_THUMBNAIL_OFFSET, _THUMBNAIL_LENGTH, _STRIP_OFFSETS = 0x0201, 0x0202, 0x0111

_EXIF_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_ZONE = re.compile(r"([+-])(\d{2}):?(\d{2})$|Z$")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")
_ISO6709 = re.compile(r"([+-]\d{1,3}(?:\.\d+)?)([+-]\d{1,3}(?:\.\d+)?)")

# XMP properties by field, in order of preference; each may be an attribute (name="v") or an element (<name>v<).
_XMP_PROPERTIES = {
    "make": ("tiff:Make",),
    "model": ("tiff:Model",),
    "serial": ("exifEX:BodySerialNumber", "aux:SerialNumber"),
    "lens_serial": ("exifEX:LensSerialNumber", "aux:LensSerialNumber"),
    "software": ("xmp:CreatorTool",),
}

# Video tags (FFmpeg's names, lower case) by field, in order of preference.
_VIDEO_TAGS = {
    "make": ("com.apple.quicktime.make", "make", "com.android.manufacturer"),
    "model": ("com.apple.quicktime.model", "model", "com.android.model"),
    "software": ("com.apple.quicktime.software", "software", "com.android.version", "encoder"),
}
_VIDEO_CAPTURED = ("com.apple.quicktime.creationdate", "creation_time")
_VIDEO_LOCATION = ("com.apple.quicktime.location.iso6709", "location")


@dataclass
class Metadata:
    """What one file says about itself: `fields` as report.json's `metadata` holds them, and `problem`, why a
    reader gave up (the item's note), if it did."""

    fields: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None


def read_image(image: Any) -> Metadata:
    """The metadata of an opened Pillow image (loaded or not: nothing here decodes pixels). Never raises."""
    result = Metadata()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns of each corrupt tag; what is left out is what was corrupt
        try:
            exif = _exif(image)
            if exif is not None:
                _from_exif(exif, result.fields)
        except _TooLarge as exc:
            result.problem = str(exc)
        except Exception as exc:  # noqa: BLE001 - hostile EXIF makes Pillow raise anything; the hashes stand
            result.problem = f"EXIF unreadable ({type(exc).__name__}: {_clean(str(exc))[:200] or 'no detail'})"
        try:
            xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
            if isinstance(xmp, str):
                xmp = xmp.encode("utf-8", "replace")
            if isinstance(xmp, (bytes, bytearray)):
                _from_xmp(bytes(xmp[:_MAX_XMP_BYTES]), result.fields)
        except Exception as exc:  # noqa: BLE001
            result.problem = result.problem or f"XMP unreadable ({type(exc).__name__})"
    return result


class _TooLarge(Exception):
    pass


def _exif(image: Any) -> Any:
    """The image's EXIF as Pillow's `Exif`, parsed from the bytes the decoder already holds (`info["exif"]`), or
    from a TIFF's own first directory; None when there is none. `Image.getexif` is not called on other formats: on
    a PNG whose eXIf chunk was not reached it loads the pixels, which for an image refused as too large is the very
    allocation the refusal avoided."""
    from PIL import Image, TiffImagePlugin

    raw = image.info.get("exif")
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > _MAX_EXIF_BYTES:
            raise _TooLarge(f"EXIF of {len(raw):,} bytes, above the limit of {_MAX_EXIF_BYTES:,}: not read")
        exif = Image.Exif()
        exif.load(bytes(raw))
        return exif
    if isinstance(image, TiffImagePlugin.TiffImageFile):
        return image.getexif()
    return None


def read_video(tags: Mapping[str, str]) -> Metadata:
    """The metadata of a video from its container's and first video stream's tags (PyAV `metadata`). Never raises."""
    result = Metadata()
    lowered = {str(k).lower(): v for k, v in tags.items()}
    for name, keys in _VIDEO_TAGS.items():
        for key in keys:
            if (text := _text(lowered.get(key))) is not None:
                result.fields[name] = text
                break
    for key in _VIDEO_CAPTURED:
        if (captured := _iso_time(_text(lowered.get(key)))) is not None:
            result.fields["captured"] = captured
            break
    for key in _VIDEO_LOCATION:
        if (location := _text(lowered.get(key))) is not None:
            result.fields["gps"] = _iso6709(location)
            break
    return result


def report_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields in report.json's order, absent and false values left out (a thumbnail is stated only when
    present), so `metadata` is absent on an item whose file states nothing."""
    return {name: fields[name] for name in FIELDS if fields.get(name) not in (None, False)}


# EXIF -------------------------------------------------------------------------------------------------------------
def _from_exif(exif: Any, fields: dict[str, Any]) -> None:
    _put(fields, "make", exif.get(_MAKE))
    _put(fields, "model", exif.get(_MODEL))
    _put(fields, "software", exif.get(_SOFTWARE))
    detail = _ifd(exif, _EXIF_IFD)
    _put(fields, "serial", detail.get(_BODY_SERIAL))
    _put(fields, "serial", exif.get(_DNG_CAMERA_SERIAL))
    _put(fields, "lens_serial", detail.get(_LENS_SERIAL))
    captured = _exif_time(_text(detail.get(_DATE_TIME_ORIGINAL)), _text(detail.get(_OFFSET_TIME_ORIGINAL)))
    if captured:
        fields["captured"] = captured
    if _GPS_IFD in exif:
        fields["gps"] = _gps(_ifd(exif, _GPS_IFD))
    thumbnail = _ifd(exif, _IFD1)
    fields["has_thumbnail"] = bool(thumbnail.get(_THUMBNAIL_OFFSET) and thumbnail.get(_THUMBNAIL_LENGTH)) or \
        _STRIP_OFFSETS in thumbnail


def _ifd(exif: Any, tag: int) -> Mapping[int, Any]:
    """One sub-directory, or {} when it is absent or unreadable (the rest of the EXIF still counts)."""
    try:
        ifd = exif.get_ifd(tag)
    except Exception:  # noqa: BLE001 - a bad offset in one directory loses that directory only
        return {}
    return ifd if isinstance(ifd, Mapping) else {}


def _exif_time(stamp: str | None, offset: str | None) -> str | None:
    """`YYYY:MM:DD HH:MM:SS` (+ `±HH:MM`) as ISO 8601; None for a date that is not one (all zeros, month 13)."""
    match = _EXIF_DATE.match(stamp or "")
    if not match:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60 and year > 0):
        return None
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    return text + (_zone(offset) or "")


def _zone(offset: str | None) -> str | None:
    match = _ZONE.match((offset or "").strip())
    if not match:
        return None
    if match.group(0) == "Z":
        return "+00:00"
    sign, hours, minutes = match.groups()
    return f"{sign}{hours}:{minutes}" if int(hours) <= 14 and int(minutes) <= 59 else None


def _iso_time(text: str | None) -> str | None:
    """An ISO 8601 time as FFmpeg gives it (`2024-05-01T10:20:30.000000Z`, `2024-05-01T10:20:30+0200`), seconds
    precision, zone as ±HH:MM."""
    match = _ISO_DATE.match(text or "")
    if not match:
        return None
    parts, zone = match.groups()[:6], match.group(7)
    stamp = _exif_time("{}:{}:{} {}:{}:{}".format(*parts), None)
    return stamp + (_zone(zone) or "") if stamp else None


def _gps(ifd: Mapping[int, Any]) -> dict[str, float]:
    """Latitude and longitude in degrees (north and east positive), or {} when either is missing or absurd."""
    latitude = _degrees(ifd.get(2), ifd.get(1), "S", 90)
    longitude = _degrees(ifd.get(4), ifd.get(3), "W", 180)
    if latitude is None or longitude is None:
        return {}
    return {"latitude": latitude, "longitude": longitude}


def _degrees(value: Any, reference: Any, negative: str, limit: float) -> float | None:
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    total = degrees + minutes / 60 + seconds / 3600
    if not math.isfinite(total) or not 0 <= total <= limit:
        return None
    return round(-total if _text(reference) == negative else total, 7)


def _iso6709(text: str) -> dict[str, float]:
    match = _ISO6709.match(text)
    if not match:
        return {}
    latitude, longitude = float(match.group(1)), float(match.group(2))
    if not (abs(latitude) <= 90 and abs(longitude) <= 180):
        return {}
    return {"latitude": round(latitude, 7), "longitude": round(longitude, 7)}


# XMP --------------------------------------------------------------------------------------------------------------
def _from_xmp(xmp: bytes, fields: dict[str, Any]) -> None:
    for name, properties in _XMP_PROPERTIES.items():
        for prop in properties:
            if name in fields:
                break
            escaped = re.escape(prop.encode("ascii"))
            match = re.search(rb"\b" + escaped + rb"(?:=\"([^\"<]{1,256})\"|>([^<]{1,256})<)", xmp)
            if match:
                _put(fields, name, (match.group(1) or match.group(2)).decode("utf-8", "replace"))


# Values ------------------------------------------------------------------------------------------------------------
def _put(fields: dict[str, Any], name: str, value: Any) -> None:
    """Set a field once (the first source in order of preference wins) when `value` is usable text."""
    if name not in fields and (text := _text(value)) is not None:
        fields[name] = text


def _text(value: Any) -> str | None:
    """A tag's value as one line of printable text, or None. EXIF ASCII is read by Pillow as Latin-1; the bytes
    are decoded again as UTF-8 (what cameras and exiftool use), bad sequences as U+FFFD."""
    if isinstance(value, str):
        try:
            value = value.encode("latin-1")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace")
    if not isinstance(value, (bytes, bytearray)):
        return None
    text = bytes(value).split(b"\x00", 1)[0].decode("utf-8", "replace")
    text = _clean(text)
    return text if text and len(text) <= _MAX_TEXT_CHARS else None


def _clean(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable()).strip()
