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

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO

from hashwarden.config import MAX_IMAGE_PIXELS, PDQ_MIN_QUALITY, VPDQ_QUERY_SECONDS_PER_HASH
from hashwarden.errors import EvidenceReadError
from hashwarden.signals.image import Pixels
from hashwarden.signals.pdq import DEFAULT_ENGINE, PdqEngine

if TYPE_CHECKING:  # NumPy: for matching frames (`unique_good`); parsing and writing vPDQ lines need none
    import numpy as np


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
    skipped: int = 0  # frames neither sampled nor referenced by others, so not decoded (`_skip_plan`)
    note: str | None = None  # e.g. "no video stream" (audio only)
    tags: dict[str, str] = field(default_factory=dict)  # the container's and first video stream's metadata tags


def hash_video(
    source: str | BinaryIO,
    *,
    seconds_per_hash: float = VPDQ_QUERY_SECONDS_PER_HASH,
    size: int | None = None,
    engine: PdqEngine = DEFAULT_ENGINE,
    max_pixels: int = MAX_IMAGE_PIXELS,
    name: str | None = None,
    threads: int = 0,
    skip_unneeded: bool = True,
) -> VideoHash:
    """vPDQ of a video file (a path or a seekable binary file object); `threads` for the decoder (0: automatic);
    `skip_unneeded=False` decodes every frame even where the result provably does not change (tests compare).

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
        tags = _tags(container)
        if not container.streams.video:
            return VideoHash([], 0.0, 0, 0, 0, note="no video stream", tags=tags)
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
        hash_frame = _frame_hasher(engine, size, max_pixels, fps, where)
        plan = _skip_plan(container, stream, every) if skip_unneeded and every > 1 else None
        if plan is not None:
            result = _hash_planned(container, stream, every, plan, hash_frame,
                                   VideoHash([], fps, 0, width, height, tags=tags))
            if result is not None:
                return result
            _rewind(container, stream)  # the plan did not hold (see _hash_planned): decode everything
        result = VideoHash([], fps, 0, width, height, tags=tags)
        for frame in _frames(container, stream, result):
            number = result.decoded
            result.decoded += 1
            if not number:
                result.rotation = int(getattr(frame, "rotation", 0) or 0) % 360  # display matrix, reported only
            if number % every == 0:
                result.frames.append(hash_frame(frame, number))
        return result


# Tags kept per video: FFmpeg reads every tag a container holds; a hostile file may hold thousands, or huge ones.
_MAX_TAGS, _MAX_TAG_CHARS = 256, 1024


def _tags(container: Any) -> dict[str, str]:
    """The first video stream's tags, then the container's over them (where a phone writes make and model)."""
    tags: dict[str, str] = {}
    sources = [container.streams.video[0].metadata] if container.streams.video else []
    for source in [*sources, container.metadata]:
        for key, value in list(source.items())[:_MAX_TAGS]:
            if isinstance(key, str) and isinstance(value, str) and len(value) <= _MAX_TAG_CHARS:
                tags[key[:_MAX_TAG_CHARS]] = value
    return tags


def _frame_hasher(engine: PdqEngine, size: int | None, max_pixels: int, fps: float, where: Any):  # noqa: ANN202
    """frame, number -> VpdqFrame: swscale RGB24 with SWS_AREA (native size or size x size), then PDQ."""

    def hash_frame(frame: Any, number: int) -> VpdqFrame:
        if frame.width * frame.height > max_pixels:
            raise EvidenceReadError(f"video frame {number} of {frame.width}x{frame.height} exceeds the limit of "
                                    f"{max_pixels:,} pixels", where)
        scale = {"width": size, "height": size} if size else {}
        pdq = engine.hash_pixels(Pixels.from_rgb(frame.to_ndarray(format="rgb24", interpolation="AREA", **scale)))
        return VpdqFrame(number, pdq.quality, pdq.hash, number / fps)

    return hash_frame


# --- not decoding what nothing needs ----------------------------------------------------------------------------
# An H.264 picture whose slices all have nal_ref_idc = 0 is never used to predict another picture, so when it is not
# a sampled frame it need not be decoded at all: every other picture decodes to the same pixels without it (the
# standard's decoding process does not read it; tests compare every sampled hash with a full decode). Frame
# numbers are output order, which is presentation-time order, so each packet's number is the rank of its pts. The
# plan is only used when it provably numbers frames as a full decode would: AVCC H.264, every packet with a
# distinct pts and none marked discard or corrupt, no decoding error, and one output frame per decoded packet;
# otherwise the video is decoded in full.


def _skip_plan(container: Any, stream: Any, every: int) -> tuple[list[int], dict[int, int], set[int]] | None:
    """(packet pts in file order, frame number by pts, pts of packets not to decode), or None (decode all)."""
    codec = stream.codec_context
    extradata = bytes(codec.extradata or b"")
    if codec.name != "h264" or len(extradata) < 7 or extradata[0] != 1:  # AVCC only (MP4/MOV/MKV)
        return None
    length_size = (extradata[4] & 3) + 1
    order: list[int] = []
    nonref: list[bool] = []
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pts is None or packet.is_discard or packet.is_corrupt:
                _rewind(container, stream)
                return None
            order.append(packet.pts)
            nonref.append(_h264_nonref(bytes(packet), length_size))
    except Exception:  # noqa: BLE001 - any demuxing trouble: the full decode reports it properly
        _rewind(container, stream)
        return None
    _rewind(container, stream)
    if len(set(order)) != len(order):
        return None
    numbers = {pts: number for number, pts in enumerate(sorted(order))}
    skip = {pts for pts, unused in zip(order, nonref) if unused and numbers[pts] % every}
    return order, numbers, skip


def _h264_nonref(data: bytes, length_size: int) -> bool:
    """True when every slice of this AVCC access unit has nal_ref_idc 0 (and there is at least one)."""
    at, slices = 0, 0
    while at + length_size < len(data):
        length = int.from_bytes(data[at:at + length_size], "big")
        header = data[at + length_size]
        if header & 0x1F in (1, 5):  # coded slice (non-IDR, IDR)
            if header & 0x60:
                return False
            slices += 1
        at += length_size + length
    return slices > 0


def _hash_planned(container: Any, stream: Any, every: int, plan: tuple[list[int], dict[int, int], set[int]],
                  hash_frame: Any, result: VideoHash) -> VideoHash | None:
    """Decode only what the plan needs; None as soon as anything differs from what the plan assumed."""
    import av

    order, numbers, skip = plan
    outputs = 0
    position = 0
    try:
        for packet in [*container.demux(stream), None]:
            if packet is not None and packet.size == 0:
                continue
            if packet is not None:
                if position >= len(order) or packet.pts != order[position]:
                    return None
                position += 1
                if packet.pts in skip:
                    continue
            for frame in stream.decode(packet):
                number = numbers.get(frame.pts)
                if number is None:
                    return None
                outputs += 1
                if not number:
                    result.rotation = int(getattr(frame, "rotation", 0) or 0) % 360
                if number % every == 0:
                    result.frames.append(hash_frame(frame, number))
    except av.FFmpegError:
        return None
    if position != len(order) or outputs + len(skip) != len(order):
        return None
    result.decoded = len(order)
    result.skipped = len(skip)
    return result


def _rewind(container: Any, stream: Any) -> None:
    container.seek(0, backward=True, any_frame=False, stream=stream)
    stream.codec_context.flush_buffers()


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


def frames_sha256(frames: Sequence[VpdqFrame]) -> bytes:
    """SHA-256 of the frames as a known video keeps them (consecutive repeats removed, `dedupe_consecutive`) in
    the hash-file format: the identity of a video known by its frames alone, which has no digest to be told apart
    by. Timestamps count at the file's 3 decimals, so a set exported and imported again keeps its identities."""
    return hashlib.sha256(format_frames(dedupe_consecutive(frames)).encode("ascii")).digest()


# --- what matching counts (index/video.py matches) ---------------------------------------------------------------


def dedupe_consecutive(frames: Sequence[VpdqFrame]) -> list[VpdqFrame]:
    """Frames without runs of identical hashes (the first of each run kept): what is stored for a known video."""
    out: list[VpdqFrame] = []
    for frame in frames:
        if not out or out[-1].pdq != frame.pdq:
            out.append(frame)
    return out


def unique_good(frames: Iterable[VpdqFrame], quality: int = PDQ_MIN_QUALITY) -> np.ndarray:
    """The distinct hashes of frames with quality >= `quality`, as an (N, 32) uint8 array: what the match
    percentages count (python-threatexchange `prepare_vpdq_feature`: quality filter, exact-hash dedup)."""
    import numpy as np

    seen = dict.fromkeys(f.pdq for f in frames if f.quality >= quality)
    return np.frombuffer(bytes.fromhex("".join(seen)), dtype=np.uint8).reshape(-1, 32)
