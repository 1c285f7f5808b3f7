"""The benchmark photo corpus: real, benign photographs taken from Debian's public wallpaper/artwork packages.

Why Debian packages: benchmarks need real camera-sized photos (2-12 MP JPEG/PNG) so that decoding and PDQ cost what
they cost on seized material, but the project must never ship or fetch anything but harmless imagery. Debian's
wallpaper packages are public, licensed artwork, reachable with `apt-get download` on every machine this project
runs on, and pinned by the archive, so every run measures the same pictures.

Layout (all under bench/.cache/, which git ignores):
    debs/          the downloaded .deb files
    photos/        the kept images (`PHOTOS`: 2-12 MP JPEG/PNG), flat, named <package>--<path inside the package>,
                   plus manifest.json
    photos-mixed/  the same for `MIXED` (2-50 MP JPEG/PNG/WebP, as shipped): bench/scan_full.py

The manifest makes the second call instant: when it lists at least `min_count` files that all exist, nothing is
downloaded, extracted or decoded.

Run as a script to build the corpus and print what it holds:  python bench/corpus.py [--mixed]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"
DEBS_DIR = CACHE_DIR / "debs"


@dataclass(frozen=True)
class Selection:
    """Which images of which packages a corpus keeps, and where it is cached (`dir`/manifest.json).

    The primary packages are always taken; the fallbacks are tried in order only while fewer than `min_count`
    images are in hand (other releases, or packages dropped from the archive). Bump `version` when the rules change,
    so that an old cache is rebuilt rather than silently reused."""

    dir: Path
    primary: tuple[str, ...]
    fallback: tuple[str, ...]
    formats: frozenset[str]
    min_pixels: int
    max_pixels: int
    version: int

    @property
    def manifest(self) -> Path:
        return self.dir / "manifest.json"


# Photographs (and photo-like wallpapers) of desktop size, JPEG and PNG of 2-12 MP: what the PDQ benchmarks compare
# engines on (checked on Debian 12, bookworm: 46 images, 29 of them JPEG photos, from the primary packages).
PHOTOS = Selection(
    dir=CACHE_DIR / "photos",
    primary=("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "mate-backgrounds", "ukui-wallpapers"),
    fallback=("sway-backgrounds", "lomiri-wallpapers", "debian-edu-artwork-emerald", "desktop-base",
              "budgie-backgrounds", "ubuntu-mate-wallpapers", "xfce4-artwork"),
    formats=frozenset({"JPEG", "PNG"}), min_pixels=2_000_000, max_pixels=12_000_000, version=1,
)
# Every wallpaper of 2-50 MP that Debian's artwork packages ship, in the formats and modes as shipped (JPEG RGB and
# L, PNG RGB, RGBA, LA and P, WebP): what a full scan of real photos decodes (bench/scan_full.py). On Debian 12 the
# primary packages give 131 distinct images, 14 of them WebP (gnome-backgrounds) and 24 RGBA PNGs.
MIXED = Selection(
    dir=CACHE_DIR / "photos-mixed",
    primary=("gnome-backgrounds", "plasma-workspace-wallpapers", "desktop-base", "mate-backgrounds",
             "ukui-wallpapers", "lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04", "lomiri-wallpapers",
             "sway-backgrounds", "debian-edu-artwork-emerald", "debian-edu-artwork-homeworld",
             "debian-edu-artwork-softwaves", "debian-edu-artwork-buster", "debian-edu-artwork-spacefun"),
    fallback=("budgie-backgrounds", "ubuntu-mate-wallpapers", "xfce4-artwork"),
    formats=frozenset({"JPEG", "PNG", "WEBP"}), min_pixels=2_000_000, max_pixels=50_000_000, version=1,
)
CANDIDATE_PACKAGES = PHOTOS.primary + PHOTOS.fallback
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


class CorpusError(RuntimeError):
    """The corpus cannot be built with enough photos (packages unavailable, too few images)."""


def photo_corpus(min_count: int = 30, selection: Selection = PHOTOS) -> list[Path]:
    """Return at least `min_count` sorted paths of the selection's images, building the cache on first use.

    Raises:
        CorpusError: fewer than `min_count` distinct photos could be gathered from the candidate packages.
    """
    cached = _cached_corpus(selection)
    if cached is not None and len(cached) >= min_count:
        return cached
    photos = _build_corpus(min_count, selection)
    if len(photos) < min_count:
        packages = ", ".join(selection.primary + selection.fallback)
        raise CorpusError(
            f"only {len(photos)} distinct {selection.min_pixels / 1e6:g}-{selection.max_pixels / 1e6:g} MP photos "
            f"found in Debian packages {packages}; {min_count} are needed. Check that apt-get can reach the Debian "
            "archive (apt-get update) and that some of these packages exist in this release (apt-cache policy NAME)."
        )
    return photos


def _cached_corpus(selection: Selection) -> list[Path] | None:
    """The photos the manifest lists, if it is of this version and every file is still there; else None."""
    try:
        manifest = json.loads(selection.manifest.read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != selection.version:
        return None
    paths = [selection.dir / name for name in manifest.get("files", [])]
    if not paths or not all(p.is_file() for p in paths):
        return None
    return sorted(paths)


def _build_corpus(min_count: int, selection: Selection) -> list[Path]:
    """Download the primary packages (and fallbacks while short of `min_count`); write the manifest; return photos.

    All the photos of each package taken are kept (a stable corpus, not one truncated at `min_count`).
    """
    selection.dir.mkdir(parents=True, exist_ok=True)
    for old in selection.dir.iterdir():
        if old.is_file():
            old.unlink()
    seen: set[str] = set()
    kept: list[Path] = []
    used: list[str] = []
    for package in selection.primary + selection.fallback:
        if package not in selection.primary and len(kept) >= min_count:
            break
        deb = _download(package)
        if deb is None:
            continue
        new = _extract_photos(deb, package, seen, selection)
        if new:
            used.append(package)
            kept.extend(new)
    kept.sort()
    if len(kept) < min_count:
        return kept  # no manifest: a short corpus is never mistaken for a complete one
    selection.manifest.write_text(
        json.dumps(
            {"version": selection.version, "packages": used, "files": [p.name for p in kept]},
            indent=1,
        )
    )
    return kept


_lists_updated = False


def _download(package: str) -> Path | None:
    """The .deb of `package` in the cache, downloading it if needed; None when the archive does not have it.

    `apt-get download` needs package lists; on a fresh machine they are empty, so one `apt-get update` is run the
    first time a download fails, then the download is retried once.
    """
    global _lists_updated
    DEBS_DIR.mkdir(parents=True, exist_ok=True)
    existing = sorted(DEBS_DIR.glob(f"{package}_*.deb"))
    if existing:
        return existing[-1]
    for attempt in range(2):
        proc = subprocess.run(
            ["apt-get", "download", "-q", package],
            cwd=DEBS_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        found = sorted(DEBS_DIR.glob(f"{package}_*.deb"))
        if proc.returncode == 0 and found:
            return found[-1]
        if attempt == 0 and not _lists_updated:
            print(f"corpus: apt-get download {package} failed; running apt-get update once", file=sys.stderr)
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, check=False)
            _lists_updated = True
            continue
        break
    print(f"corpus: package {package} not available, skipped", file=sys.stderr)
    return None


def _extract_photos(deb: Path, package: str, seen: set[str], selection: Selection) -> list[Path]:
    """Unpack `deb` to a scratch dir and move its images that the selection keeps (new by sha256) into its dir."""
    kept: list[Path] = []
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix="extract-") as scratch:
        subprocess.run(["dpkg-deb", "-x", str(deb), scratch], check=True)
        root = Path(scratch)
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if not _selected(path, selection):
                continue
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen:
                continue
            seen.add(digest)
            rel = path.relative_to(root).as_posix().replace("/", "_")
            target = selection.dir / f"{package}--{rel}"
            shutil.move(str(path), target)
            kept.append(target)
    return kept


def _selected(path: Path, selection: Selection) -> bool:
    """True when the image header gives a format and a pixel count the selection keeps (no pixel is decoded)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            fmt = image.format
    except Exception:  # noqa: BLE001 - a broken or odd file in a package is simply not a corpus photo
        return False
    return fmt in selection.formats and selection.min_pixels <= width * height <= selection.max_pixels


