"""vPDQ: the PDQ hash of sampled video frames, as Meta's ThreatExchange `vpdq` computes it, and its match rule.

Why this shape: a re-encoded, trimmed or resized copy of a known video has a new MD5 but keeps most of its frames'
PDQ hashes within a small distance. vPDQ treats a video as a bag of frame hashes; two videos match when enough of
each one's (unique, good-quality) frames have a near frame in the other.

Hashing follows the reference (`vpdq/cpp/hashing/filehasher.cpp`, `ffmpegwrapper.h`) step by step, so that our
hashes agree with hashes other tools made: the first video stream is decoded with FFmpeg (PyAV's bundled libav);
frames are numbered in decoder output order from 0; frame n is hashed iff n % max(1, int(seconds_per_hash * fps))
== 0 (0 = every frame), fps being the stream's average frame rate (else its base rate); each hashed frame is
converted by swscale to RGB24 with SWS_AREA at its own size (or scaled to size x size), and hashed by our PDQ
engine on the full frame (no 512 px pre-resize); its timestamp is n / fps. Rotation metadata is not applied (the
reference does not: it hashes the stored pixels) but is reported. Frames that are not hashed are decoded (later
frames depend on them) but never converted.

The decoder's YUV -> RGB conversion differs slightly between FFmpeg versions and CPUs, so frame hashes are not
always bit-identical to the reference files; upstream's own regression rule (same frames in the same order,
distance < 31 where both qualities are >= 50) is what tests/signals/test_vpdq.py holds us to, and it reports how
many frames are identical.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from hashwarden.config import MAX_IMAGE_PIXELS
from hashwarden.errors import EvidenceReadError
from hashwarden.signals.image import Pixels
from hashwarden.signals.pdq import DEFAULT_ENGINE, PdqEngine

DISTANCE_THRESHOLD = 31  # frames within this PDQ distance are the same frame (python-threatexchange, `<=`)
QUALITY_THRESHOLD = 50  # frames below this quality take no part in matching


@dataclass(frozen=True)
class VpdqFrame:
    """One hashed frame: its number (decoder output order, from 0), PDQ quality, PDQ hash and time in seconds."""

    frame: int
    quality: int
    pdq: str
    timestamp: float

    def line(self) -> str:
        """The reference's hash-file line: `frame,quality,hash,seconds` (3 decimals)."""
        return f"{self.frame},{self.quality},{self.pdq},{self.timestamp:.3f}"

    def to_json(self) -> dict[str, Any]:
        return {"frame": self.frame, "quality": self.quality, "pdq": self.pdq, "timestamp": round(self.timestamp, 3)}


@dataclass
class VideoHash:
    """A video's vPDQ and what the decoder said: frame rate, frames decoded, rotation, and decoding gaps (a corrupt
    stretch is skipped and reported; the frames around it are still hashed)."""

    frames: list[VpdqFrame]
    fps: float
    decoded: int
    width: int
    height: int
    rotation: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None  # e.g. "no video stream" (audio only)


