"""A process that hashes a scan's files keeps freed memory for the next file (scan/worker.py `_keep_pixel_memory`):
Pillow keeps an image's block, glibc keeps freed heap memory, so the next file's buffers are not new pages that the
kernel must fault in and zero. Each variant runs `scan_file` over the same folder in a child process (the settings
are process-wide): with nothing kept, with Pillow's block only, with both, so each part is shown to count. Images
are generated (JPEG, WebP, PNG of 6 to 24 MP, noise blown up)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHILD = r"""
import json, resource, sys
from PIL import Image
from hashwarden.config import ScanSettings
from hashwarden.evidence import FolderSource
from hashwarden.evidence.folder import FolderItem
from hashwarden.signals import HashOptions
import hashwarden.scan.worker as worker
from hashwarden.signals.image import keep_pixel_memory
mode, folder = sys.argv[1], sys.argv[2]
if mode == "nothing":
    worker._keep_pixel_memory = lambda: None
elif mode == "pillow":
    worker._keep_pixel_memory = keep_pixel_memory
items = sorted((e for e in FolderSource(folder).iter_entries() if isinstance(e, FolderItem)), key=lambda i: -i.size)
options, settings = HashOptions(dihedral=True), ScanSettings()
def scan_all():
    for item in items:  # largest first, as the scan hands them out
        rows = [row for kind, row in worker.scan_file((0, item, options, settings)) if kind == "item"]
        assert rows and all(row.get("pdq") for row in rows), rows
scan_all()  # the first pass may fault: the memory is new
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
scan_all()
print(json.dumps({"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, **Image.core.get_stats()}))
"""


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    for n, ((width, height), fmt) in enumerate([((6000, 4000), "JPEG"), ((4000, 3000), "WEBP"),
                                                 ((5000, 3500), "PNG"), ((3000, 2000), "JPEG"),
                                                 ((4500, 3000), "WEBP")]):
        noise = rng.integers(0, 256, (height // 50, width // 50, 3), dtype=np.uint8)
        Image.fromarray(noise).resize((width, height)).save(folder / f"{n}.{fmt.lower()}", fmt)
    return folder


def _scan_in_child(mode: str, folder: Path) -> dict[str, int]:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, str(folder)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_freed_memory_is_kept_for_the_next_file(photos: Path) -> None:
    nothing, pillow, both = (_scan_in_child(mode, photos) for mode in ("nothing", "pillow", "both"))
    assert nothing["reused_blocks"] == 0  # Pillow's default: every image's pixels are new memory
    assert pillow["reused_blocks"] >= 5 and both["reused_blocks"] >= 5  # each image of the second pass reuses ...
    assert pillow["reallocated_blocks"] <= 5  # ... a block kept whole (not shrunk to 16 MiB when freed): it only
    # fits itself to the next image's size, once per image at most
    assert pillow["faults"] < 0.8 * nothing["faults"]
    assert both["faults"] < 0.97 * pillow["faults"]  # glibc keeping its freed heap counts too
