"""One-pass hashing: every byte read once, digests right, images detected by content, bad content reported."""

from __future__ import annotations

import hashlib
import io
import tracemalloc

import pytest
from PIL import Image

from hashwarden.demo.synthetic import png_bytes_with_declared_size, scene
from hashwarden.signals import MD5, PDQ, SHA1, SHA256, HashOptions, hash_stream
from hashwarden.signals.media import extension_mismatch, sniff


class CountingReader(io.RawIOBase):
    """A file object that counts how many bytes are read and how often the stream is rewound."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)
        self.bytes_read = 0
        self.seeks = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._inner.read(size)
        self.bytes_read += len(chunk)
        return chunk

    def seek(self, *args: int) -> int:
        self.seeks += 1
        return self._inner.seek(*args)


def _jpeg(seed: int = 1, size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    scene(seed, size).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize("data", [b"", b"x", b"hello world" * 100_000, None])
def test_each_byte_read_once_and_digests_match_hashlib(data: bytes | None) -> None:
    data = _jpeg() if data is None else data
    reader = CountingReader(data)
    result = hash_stream(reader, HashOptions(chunk_size=4096))
    assert reader.bytes_read == len(data) and reader.seeks == 0
    assert result.size == len(data)
    assert result.md5 == hashlib.md5(data).hexdigest()
    assert result.sha1 == hashlib.sha1(data).hexdigest()
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_image_detected_by_content_and_hashed() -> None:
    data = _jpeg()
    result = hash_stream(io.BytesIO(data))
    assert (result.media, result.format) == ("image", "jpeg")
    assert PDQ.validate(result.pdq) == result.pdq and result.pdq_quality >= 50
    assert result.pdq_dihedral is None
    assert hash_stream(io.BytesIO(data), HashOptions(compute_pdq=False)).pdq is None


def test_truncated_image_keeps_digests_and_names_the_problem() -> None:
    data = _jpeg()[:3000]
    result = hash_stream(io.BytesIO(data))
    assert result.media == "image" and result.pdq is None
    assert "truncated" in result.error
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def traced_hash(data: bytes):  # noqa: ANN201 - (FileSignals, peak bytes Python allocated while hashing)
    tracemalloc.start()
    try:
        result = hash_stream(io.BytesIO(data))
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decompression_bomb_refused_before_allocating() -> None:
    result, peak = traced_hash(png_bytes_with_declared_size(100_000, 100_000))
    assert result.pdq is None and "100000x100000" in result.error and "limit" in result.error
    assert peak < 50 * 1024 * 1024


def test_pixel_limit_is_configurable() -> None:
    result = hash_stream(io.BytesIO(_jpeg(size=(200, 100))), HashOptions(max_image_pixels=10_000))
    assert result.pdq is None and "above the limit of 10,000" in result.error


def test_image_larger_than_byte_limit_is_digested_not_decoded() -> None:
    data = _jpeg()
    result = hash_stream(io.BytesIO(data), HashOptions(max_image_bytes=1000, chunk_size=512))
    assert result.pdq is None and result.error is None and result.sha1 == hashlib.sha1(data).hexdigest()
    assert "not decoded" in result.notes[0]


class FailingReader(io.RawIOBase):
    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        raise OSError(5, "Input/output error")


def test_read_error_reported_without_partial_digests() -> None:
    result = hash_stream(FailingReader())
    assert result.md5 is None and "read failed at offset 0" in result.error


@pytest.mark.parametrize(
    ("head", "media", "fmt"),
    [
        (b"\xff\xd8\xff\xe0", "image", "jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image", "png"),
        (b"GIF89a", "image", "gif"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image", "webp"),
        (b"II*\x00", "image", "tiff"),
        (b"\0\0\0\x18ftypisom", "video", "mp4"),
        (b"\0\0\0\x18ftypheic", "image", "heif"),
        (b"\x1a\x45\xdf\xa3", "video", "matroska"),
        (b"RIFF\0\0\0\0AVI LIST", "video", "avi"),
        (b"%PDF-1.7", "other", None),
        (b"", "other", None),
    ],
)
def test_sniff(head: bytes, media: str, fmt: str | None) -> None:
    kind = sniff(head)
    assert (kind.media, kind.format) == (media, fmt)


def test_extension_mismatch_notes() -> None:
    assert extension_mismatch("a.jpg", sniff(b"\x89PNG\r\n\x1a\n")) == "named .jpg but the content is png"
    assert "not a recognised" in extension_mismatch("a.JPG", sniff(b"random"))
    assert extension_mismatch("a.jpeg", sniff(b"\xff\xd8\xff")) is None
    assert extension_mismatch("README", sniff(b"text")) is None


def test_digest_signals_validate_and_examples() -> None:
    for signal in (MD5, SHA1, SHA256):
        for example in signal.examples:
            assert signal.validate(example.upper()) == example
        with pytest.raises(Exception, match=signal.name):
            signal.validate("xyz")
        assert signal.distance("a", "a") == 0 and signal.distance("a", "b") == 1
    for example in PDQ.examples:
        assert PDQ.validate(example) == example
    assert PDQ.distance(PDQ.examples[0], PDQ.examples[1]) == 2


def test_multi_frame_gif_hashes_first_frame() -> None:
    frames = [scene(s, (128, 96)).convert("P") for s in (1, 2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    result = hash_stream(io.BytesIO(buffer.getvalue()))
    first = io.BytesIO()
    frames[0].save(first, "GIF")
    assert result.pdq == hash_stream(io.BytesIO(first.getvalue())).pdq
    assert Image.open(io.BytesIO(buffer.getvalue())).n_frames == 2