def describe(photos: list[Path], selection: Selection = PHOTOS) -> str:
    """A one-line summary of the corpus (count, total size, formats) for benchmark headers."""
    from collections import Counter

    from PIL import Image

    total = sum(p.stat().st_size for p in photos)
    kinds: Counter[str] = Counter()
    pixels = 0
    for p in photos:
        with Image.open(p) as image:
            kinds[f"{image.format} {image.mode}"] += 1
            pixels += image.size[0] * image.size[1]
    mix = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return (
        f"{len(photos)} photos, {total / 1e6:.1f} MB, {pixels / len(photos) / 1e6:.1f} MP average ({mix}); "
        f"from Debian packages: {', '.join(_packages_used(selection))}"
    )


def _packages_used(selection: Selection) -> list[str]:
    """The packages the cached corpus came from, as the manifest records them."""
    try:
        return list(json.loads(selection.manifest.read_text()).get("packages", []))
    except (OSError, ValueError):
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-count", type=int, default=30, help="fail when fewer photos than this are found")
    parser.add_argument("--mixed", action="store_true", help="the 2-50 MP JPEG/PNG/WebP corpus of bench/scan_full.py")
    args = parser.parse_args()
    selection = MIXED if args.mixed else PHOTOS
    photos = photo_corpus(args.min_count, selection)
    print(describe(photos, selection))
    for p in photos:
        print(p)


if __name__ == "__main__":
    main()
