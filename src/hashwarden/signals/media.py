"""File type by content (magic bytes), never by extension: seized files are often misnamed on purpose."""

from __future__ import annotations

from dataclasses import dataclass

# How many leading bytes `sniff` needs.
SNIFF_BYTES = 512


@dataclass(frozen=True)
class MediaType:
    """What the content is: `media` is the report's field (image, video, other), `format` a short name."""

    media: str
    format: str | None = None


OTHER = MediaType("other")

_ISO_BMFF_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}


def sniff(head: bytes) -> MediaType:
    """Classify content from its first bytes (at least SNIFF_BYTES when the file has them)."""
    if head.startswith(b"\xff\xd8\xff"):
        return MediaType("image", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return MediaType("image", "png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return MediaType("image", "gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return MediaType("image", "webp")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return MediaType("image", "tiff")
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return MediaType("image", "bmp")
    if head[:4] == b"\x00\x00\x01\x00" and len(head) > 6 and head[4:6] != b"\x00\x00":
        return MediaType("image", "ico")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _ISO_BMFF_IMAGE_BRANDS:
            return MediaType("image", "heif")
        return MediaType("video", "mp4")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return MediaType("video", "matroska")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return MediaType("video", "avi")
    if head[:3] == b"FLV":
        return MediaType("video", "flv")
    if head[:16] == bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c"):
        return MediaType("video", "asf")
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return MediaType("video", "mpeg")
    if len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47:
        return MediaType("video", "mpegts")
    for magic, fmt in _CONTAINER_MAGIC:
        if head.startswith(magic):
            return MediaType("other", fmt)
    if len(head) >= 262 and head[257:262] == b"ustar":
        return MediaType("other", "tar")
    return OTHER


# Containers: not media themselves, but the report names them (and the scan opens the ones it can read).
_CONTAINER_MAGIC = (
    (b"PK\x03\x04", "zip"), (b"PK\x05\x06", "zip"), (b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"), (b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!\x1a\x07", "rar"), (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"EVF\x09\x0d\x0a\xff\x00", "ewf"), (b"EVF2\x0d\x0a\x81\x00", "ewf2"),
)


# Extensions examiners expect to hold a given image format: a mismatch is worth a note in the report.
_EXTENSION_FORMATS = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "jfif": "jpeg", "png": "png", "gif": "gif", "webp": "webp",
    "tif": "tiff", "tiff": "tiff", "bmp": "bmp", "ico": "ico", "heic": "heif", "heif": "heif", "avif": "heif",
    "mp4": "mp4", "m4v": "mp4", "mov": "mp4", "3gp": "mp4", "mkv": "matroska", "webm": "matroska", "avi": "avi",
    "flv": "flv", "wmv": "asf", "asf": "asf", "mpg": "mpeg", "mpeg": "mpeg", "ts": "mpegts",
}


def extension_mismatch(name: str, detected: MediaType) -> str | None:
    """A note when a media extension disagrees with the content (`.jpg` holding PNG, or no image at all)."""
    _, dot, extension = name.rpartition(".")
    expected = _EXTENSION_FORMATS.get(extension.lower()) if dot else None
    if expected is None or expected == detected.format:
        return None
    found = detected.format or "not a recognised image or video"
    return f"named .{extension} but the content is {found}"