def hash_video(
    source: str | BinaryIO,
    *,
    seconds_per_hash: float = 1.0,
    size: int | None = None,
    engine: PdqEngine = DEFAULT_ENGINE,
    max_pixels: int = MAX_IMAGE_PIXELS,
    name: str | None = None,
    threads: int = 0,
) -> VideoHash:
    """vPDQ of a video file (a path or a seekable binary file object); `threads` for the decoder (0: automatic).

    Raises:
        EvidenceReadError: not a video container FFmpeg can open, a frame size above `max_pixels` (checked from
            the header, before any frame is decoded), or no usable frame rate.
    """
    import av

    where = name or (source if isinstance(source, str) else getattr(source, "name", None))
    if seconds_per_hash < 0:
        raise ValueError("seconds_per_hash must be >= 0")
    try:
        container = av.open(source, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError) as exc:
        hint = " (an MP4 cut short loses its index, the 'moov' box, when it is written last)" if \
            isinstance(where, str) and where.lower().endswith((".mp4", ".mov", ".m4v")) else ""
        raise EvidenceReadError(f"not a video FFmpeg can open: {_reason(exc)}{hint}", where) from exc
    with container:
        if not container.streams.video:
            return VideoHash([], 0.0, 0, 0, 0, note="no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"  # as the reference (frame threading adds latency and memory, same pixels)
        stream.codec_context.thread_count = threads  # 0: FFmpeg picks (one per core)
        width, height = stream.codec_context.width, stream.codec_context.height
        if width * height > max_pixels:
            raise EvidenceReadError(f"video frames of {width}x{height} exceed the limit of {max_pixels:,} pixels",
                                    where)
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if not fps > 0 or not math.isfinite(fps):
            raise EvidenceReadError("video stream declares no frame rate", where)
        every = max(1, int(seconds_per_hash * fps))
        result = VideoHash([], fps, 0, width, height)
        for frame in _frames(container, stream, result):
            number = result.decoded
            result.decoded += 1
            if not number:
                result.rotation = int(getattr(frame, "rotation", 0) or 0) % 360  # display matrix, reported only
            if number % every:
                continue
            if frame.width * frame.height > max_pixels:
                raise EvidenceReadError(f"video frame {number} of {frame.width}x{frame.height} exceeds the limit of "
                                        f"{max_pixels:,} pixels", where)
            rgb = frame.to_ndarray(format="rgb24", interpolation="AREA", width=size, height=size) if size else \
                frame.to_ndarray(format="rgb24", interpolation="AREA")
            pdq = engine.hash_pixels(Pixels.from_rgb(rgb))
            result.frames.append(VpdqFrame(number, pdq.quality, pdq.hash, number / fps))
        return result


def _frames(container: Any, stream: Any, result: VideoHash) -> Iterable[Any]:
    """Decoded frames in output order; a packet the decoder refuses is a gap (reported), not the end."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError as exc:  # the container itself is damaged from here on (e.g. truncated)
            _gap(result, f"demuxing stopped: {_reason(exc)}")
            packet = None
        try:
            frames = stream.decode(packet)  # None flushes the decoder at the end
        except av.FFmpegError as exc:
            _gap(result, f"undecodable packet: {_reason(exc)}")
            continue
        yield from frames
        if packet is None:
            return


def _gap(result: VideoHash, message: str) -> None:
    """Note packets lost after the frames decoded so far: consecutive ones are one gap, counted."""
    if result.gaps and result.gaps[-1]["after_frame"] == result.decoded:
        result.gaps[-1]["packets"] += 1
    else:
        result.gaps.append({"after_frame": result.decoded, "packets": 1, "message": message})


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


# --- the hash-file format -----------------------------------------------------------------------------------------


def format_frames(frames: Iterable[VpdqFrame]) -> str:
    """Frames as the reference writes them, one line each."""
    return "".join(frame.line() + "\n" for frame in frames)


def parse_frames(text: str, where: str = "vPDQ") -> list[VpdqFrame]:
    """Read the reference's hash-file lines (`frame,quality,hash,seconds`; the timestamp may be absent).

    Raises:
        ValueError: a malformed line (its number is in the message).
    """
    frames = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            if len(parts) not in (3, 4) or len(parts[2]) != 64:
                raise ValueError("expected frame,quality,64-hex-hash[,seconds]")
            int(parts[2], 16)
            frames.append(VpdqFrame(int(parts[0]), int(parts[1]), parts[2].lower(),
                                    float(parts[3]) if len(parts) == 4 else 0.0))
        except ValueError as exc:
            raise ValueError(f"{where} line {number}: {exc}: {line[:100]!r}") from None
    return frames


# --- what matching counts (index/video.py matches) ---------------------------------------------------------------


def dedupe_consecutive(frames: Sequence[VpdqFrame]) -> list[VpdqFrame]:
    """Frames without runs of identical hashes (the first of each run kept): what is stored for a known video."""
    out: list[VpdqFrame] = []
    for frame in frames:
        if not out or out[-1].pdq != frame.pdq:
            out.append(frame)
    return out


def unique_good(frames: Iterable[VpdqFrame], quality: int = QUALITY_THRESHOLD) -> np.ndarray:
    """The distinct hashes of frames with quality >= `quality`, as an (N, 32) uint8 array: what the match
    percentages count (python-threatexchange `prepare_vpdq_feature`: quality filter, exact-hash dedup)."""
    seen = dict.fromkeys(f.pdq for f in frames if f.quality >= quality)
    return np.frombuffer(bytes.fromhex("".join(seen)), dtype=np.uint8).reshape(-1, 32)
