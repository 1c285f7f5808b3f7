"""`hashwarden hash --for-set`: known videos hashed for a hash set at every frame, so that a copy trimmed at any
offset is found by a scan or `hashwarden match` sampling it at the query rate (1 frame per second)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.signals.videos import make_video
from tests.test_cli import hw

SMALL = {"width": 320, "height": 240}  # small, and the generated scene changes beyond PDQ distance 31 in a few frames


def _set_from(hash_args: list[str], known: Path, db: Path) -> dict:
    """Hash `known` with `hash_args`, import the lines into a fresh alert set in `db`; the video's record."""
    lines = hw("hash", *hash_args, str(known), db=db).stdout
    (db.parent / f"{db.stem}.jsonl").write_text(lines)
    hw("import", "hashes", str(db.parent / f"{db.stem}.jsonl"), "--set", "known", db=db)
    return json.loads(lines)


def test_set_hashed_for_set_finds_a_copy_trimmed_by_half_a_second(tmp_path: Path) -> None:
    (tmp_path / "known").mkdir()
    (tmp_path / "ev").mkdir()
    make_video(tmp_path / "known" / "original.mp4", seed=5, frames=120, **SMALL)  # 4 s at 30 fps
    # the copy on the device starts 0.5 s (15 frames) in, re-encoded at CRF 30 and at 3/4 size
    make_video(tmp_path / "ev" / "clip.mp4", seed=5, frames=105, start=15, crf=30, scale=0.75, **SMALL)
    make_video(tmp_path / "ev" / "other.mp4", seed=9, frames=90, **SMALL)
    dense = _set_from(["--for-set"], tmp_path / "known", tmp_path / "dense.db")
    sparse = _set_from([], tmp_path / "known", tmp_path / "sparse.db")
    assert [f["frame"] for f in dense["vpdq"]] == list(range(120))  # every frame
    assert [f["frame"] for f in sparse["vpdq"]] == [0, 30, 60, 90]  # the query rate, as before
    listing = tmp_path / "ev.jsonl"
    listing.write_text(hw("hash", str(tmp_path / "ev"), db=tmp_path / "dense.db").stdout)  # queries at 1/s
    assert [f["frame"] for f in json.loads(listing.read_text().splitlines()[0])["vpdq"]] == [0, 30, 60, 90]

    def statuses(db: Path) -> dict[str, str]:
        lines = hw("match", str(listing), "--quiet", db=db).stdout.splitlines()
        return {Path(r["path"]).name: r["status"] for r in map(json.loads, lines)}

    assert statuses(tmp_path / "dense.db") == {"clip.mp4": "known", "other.mp4": "unknown"}
    # the problem: a set built at 1 frame/s holds frames half a second away from every sampled one
    assert statuses(tmp_path / "sparse.db") == {"clip.mp4": "unknown", "other.mp4": "unknown"}
    hw("scan", str(tmp_path / "ev"), "--case", "V1", "--out", str(tmp_path / "case"), "--quiet",
       db=tmp_path / "dense.db")
    items = {Path(i["path"]).name: i for i in json.loads((tmp_path / "case" / "report.json").read_text())["items"]}
    assert items["clip.mp4"]["status"] == "known" and items["clip.mp4"]["vpdq"]["frames"] == 4  # scan: 1/s
    assert items["clip.mp4"]["matches"][0]["query_percent"] == 100.0
    assert items["other.mp4"]["status"] == "unknown"


def test_seconds_per_hash_given_with_for_set_wins(tmp_path: Path) -> None:
    make_video(tmp_path / "v.mp4", seed=2, frames=60, **SMALL)
    record = json.loads(hw("hash", "--for-set", "--seconds-per-hash", "0.5", str(tmp_path / "v.mp4"),
                           db=tmp_path / "db").stdout)
    assert [f["frame"] for f in record["vpdq"]] == [0, 15, 30, 45]
    assert "pdq_dihedral" not in record  # a set stores one PDQ per image; the scan brings the dihedral forms
