"""`hash_bytes`: the record of bytes in memory equals `hash_file`'s of a file holding them, whatever they are
(image, video, not media, damaged, empty), because both go through the same `hash_node`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import hashwarden
from hashwarden.demo.synthetic import save, scene


def contents(tmp_path: Path, conformance: Path) -> dict[str, Path]:
    save(scene(5), tmp_path / "scene.jpg")
    save(scene(6), tmp_path / "scene.png")
    jpeg = (tmp_path / "scene.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 3])
    (tmp_path / "notes.txt").write_bytes(b"not media\n")
    (tmp_path / "empty").write_bytes(b"")
    return {**{path.name: path for path in tmp_path.iterdir()},
            "video.mp4": conformance / "threatexchange" / "tmk" / "sample-videos" / "pattern-sd-grey-bar.mp4"}


@pytest.mark.parametrize("dihedral", [True, False])
def test_hash_bytes_is_hash_file_of_the_same_bytes(tmp_path: Path, conformance: Path, dihedral: bool) -> None:
    records: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for name, path in contents(tmp_path, conformance).items():
        records[name] = (hashwarden.hash_file(path, dihedral=dihedral),
                         hashwarden.hash_bytes(path.read_bytes(), str(path), dihedral=dihedral))
    for name, (from_file, from_bytes) in records.items():
        assert from_bytes == from_file, name
    media = {name: pair[1]["media"] for name, pair in records.items()}
    assert media == {"scene.jpg": "image", "scene.png": "image", "cut.jpg": "image", "notes.txt": "other",
                     "empty": "other", "video.mp4": "video"}
    assert records["video.mp4"][1]["vpdq"] and records["scene.png"][1]["pdq"]
    assert ("pdq_dihedral" in records["scene.jpg"][1]) is dihedral
    assert records["cut.jpg"][1]["error"] and records["cut.jpg"][1]["md5"]  # digests, no PDQ: as from a file
