"""Benign synthetic images carrying EXIF written byte by byte (a camera serial, GPS, a thumbnail, an offset time),
and hostile ones (IFD offset loops, absurd counts, bad UTF-8, huge EXIF). The pixels are procedural scenes
(`demo.synthetic.scene`); the thumbnail is a tiny grey JPEG of no picture at all.

Why by hand and not with Pillow's Exif writer: Pillow writes no IFD1 (the thumbnail's directory) and never writes a
malformed directory, and both are what the readers must be tested on.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

from PIL import Image

from hashwarden.demo.synthetic import scene

ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 2, 3, 4, 5, 7
_SIZES = {ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1}

Entry = tuple[int, int, Any]  # tag, type, value (str/bytes for ASCII and UNDEFINED, tuple of ints or (num, den))


def _encode(kind: int, value: Any) -> tuple[int, bytes]:
    if kind in (ASCII, UNDEFINED):
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        data += b"\x00" if kind == ASCII and not data.endswith(b"\x00") else b""
        return len(data), data
    if kind == RATIONAL:
        return len(value), b"".join(struct.pack(">II", n, d) for n, d in value)
    fmt = ">H" if kind == SHORT else ">I"
    return len(value), b"".join(struct.pack(fmt, v) for v in value)


def _ifd(entries: list[Entry], offset: int, next_ifd: int) -> bytes:
    """One directory at `offset`, its out-of-line values right after it."""
    head = struct.pack(">H", len(entries))
    data_at = offset + 2 + 12 * len(entries) + 4
    body, extra = b"", b""
    for tag, kind, value in sorted(entries, key=lambda e: e[0]):
        count, data = _encode(kind, value)
        if len(data) <= 4:
            body += struct.pack(">HHI", tag, kind, count) + data.ljust(4, b"\x00")
        else:
            body += struct.pack(">HHII", tag, kind, count, data_at + len(extra))
            extra += data + (b"\x00" if len(data) % 2 else b"")
    return head + body + struct.pack(">I", next_ifd) + extra


def _size(entries: list[Entry]) -> int:
    return len(_ifd(entries, 0, 0))


def exif_bytes(ifd0: list[Entry], exif: list[Entry] = (), gps: list[Entry] = (), thumbnail: bytes | None = None,
               *, prefix: bool = True) -> bytes:
    """A big-endian TIFF structure: IFD0 (with pointers to the Exif and GPS directories when given), then those,
    then IFD1 with a JPEG thumbnail when `thumbnail` is given. `prefix`: the `Exif\\0\\0` of a JPEG APP1 segment."""
    ifd0, exif, gps = list(ifd0), list(exif), list(gps)
    if exif:
        ifd0.append((0x8769, LONG, (0,)))
    if gps:
        ifd0.append((0x8825, LONG, (0,)))
    at0 = 8
    at_exif = at0 + _size(ifd0)
    at_gps = at_exif + (_size(exif) if exif else 0)
    at_ifd1 = at_gps + (_size(gps) if gps else 0)
    ifd1 = [(0x0201, LONG, (0,)), (0x0202, LONG, (len(thumbnail or b""),)), (0x0103, SHORT, (6,))]
    at_thumb = at_ifd1 + _size(ifd1)
    ifd0 = [(t, k, (at_exif,) if t == 0x8769 else (at_gps,) if t == 0x8825 else v) for t, k, v in ifd0]
    ifd1 = [(t, k, (at_thumb,) if t == 0x0201 else v) for t, k, v in ifd1]
    out = b"MM\x00*" + struct.pack(">I", at0)
    out += _ifd(ifd0, at0, at_ifd1 if thumbnail is not None else 0)
    out += _ifd(exif, at_exif, 0) if exif else b""
    out += _ifd(gps, at_gps, 0) if gps else b""
    if thumbnail is not None:
        out += _ifd(ifd1, at_ifd1, 0) + thumbnail
    return (b"Exif\x00\x00" if prefix else b"") + out


def thumbnail_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (16, 12), 128).save(buffer, "JPEG")
    return buffer.getvalue()


def _dms(value: float) -> tuple[tuple[int, int], ...]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60 * 10000)
    return (degrees, 1), (minutes, 1), (seconds, 10000)


def camera_exif(*, make: str = "Canon", model: str = "EOS 5D", serial: str | None = "SN-0001",
                lens_serial: str | None = "LS-42", software: str = "Firmware 1.0.2",
                taken: str | None = "2024:05:01 10:20:30", offset: str | None = "+02:00",
                gps: tuple[float, float] | None = (51.50735, -0.1277), thumbnail: bool = True) -> bytes:
    """A camera's EXIF as a JPEG APP1 payload: what a benign photo of a park bench would carry."""
    ifd0 = [(0x010F, ASCII, make), (0x0110, ASCII, model), (0x0131, ASCII, software)]
    exif: list[Entry] = []
    if taken:
        exif.append((0x9003, ASCII, taken))
    if offset:
        exif.append((0x9011, ASCII, offset))
    if serial:
        exif.append((0xA431, ASCII, serial))
    if lens_serial:
        exif.append((0xA435, ASCII, lens_serial))
    gps_ifd: list[Entry] = []
    if gps:
        lat, lon = gps
        gps_ifd = [(1, ASCII, "N" if lat >= 0 else "S"), (2, RATIONAL, _dms(abs(lat))),
                   (3, ASCII, "E" if lon >= 0 else "W"), (4, RATIONAL, _dms(abs(lon)))]
    return exif_bytes(ifd0, exif, gps_ifd, thumbnail_jpeg() if thumbnail else None)


