"""vPDQ recall against storage: at what rate should a known video be hashed when a hash set is built?

A scan hashes a seized video at 1 frame per second (the query rate). If the known video was hashed at 1 frame per
second too, a copy trimmed by half a second samples frames half way between the known ones; when the content
changes fast those are more than distance 31 from any known frame and the copy is missed. Hashing the known video
more densely costs storage (frames per video in `vpdq_frame` and in the in-memory `VideoIndex`).

Known videos: the 14 ThreatExchange sample videos (../shared/conformance, slow-moving real footage of a chair, a
pattern and a doorknob) and 4 generated clips (tests/signals/videos.py: benign moving gradients and blocks that
change fast, 320x240, 10 s). Copies of each (decoded once, every copy encoded with libx264 in the same pass, cached
under bench/.cache/vpdq_trim/):
  trim     the first 0.1, 0.3, 0.5, 0.7, 0.9, 2.4 and 4.7 s dropped (those that leave >= 2 s), CRF 23
  crf35    trimmed by 0.2 s and 1.7 s, re-encoded at CRF 35
  3/4, 1/2 trimmed by 0.4 s and 3.1 s, scaled to 3/4 and 1/2 of the width and height, CRF 23
Each copy is hashed at the query rate (1/s) and matched with the current rule (query share >= 80 %, compared share
>= 0 %, PDQ distance <= 31, quality >= 50) against one `VideoIndex` of all known videos hashed at each set-building
rate: 1/s (today), 2/s, 5/s and every frame (0). A known video is hashed once at every frame and the sparser rates
taken from it by the reference's rule (frame n kept iff n % int(seconds_per_hash * fps) == 0), which is what
hashing at that rate yields. Printed per rate: recall (copies matched to their own original) per group and kind,
storage (frames stored per known video after consecutive-duplicate removal, and unique good frames indexed), and
copies matched to a video of another family (the chair videos are edits of one another, so those count as family).

Run: python bench/vpdq_trim.py  (first run encodes the copies, a few minutes on one core; later runs reuse them)
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
import av  # noqa: E402

from hashwarden.index.video import VideoIndex  # noqa: E402
from hashwarden.signals.vpdq import VpdqFrame, dedupe_consecutive, hash_video, unique_good  # noqa: E402

SAMPLES = ROOT.parent / "shared" / "conformance" / "threatexchange" / "tmk" / "sample-videos"
CACHE = ROOT / "bench" / ".cache" / "vpdq_trim"
SET_RATES = (1.0, 0.5, 0.2, 0.0)  # seconds per hash when the set is built (0 = every frame)
QUERY_RATE = 1.0
# (kind, seconds trimmed from the start, CRF, scale)
COPIES = ([("trim", offset, 23, 1.0) for offset in (0.1, 0.3, 0.5, 0.7, 0.9, 2.4, 4.7)]
          + [("crf35", offset, 35, 1.0) for offset in (0.2, 1.7)]
          + [("3/4", offset, 23, 0.75) for offset in (0.4, 3.1)]
          + [("1/2", offset, 23, 0.5) for offset in (0.4, 3.1)])


def generated() -> list[Path]:
    from tests.signals.videos import make_video

    clips = []
    for seed in (21, 22, 23, 24):
        path = CACHE / f"gen-{seed}.mp4"
        if not path.exists():
            make_video(path.with_suffix(".part.mp4"), seed=seed, frames=300).rename(path)
        clips.append(path)
    return clips


def family(path: Path) -> str:
    return path.stem.split("-")[0] if not path.stem.startswith("gen-") else path.stem


def make_copies(original: Path) -> list[tuple[str, float, Path]]:
    """Every copy of `original` that leaves >= 2 s, from one decode; cached."""
    with av.open(str(original)) as probe:
        stream = probe.streams.video[0]
        fps, frames = float(stream.average_rate), stream.frames
    wanted = [(kind, offset, crf, scale, CACHE / "copies" / f"{original.stem}.{kind.replace('/', 'of')}.{offset}.mp4")
              for kind, offset, crf, scale in COPIES if frames / fps - offset >= 2.0]
    todo = [copy for copy in wanted if not copy[4].exists()]
    if todo:
        (CACHE / "copies").mkdir(parents=True, exist_ok=True)
        outputs = []
        for kind, offset, crf, scale, path in todo:
            container = av.open(str(path.with_suffix(".part.mp4")), mode="w")
            stream = container.add_stream("libx264", rate=round(fps))
            stream.options = {"crf": str(crf), "preset": "veryfast"}
            outputs.append((container, stream, round(offset * fps), scale, path))
        with av.open(str(original)) as source:
            for number, frame in enumerate(source.decode(video=0)):
                for container, stream, skip, scale, _ in outputs:
                    if number < skip:
                        continue
                    if not stream.width:
                        stream.width = int(frame.width * scale) // 2 * 2
                        stream.height = int(frame.height * scale) // 2 * 2
                        stream.pix_fmt = "yuv420p"
                    image = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
                    image.pts, image.time_base = number - skip, Fraction(1, round(fps))
                    for packet in stream.encode(image):
                        container.mux(packet)
        for container, stream, _, _, path in outputs:
            for packet in stream.encode(None):
                container.mux(packet)
            container.close()
            path.with_suffix(".part.mp4").rename(path)
    return [(kind, offset, path) for kind, offset, _, _, path in wanted]


def at_rate(video: list[VpdqFrame], fps: float, seconds_per_hash: float) -> list[VpdqFrame]:
    every = max(1, int(seconds_per_hash * fps))
    return [frame for frame in video if frame.frame % every == 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    started = time.perf_counter()
    CACHE.mkdir(parents=True, exist_ok=True)
    groups = {"samples": sorted(SAMPLES.glob("*.mp4")), "generated": generated()}
    known: dict[int, tuple[str, Path, float, list[VpdqFrame]]] = {}
    queries: list[tuple[str, str, float, int, list[VpdqFrame]]] = []  # group, kind, offset, known id, frames
    for group, videos in groups.items():
        for path in videos:
            video_id = len(known)
            full = hash_video(str(path), seconds_per_hash=0.0)
            known[video_id] = (group, path, full.fps, full.frames)
            for kind, offset, copy in make_copies(path):
                queries.append((group, kind, offset, video_id,
                                hash_video(str(copy), seconds_per_hash=QUERY_RATE).frames))
    print(f"{len(known)} known videos, {len(queries)} copies (prepared in {time.perf_counter() - started:.0f} s)\n")
    kinds = list(dict.fromkeys(kind for _, kind, _, _, _ in queries))
    header = (f"{'set rate':>9} | {'group':9} | " + " | ".join(f"{k:>7}" for k in kinds)
              + f" | {'all':>9} | {'stored/video':>12} | {'indexed/video':>13} | {'other family':>12}")
    print(header)
    print("-" * len(header))
    for rate in SET_RATES:
        sets = {video_id: at_rate(frames, fps, rate) for video_id, (_, _, fps, frames) in known.items()}
        index = VideoIndex((video_id, unique_good(dedupe_consecutive(frames))) for video_id, frames in sets.items())
        found = {(group, kind): [0, 0] for group, kind, _, _, _ in queries}
        stray = {group: 0 for group in groups}
        for group, kind, offset, video_id, frames in queries:
            passed = {other for other, match in index.match(frames).items() if match.passes()}
            found[group, kind][0] += video_id in passed
            found[group, kind][1] += 1
            stray[group] += any(family(known[o][1]) != family(known[video_id][1]) for o in passed)
        label = "every" if rate == 0 else f"{1 / rate:g}/s"
        for group in groups:
            ids = [video_id for video_id, (g, _, _, _) in known.items() if g == group]
            stored = sum(len(dedupe_consecutive(sets[i])) for i in ids) / len(ids)
            indexed = sum(len(unique_good(dedupe_consecutive(sets[i]))) for i in ids) / len(ids)
            hit = sum(found[g, k][0] for g, k in found if g == group)
            total = sum(found[g, k][1] for g, k in found if g == group)
            cells = " | ".join(f"{found[group, k][0]:>3}/{found[group, k][1]:<3}" if (group, k) in found else
                               f"{'-':>7}" for k in kinds)
            print(f"{label:>9} | {group:9} | {cells} | {hit:>3}/{total:<3} {100 * hit / total:3.0f}% "
                  f"| {stored:12.0f} | {indexed:13.0f} | {stray[group]:>12}")
    durations = {group: sum(len(known[i][3]) / known[i][2] for i in known if known[i][0] == group)
                 / sum(1 for i in known if known[i][0] == group) for group in groups}
    print("\nmean known video length: " + ", ".join(f"{g} {d:.1f} s" for g, d in durations.items())
          + f"; query rate {QUERY_RATE:g} s per hash; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
