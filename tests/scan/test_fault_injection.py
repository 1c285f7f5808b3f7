"""A scan never dies of one item: readers that raise every kind of exception at random points (while listing a
container, while reading a member, while hashing) cost only what they touch, and never silently.

The invariant checked for every seed: the scan finishes and writes its report; every file of the source is an item;
and every item of the fault-free scan that is missing from the faulty one lies under a container whose row carries
an error (a member lost without a word would be a missed victim).
"""

from __future__ import annotations

import gzip
import io
import json
import lzma
import random
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import scene
from hashwarden.evidence import archive
from hashwarden.scan import run_scan, worker
from tests.evidence.test_archive import tar_bytes, zip_bytes

EXCEPTIONS = [
    lambda: EOFError("injected: data ended"), lambda: TypeError("injected: NoneType"),
    lambda: ValueError("injected"), lambda: KeyError("injected"), lambda: zlib.error("injected"),
    lambda: RuntimeError("injected"), lambda: struct.error("injected"), lambda: OSError(5, "injected"),
    lambda: AssertionError("injected"), lambda: UnicodeDecodeError("utf-8", b"\xff", 0, 1, "injected"),
    lambda: IndexError("injected"), lambda: AttributeError("injected"), lambda: lzma.LZMAError("injected"),
    lambda: NotImplementedError("injected"), lambda: RecursionError("injected"), lambda: MemoryError(),
    lambda: ZeroDivisionError("injected"), lambda: tarfile.ReadError("injected"),
    lambda: zipfile.BadZipFile("injected"),
]


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    scene(seed, (96, 64)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def evidence(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faults") / "seized"
    folder.mkdir()
    inner = zip_bytes({f"in/{i}.jpg": jpeg(i) for i in range(4)} | {"in/n.txt": b"text"})
    (folder / "a.zip").write_bytes(zip_bytes({"x/nested.zip": inner, "y.jpg": jpeg(10), "z.txt": b"z"}))
    (folder / "b.tar.gz").write_bytes(tar_bytes({f"t/{i}.jpg": jpeg(20 + i) for i in range(5)}, "w:gz"))
    (folder / "c.tar").write_bytes(tar_bytes({"deep.zip": zip_bytes({"d.tar": tar_bytes({"e.jpg": jpeg(30)})})}))
    (folder / "d.jpg.gz").write_bytes(gzip.compress(jpeg(40)))
    for i in range(3):
        (folder / f"plain{i}.jpg").write_bytes(jpeg(50 + i))
    return folder


def scan(folder: Path, out: Path, store) -> dict[str, dict]:
    run_scan([str(folder)], "FAULTS", out, store, ScanSettings(allow_empty=True, workers=1, verify_after=False))
    return {item["path"]: item for item in json.loads((out / "report.json").read_text())["items"]}


class FaultyStream:
    """A member stream that raises one of EXCEPTIONS after a few reads."""

    def __init__(self, inner, rng: random.Random) -> None:  # noqa: ANN001
        self._inner, self._rng = inner, rng
        self._reads_left = rng.randrange(0, 4)

    def __getattr__(self, name: str):  # noqa: ANN204 - seek, tell, cut_off ... pass through
        return getattr(self._inner, name)

    def read(self, size: int = -1) -> bytes:
        if self._reads_left <= 0:
            raise self._rng.choice(EXCEPTIONS)()
        self._reads_left -= 1
        return self._inner.read(size)


def inject(monkeypatch, rng: random.Random, rate: float) -> None:  # noqa: ANN001
    real_members, real_hash = archive.iter_members, worker.hash_stream

    def members(container, fmt, name, path=None):  # noqa: ANN001, ANN202
        for member in real_members(container, fmt, name, path):
            if rng.random() < rate:
                raise rng.choice(EXCEPTIONS)()
            if member.stream is not None and rng.random() < rate:
                member.stream = FaultyStream(member.stream, rng)
            yield member

    def hashing(fp, *args, **kwargs):  # noqa: ANN001, ANN202
        if rng.random() < rate / 2:
            raise rng.choice(EXCEPTIONS)()
        return real_hash(fp, *args, **kwargs)

    monkeypatch.setattr(archive, "iter_members", members)
    monkeypatch.setattr(worker, "hash_stream", hashing)


def ancestors(path: str) -> list[str]:
    parts = path.split("!/")
    return ["!/".join(parts[:i]) for i in range(1, len(parts))]


@pytest.mark.heavy
@pytest.mark.parametrize("seed", range(12))
def test_random_faults_cost_only_what_they_touch(evidence: Path, tmp_path: Path, fresh_store, monkeypatch,
                                                 seed: int) -> None:
    baseline = scan(evidence, tmp_path / "clean", fresh_store)
    assert not any(item.get("error") for item in baseline.values())
    rng = random.Random(seed)
    inject(monkeypatch, rng, rate=0.3)
    faulty = scan(evidence, tmp_path / "faulty", fresh_store)
    for name in (p.name for p in evidence.iterdir()):
        assert name in faulty, f"seed {seed}: the file {name} itself is missing"
    silent = [path for path in baseline if path not in faulty
              and not any(faulty.get(a, {}).get("error") for a in ancestors(path))]
    assert silent == [], f"seed {seed}: lost without an error on any container: {silent}"
    for path, item in faulty.items():
        assert item["status"] in ("known", "unknown", "ignorable", "error")
        if item.get("error") and "injected" in item["error"]:
            assert item["status"] == "error"
    assert any("injected" in (item.get("error") or "") for item in faulty.values()), "no fault was injected"


def test_an_exception_of_any_type_in_a_reader_is_the_item_error(evidence: Path, tmp_path: Path, fresh_store,
                                                                monkeypatch) -> None:
    """The two known crashes of the issue, as types: a TypeError inside the 7z reader and an EOFError from a
    truncated gzip; here raised by the zip reader for the outer archive."""
    real_members = archive.iter_members

    def members(container, fmt, name, path=None):  # noqa: ANN001, ANN202
        if name == "a.zip":
            raise TypeError("expected str, bytes or os.PathLike object, not NoneType")
        yield from real_members(container, fmt, name, path)

    monkeypatch.setattr(archive, "iter_members", members)
    items = scan(evidence, tmp_path / "out", fresh_store)
    assert items["a.zip"]["status"] == "error" and items["a.zip"]["sha256"]
    assert items["a.zip"]["error"] == "TypeError: expected str, bytes or os.PathLike object, not NoneType"
    assert not any(path.startswith("a.zip!/") for path in items)
    assert items["b.tar.gz!/t/4.jpg"]["status"] == "unknown"
