"""The known-file filter: files in ignorable sets (NSRL) are reported ignorable and never decoded for PDQ; the
memory-mapped cache follows the sets' imports, and a damaged cache is rebuilt, never trusted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from hashwarden.config import ScanSettings
from hashwarden.demo.synthetic import save, scene
from hashwarden.formats.exchange import import_file
from hashwarden.index.known_filter import FEW_VALUES, KnownFilter, build
from hashwarden.scan import run_scan
from hashwarden.scan.known_files import cache_directory, open_known_filter
from hashwarden.store import open_store


def _rds2(path: Path, files: list[Path]) -> Path:
    header = '"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode","OpSystemCode","SpecialCode"\n'
    rows = "".join(
        f'"{hashlib.sha1(f.read_bytes()).hexdigest().upper()}","{hashlib.md5(f.read_bytes()).hexdigest().upper()}",'
        f'"00000000","{f.name}",{f.stat().st_size},1,"358",""\n' for f in files)
    path.write_text(header + rows)
    return path


def test_known_files_are_ignorable_and_not_decoded(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    save(scene(1), evidence / "wallpaper.jpg")  # stands for a file shipped with an operating system
    save(scene(2), evidence / "photo.jpg")
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")
    import_file(engine, "nsrl", _rds2(tmp_path / "NSRLFile.txt", [evidence / "wallpaper.jpg"]), "nsrl")
    run_scan([str(evidence)], "K", tmp_path / "out", engine, ScanSettings(allow_empty=True, workers=1))
    items = {i["path"]: i for i in json.loads((tmp_path / "out" / "report.json").read_text())["items"]}
    known, other = items["wallpaper.jpg"], items["photo.jpg"]
    assert known["status"] == "ignorable" and known["pdq"] is None and "not decoded for PDQ" in known["note"]
    assert known["matches"][0]["set"] == "nsrl" and known["matches"][0]["method"] == "sha1"
    assert other["status"] == "unknown" and other["pdq"]
    # --no-nsrl: no filter, every image decoded (and the ignorable match still reported from the store)
    run_scan([str(evidence)], "K2", tmp_path / "out2", engine, ScanSettings(allow_empty=True, workers=1, known_filter=False))
    again = {i["path"]: i for i in json.loads((tmp_path / "out2" / "report.json").read_text())["items"]}
    assert again["wallpaper.jpg"]["pdq"] and again["wallpaper.jpg"]["status"] == "ignorable"


def test_cache_follows_imports_and_a_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")
    assert open_known_filter(engine) is None  # no ignorable set: no filter
    first = tmp_path / "a.md5"
    first.write_text(f"{hashlib.md5(b'one').hexdigest()}  one\n")
    import_file(engine, "md5sum", first, "local-known", kind="ignorable")
    known = open_known_filter(engine)
    assert known.lookup("md5", hashlib.md5(b"one").digest()) and len(known) == 1
    second = tmp_path / "b.md5"
    second.write_text(f"{hashlib.md5(b'two').hexdigest()}  two\n")
    import_file(engine, "md5sum", second, "local-known")
    rebuilt = open_known_filter(engine)
    assert rebuilt.fingerprint != known.fingerprint and rebuilt.lookup("md5", hashlib.md5(b"two").digest())
    directory = cache_directory(engine)
    (directory / "md5.full.npy").write_bytes(b"damaged")
    assert open_known_filter(engine).lookup("md5", hashlib.md5(b"two").digest())  # rebuilt, not trusted


def test_filter_lookups_agree_with_a_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    digests = rng.integers(0, 256, size=(20_000, 20), dtype=np.uint8)
    digests[1, :8] = digests[0, :8]  # two digests sharing their 8-byte prefix
    build(tmp_path / "f", {"sha1": (digests.view("S20").ravel(), np.arange(len(digests)))}, "x")
    known = KnownFilter.open(tmp_path / "f")
    queries = np.concatenate([digests[:500], rng.integers(0, 256, size=(500, 20), dtype=np.uint8)])
    queries[-1, :8] = digests[0, :8]  # same prefix, different digest: not a member
    expected = [q.tobytes() in {d.tobytes() for d in digests} for q in queries]
    assert known.contains_many("sha1", queries).tolist() == expected
    assert known.lookup("sha1", digests[1].tobytes()) == [1]


def test_a_batch_find_answers_each_digest_as_lookup_does(tmp_path: Path) -> None:
    """`find` (a whole lookup batch at once, Matcher.match_many) gives each value exactly the entries holding it:
    digests sharing an 8-byte prefix told apart, one digest held by several entries, digests ending in zero bytes,
    values of another width."""
    rng = np.random.default_rng(8)
    digests = rng.integers(0, 256, size=(5_000, 16), dtype=np.uint8)
    digests[1:4, :8] = digests[0, :8]  # four digests sharing their prefix
    digests[5] = digests[6]  # one digest, two entries
    digests[7, 8:] = 0
    build(tmp_path / "f", {"md5": (digests.view("S16").ravel(), np.arange(len(digests)))}, "x")
    known = KnownFilter.open(tmp_path / "f")
    near = digests[0].copy()
    near[-1] ^= 1  # same prefix as four of them, stored by none
    values = [d.tobytes() for d in digests[:300:3]] + [d.tobytes() for d in digests[1:8]] + [near.tobytes(), b"\0" * 16,
                                                                                              b"short", b""]
    numbers, entry_ids = known.find("md5", values)
    answers: dict[int, list[int]] = {}
    for number, entry_id in zip(numbers.tolist(), entry_ids.tolist()):
        answers.setdefault(number, []).append(entry_id)
    held: dict[bytes, list[int]] = {}
    for entry_id, digest in enumerate(digests):
        held.setdefault(digest.tobytes(), []).append(entry_id)
    assert {n: sorted(ids) for n, ids in answers.items()} == {n: held[v] for n, v in enumerate(values) if v in held}
    assert [sorted(known.lookup("md5", v)) for v in values] == [held.get(v, []) for v in values]
    few = values[-FEW_VALUES:]
    assert known.find("md5", few)[1].tolist() == [i for v in few for i in held.get(v, [])]
    assert sorted(known.lookup("md5", digests[5].tobytes())) == [5, 6] and known.lookup("md5", near.tobytes()) == []
    assert known.lookup("md5", digests[2].tobytes()) == [2] and known.lookup("md5", digests[7].tobytes()) == [7]
