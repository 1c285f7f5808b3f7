""""Nothing is extracted to disk" (docs/architecture.md): while archives (zip, tar.gz, 7z through 7-Zip) and videos
inside them (which are read twice, the tempting place to spill a member to a file) are scanned, the scan's processes
(workers, libarchive children and 7-Zip included, all traced by strace) open no file for writing outside the case
folder, not even an unnamed O_TMPFILE in TMPDIR; and no file of the case folder (case.db, its journals, the
reports), read again and again while the scan runs and once after, holds a member's bytes: only their hashes."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.signals.videos import make_video

WINDOW = 48
# a successful open by any traced process: pid, the path (with its directory's, `-y`), the flags
OPENED = re.compile(r'^\d+ +(?:openat|open|creat)\((?:AT_FDCWD|\d+)(?:<([^>]*)>)?, "([^"]*)", ([A-Z_|]+)[^=]*= \d+')
WRITING = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TMPFILE", "O_TRUNC", "O_APPEND")


def _opened_for_writing(trace: str) -> set[str]:
    """The paths strace saw opened, successfully, with a flag that allows writing or creating."""
    paths = set()
    for line in trace.splitlines():
        match = OPENED.match(line)
        if match and any(flag in match.group(3).split("|") for flag in WRITING):
            folder, path = match.group(1) or "", match.group(2)
            paths.add(os.path.normpath(os.path.join(folder, path)))
    return paths


def _markers(data: bytes) -> list[bytes]:
    """Three windows of a member's bytes (a quarter, half and three quarters in), any of which in a file would mean
    the member was written out."""
    return [data[len(data) * k // 4:len(data) * k // 4 + WINDOW] for k in (1, 2, 3)]


class _FolderWatch(threading.Thread):
    """Reads every file under `folders` again and again until stopped, and keeps those holding a marker."""

    def __init__(self, folders: list[Path], markers: dict[bytes, str]) -> None:
        super().__init__(daemon=True)
        self.folders, self.markers = folders, markers
        self.stop = threading.Event()
        self.seen: set[str] = set()
        self.holding: dict[str, str] = {}

    def check(self) -> None:
        for folder in self.folders:
            for root, _, names in os.walk(folder):
                for name in names:
                    path = os.path.join(root, name)
                    try:
                        with open(path, "rb") as handle:
                            content = handle.read()
                    except OSError:  # gone between listing and reading
                        continue
                    self.seen.add(path)
                    for marker, member in self.markers.items():
                        if marker in content:
                            self.holding[path] = member

    def run(self) -> None:
        while not self.stop.is_set():
            self.check()


@pytest.mark.heavy
def test_members_of_archives_are_never_written_to_disk(tmp_path: Path) -> None:
    seven_zip, strace = shutil.which("7z"), shutil.which("strace")
    if seven_zip is None or strace is None:
        pytest.fail("7z or strace missing (make test installs p7zip-full and strace)")
    rng = np.random.default_rng(7)
    members = {f"blob{n}.bin": rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes() for n in range(3)}
    video = make_video(tmp_path / "clip.mp4", seed=3, frames=60).read_bytes()
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    with zipfile.ZipFile(evidence / "a.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("in-zip.bin", members["blob0.bin"])
        archive.writestr("clip.mp4", video)
    with tarfile.open(evidence / "b.tar.gz", "w:gz") as archive:
        for name, data in (("in-tar.bin", members["blob1.bin"]), ("clip.mp4", video)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "in-7z.bin").write_bytes(members["blob2.bin"])
    (staging / "clip.mp4").write_bytes(video)
    subprocess.run([seven_zip, "a", "-bd", "-y", str(evidence / "c.7z"), "in-7z.bin", "clip.mp4"], cwd=staging,
                   check=True, capture_output=True)
    shutil.rmtree(staging)
    (tmp_path / "clip.mp4").unlink()

    markers = {m: name for name, data in {**members, "clip.mp4": video}.items() for m in _markers(data)}
    temporary, case = tmp_path / "tmp", tmp_path / "case"
    temporary.mkdir()
    case.mkdir()
    watch = _FolderWatch([temporary, case], markers)
    (temporary / "planted").write_bytes(b"head" + members["blob1.bin"][50_000:200_000])
    watch.check()
    assert watch.holding == {str(temporary / "planted"): "blob1.bin"}  # the watch sees a member where it is
    (temporary / "planted").unlink()
    watch.holding.clear()
    watch.start()
    env = {**os.environ, "TMPDIR": str(temporary), "HASHWARDEN_DB": str(case / "hashes.db"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    trace = tmp_path / "strace.log"
    try:
        result = subprocess.run([strace, "-f", "--seccomp-bpf", "-y", "-s", "4096", "-e", "trace=open,openat,creat",
                                 "-o", str(trace), sys.executable, "-m", "hashwarden", "scan", str(evidence), "--case",
                                 "TMP", "--out", str(case / "out"), "--quiet", "--allow-empty", "--workers", "2"],
                                env=env, capture_output=True, text=True, cwd=tmp_path)
    finally:
        watch.stop.set()
        watch.join()
    assert result.returncode == 0, result.stderr
    watch.check()  # and everything left once the scan has ended

    items = {i["path"]: i for i in json.loads((case / "out" / "report.json").read_text())["items"]}
    for path in ("a.zip!/clip.mp4", "b.tar.gz!/clip.mp4", "c.7z!/clip.mp4"):
        assert items[path]["media"] == "video" and items[path]["vpdq"]["frames"] == 2, path
    assert items["c.7z!/in-7z.bin"]["size"] == len(members["blob2.bin"])
    assert not any(item["status"] == "error" for item in items.values())
    assert {str(case / "out" / name) for name in ("case.db", "report.json", "custody.json")} <= watch.seen
    assert watch.holding == {}
    written = _opened_for_writing(trace.read_text(errors="replace"))
    assert str(case / "out" / "case.db") in written  # the trace sees the scan's own writes
    assert {path for path in written if not path.startswith((f"{case}{os.sep}", "/dev/"))} == set()