def photo(path: Path, seed: int, exif: bytes | None, *, fmt: str = "JPEG", size: tuple[int, int] = (160, 120),
          xmp: bytes | None = None) -> Path:
    """A scene saved with `exif` (APP1 payload for JPEG; the same bytes become an eXIf chunk in PNG and WebP) and
    an XMP packet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {"exif": exif} if exif is not None else {}
    if xmp is not None:
        kwargs["xmp"] = xmp
    scene(seed, size).save(path, fmt, **kwargs)
    return path


def xmp_packet(**properties: str) -> bytes:
    """An XMP packet as Lightroom writes one: properties as attributes of one rdf:Description."""
    attributes = " ".join(f'{name.replace("_", ":", 1)}="{value}"' for name, value in properties.items())
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" xmlns:aux="http://ns.adobe.com/exif/1.0/aux/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" {attributes}/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode("utf-8")


# Hostile EXIF --------------------------------------------------------------------------------------------------------
def looping_exif() -> bytes:
    """IFD0 whose Exif pointer and next-IFD pointer both point back at IFD0 itself."""
    ifd0 = [(0x010F, ASCII, "Loop"), (0x8769, LONG, (8,))]
    return b"Exif\x00\x00MM\x00*" + struct.pack(">I", 8) + _ifd(ifd0, 8, 8)


def absurd_count_exif() -> bytes:
    """Entries declaring 4 billion values at offsets inside (and past) the segment."""
    body = struct.pack(">H", 3)
    body += struct.pack(">HHII", 0x010F, ASCII, 0xFFFFFFFF, 8)
    body += struct.pack(">HHII", 0x8769, LONG, 0xFFFFFFFF, 8)
    body += struct.pack(">HHII", 0x0110, RATIONAL, 0x7FFFFFFF, 0xFFFFFF00)
    return b"Exif\x00\x00MM\x00*" + struct.pack(">I", 8) + body + struct.pack(">I", 0xFFFFFFF0)


def bad_utf8_exif() -> bytes:
    """Make and model with invalid UTF-8 and control characters; a serial of 4,000 characters; an impossible date
    and GPS rationals with zero denominators."""
    ifd0 = [(0x010F, ASCII, b"Can\xff\xfeon\x1b[31m"), (0x0110, ASCII, b"\xc3\x28 model")]
    exif = [(0xA431, ASCII, "9" * 4000), (0x9003, ASCII, "2024:13:45 99:99:99")]
    gps = [(1, ASCII, "N"), (2, RATIONAL, ((1, 0), (0, 0), (5, 0))),
           (3, ASCII, "E"), (4, RATIONAL, ((1, 1), (2, 1), (3, 1)))]
    return exif_bytes(ifd0, exif, gps, None)


def huge_exif(entries: int = 60_000) -> bytes:
    """An eXIf of ~60,000 entries (PNG carries it; a JPEG APP1 segment cannot exceed 64 KiB)."""
    ifd0 = [(0x010F, ASCII, "Huge")] + [(0x9000 + (i % 0x6000), ASCII, "x" * 40) for i in range(entries)]
    return exif_bytes(ifd0, prefix=False)
