"""vPDQ hashing speed: hashwarden against a plain reference pipeline, side by side, one core, same videos.

Videos: the 14 ThreatExchange sample videos (SD and HD, 30 fps) and two longer clips generated here once (benign
moving blocks, libx264): 720p x 40 s and 1080p x 20 s at 30 fps (cached under bench/.cache/vpdq/).
At 1 frame per second (the default), each video is processed by, in rotating order each round:
  hashwarden   signals.vpdq.hash_video (every frame decoded, only sampled frames converted and hashed with our
               PDQ engine)
  reference    the plain pipeline: PyAV decodes every frame and converts it to RGB, `pdqhash` hashes the sampled
               ones (same sampling rule)
  decode only  PyAV decoding every frame, nothing else (what a pipeline that decodes everything cannot beat)
  hashwarden without PDQ   the same with a PDQ engine that does nothing: hashwarden's decoding (+ sampled-frame
               conversion) time, so its share of hashwarden's time is printed
All decoders single-threaded. Printed per video group: frames/s (video frames processed per second), medians of
`--rounds`, the ratio hashwarden / reference, the share of hashwarden's time spent decoding, and how many sampled
frame hashes the two pipelines agree on.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
import av  # noqa: E402
import numpy as np  # noqa: E402

from hashwarden.signals.vpdq import hash_video  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "conformance" / "threatexchange" / "tmk" / "sample-videos"
CACHE = ROOT / "bench" / ".cache" / "vpdq"


def generated() -> list[Path]:
    from tests.signals.videos import make_video

    CACHE.mkdir(parents=True, exist_ok=True)
    clips = []
    for name, width, height, seconds in (("gen-720p-40s.mp4", 1280, 720, 40), ("gen-1080p-20s.mp4", 1920, 1080, 20)):
        path = CACHE / name
        if not path.exists():
            print(f"generating {name} ...", flush=True)
            make_video(path.with_suffix(".part.mp4"), seed=len(clips) + 11, frames=30 * seconds, width=width,
                       height=height).rename(path)
        clips.append(path)
    return clips


class _NoPdq:
    """A PDQ engine that hashes nothing: hash_video's time without PDQ is its decoding (and conversion) time."""

    name = "none"

    def hash_pixels(self, pixels, *, dihedral=False):  # noqa: ANN001, ANN201
        from hashwarden.signals.pdq import PdqResult

        return PdqResult("0" * 64, 0)


NO_PDQ = _NoPdq()


def decode_only(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type, stream.codec_context.thread_count = "SLICE", 1
        return sum(1 for _ in container.decode(stream))


def reference(path: Path, seconds_per_hash: float) -> tuple[int, list[str]]:
    import pdqhash

    hashes = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type, stream.codec_context.thread_count = "SLICE", 1
        every = max(1, int(seconds_per_hash * float(stream.average_rate or stream.base_rate)))
        count = 0
        for count, frame in enumerate(container.decode(stream), 1):
            rgb = frame.to_ndarray(format="rgb24")
            if (count - 1) % every == 0:
                vector, _ = pdqhash.compute(rgb)
                hashes.append(np.packbits(vector.astype(np.uint8)).tobytes().hex())
    return count, hashes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds-per-hash", type=float, default=1.0)
    args = parser.parse_args()
    groups = {"14 sample videos": sorted(SAMPLES.glob("*.mp4")), "generated 720p + 1080p": generated()}
    for label, videos in groups.items():
        frames = sum(decode_only(v) for v in videos)
        agree = total = 0
        for video in videos:  # untimed: do both pipelines hash the same sampled frames the same?
            ours = hash_video(str(video), seconds_per_hash=args.seconds_per_hash, threads=1)
            _, theirs = reference(video, args.seconds_per_hash)
            agree += sum(a.pdq == b for a, b in zip(ours.frames, theirs))
            total += len(theirs)
        runs = {"hashwarden": lambda v: hash_video(str(v), seconds_per_hash=args.seconds_per_hash, threads=1),
                "reference": lambda v: reference(v, args.seconds_per_hash), "decode only": decode_only,
                "hashwarden without PDQ": lambda v: hash_video(str(v), seconds_per_hash=args.seconds_per_hash,
                                                               threads=1, engine=NO_PDQ)}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for round_number in range(args.rounds):
            names = list(runs)
            for name in names[round_number % len(names):] + names[:round_number % len(names)]:
                start = time.perf_counter()
                for video in videos:
                    runs[name](video)
                times[name].append(time.perf_counter() - start)
        rates = {name: frames / statistics.median(seconds) for name, seconds in times.items()}
        for name, rate in rates.items():
            print(f"{label}: {name:12s} {rate:8,.0f} frames/s (median of {args.rounds})")
        print(f"{label}: share of hashwarden's time in decoding (and converting the sampled frames): "
              f"{rates['hashwarden'] / rates['hashwarden without PDQ']:.0%}; hashwarden / decoding every frame: "
              f"{rates['hashwarden'] / rates['decode only']:.2f}x (it skips pictures nothing refers to)")
        print(f"{label}: sampled frames with identical hashes in both pipelines: {agree}/{total}")
        print(f"ratio hashwarden / reference ({label}): {rates['hashwarden'] / rates['reference']:.2f}x")


if __name__ == "__main__":
    main()
