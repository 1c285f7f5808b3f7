"""Index generations on disk: the alert-side indexes a Matcher answers from, as read-only files that every process
memory-maps, one directory per generation.

Why files: each service worker (and each `hashwarden match`) used to read every row of the store and build its own
copy of the indexes, costing memory x workers and a slow start. A generation is built once, by whichever process
first needs it, and the others map the same files, so the page cache holds one copy for all of them.

Layout of `<root>/<key>/`: `meta.json` (format, key, counts; written last, so a directory without it is never a
generation), `md5`/`sha1`/`sha256` `.keys.npy`+`.ids.npy`+`.fences.npy` (ExactIndex.save), `pdq.hwpdq`+`pdq.ids.npy`
(HammingIndex.save), `videos.hwpdq`+`videos.owner.npy` (VideoIndex.save). A generation is written into a temporary
directory beside it and renamed into place (atomic on one file system), so a reader sees all of it or nothing.
Builders of one root serialise on `fcntl.flock` of `<root>/.lock`; the loser finds the winner's directory and
opens it. Only the newest generations are kept; a process still mapping a removed one keeps its pages (Linux frees
an unlinked file when its last mapping goes).

What the key is made of (what can change an answer) is the store's business, not this module's: scan/index_generations.py.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hashwarden.index.exact import ExactIndex
from hashwarden.index.hamming import HammingIndex
from hashwarden.index.known_filter import WIDTHS
from hashwarden.index.video import VideoIndex

FORMAT_VERSION = 2  # 2: the exact indexes' fence tables
KEEP = 2  # generations kept on disk: the current one and the previous (a process may still be switching)


@dataclass(frozen=True)
class MatchIndexes:
    """What a Matcher searches: exact digests per algorithm, the PDQ codes, the known videos' frames."""

    exact: dict[str, ExactIndex]
    pdq: HammingIndex
    videos: VideoIndex

    def save(self, directory: Path, key: str) -> None:
        """Write every index into `directory` (which exists and is private to the caller), meta.json last."""
        for name, index in self.exact.items():
            index.save(directory / name)
        self.pdq.save(directory / "pdq")
        self.videos.save(directory / "videos")
        counts = {**{name: len(index) for name, index in self.exact.items()}, "pdq": len(self.pdq),
                  "videos": len(self.videos)}
        (directory / "meta.json").write_text(json.dumps({"format": FORMAT_VERSION, "key": key, "counts": counts},
                                                        sort_keys=True))

    @classmethod
    def load(cls, directory: Path, key: str) -> "MatchIndexes":
        """Map the generation in `directory`, which must be the one named `key`.

        Raises:
            ValueError: absent, another format, another key, or files that do not agree with meta.json.
        """
        try:
            meta = json.loads((directory / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{directory}: not an index generation ({exc})") from exc
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
            raise ValueError(f"{directory}: generation {meta.get('key')!r} format {meta.get('format')}, wanted "
                             f"{key!r} format {FORMAT_VERSION}")
        loaded = cls({name: ExactIndex.load(directory / name, width) for name, width in WIDTHS.items()},
                     HammingIndex.load(directory / "pdq"), VideoIndex.load(directory / "videos"))
        counts = {**{name: len(index) for name, index in loaded.exact.items()}, "pdq": len(loaded.pdq),
                  "videos": len(loaded.videos)}
        if counts != meta.get("counts"):
            raise ValueError(f"{directory}: indexes hold {counts}, meta.json says {meta.get('counts')}")
        return loaded


@contextmanager
def building(lock: Path) -> Iterator[None]:
    """Hold the build lock file `lock` (blocking): one builder at a time, across processes. A file lock is released
    by the kernel when its holder dies, so a killed builder never leaves a stale lock."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_or_build(root: Path, key: str, build: Callable[[], MatchIndexes]) -> MatchIndexes:
    """The generation `key` under `root`: mapped if it is there, else built (once, under the lock), published
    atomically, older generations pruned, and mapped.

    Raises:
        ValueError: the published generation cannot be read back (a damaged disk).
        Whatever `build` raises (nothing is published then).
    """
    target = root / key
    try:
        return MatchIndexes.load(target, key)
    except ValueError:
        pass
    with building(root / ".lock"):
        try:
            return MatchIndexes.load(target, key)  # another process built it while this one waited
        except ValueError:
            pass
        staging = Path(tempfile.mkdtemp(prefix=".building-", dir=root))
        try:
            build().save(staging, key)
            if target.exists():  # a damaged or foreign copy under the same name
                shutil.rmtree(target)
            os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        prune(root, keep=target)
    return MatchIndexes.load(target, key)


def prune(root: Path, keep: Path) -> None:
    """Remove all but the KEEP newest generations (`keep` always stays) and any leftover partial builds.
    Called under the build lock, so no build of this root is in progress."""
    generations = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                         key=lambda p: p.stat().st_mtime_ns, reverse=True)
    kept = [keep, *[p for p in generations if p != keep][:KEEP - 1]]
    for path in root.iterdir():
        if path.is_dir() and path not in kept:
            shutil.rmtree(path, ignore_errors=True)
