"""`hashwarden import` / `hashwarden export` end to end: every format through the CLI contract, idempotent
re-import with provenance kept, NSRL deltas applied, atomic failures, and lossless export -> import round trips.

All fixtures are made-up hashes and names written here.
"""

from __future__ import annotations

import hashlib
import random
import json
import sqlite3
from pathlib import Path

import pytest

from hashwarden.formats.exchange import export_set, import_file
from hashwarden.store import create_set, open_store
from hashwarden.store.hashsets import get_set, iter_entries
from hashwarden.store.schema import entry, import_run
from tests.formats.test_icse import HEADER as ICSE_HEADER
from tests.formats.test_icse import row as icse_row
from tests.formats.test_nsrl import fake, insert, minimal_db
from tests.test_cli import hw

VICS = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"


def _md5(i: int) -> str:
    return hashlib.md5(b"made-up %d" % i).hexdigest()


def _entries(db: Path, set_name: str) -> list:
    engine = open_store(f"sqlite:///{db}")
    with engine.connect() as conn:
        return list(iter_entries(conn, get_set(conn, set_name).id))


def _count(db: Path, table) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0]


def test_md5sum_reimport_is_idempotent_and_keeps_first_provenance(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    listing = tmp_path / "list.md5"
    listing.write_text("".join(f"{_md5(i)}  dir/file{i}.jpg\n" for i in range(500)) + f"{_md5(7)}  again.jpg\n")
    first = hw("import", "md5sum", str(listing), "--set", "ncmec", db=db).stdout
    assert "imported 500 entries" in first and "501 records read" in first and "1 already" in first
    second = hw("import", "md5sum", str(listing), "--set", "ncmec", db=db).stdout
    assert "imported 0 entries" in second and "501 already in the set" in second
    entries = _entries(db, "ncmec")
    assert len(entries) == 500 and {e.line for e in entries} == set(range(1, 501))  # first import's lines
    with sqlite3.connect(db) as conn:
        runs = conn.execute("SELECT rows, added, duplicates, file_sha256 FROM import_run ORDER BY id").fetchall()
        imports = conn.execute("SELECT count(*) FROM entry GROUP BY import_id").fetchall()
    digest = hashlib.sha256(listing.read_bytes()).hexdigest()
    assert runs == [(501, 500, 1, digest), (501, 0, 501, digest)] and imports == [(500,)]
    assert "audit log intact" in hw("audit", "verify", db=db).stdout


def test_failed_import_changes_nothing_and_names_the_line(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    good = tmp_path / "good.md5"
    good.write_text(f"{_md5(1)}  a\n")
    hw("import", "md5sum", str(good), "--set", "kept", db=db)
    bad = tmp_path / "bad.md5"
    bad.write_text(f"{_md5(2)}  b\n{_md5(3)[:31]}  c\n")
    result = hw("import", "md5sum", str(bad), "--set", "newset", db=db, check=False)
    assert result.returncode == 1 and f"{bad}:2" in result.stderr
    assert "newset" not in hw("set", "list", db=db).stdout  # not even the set it would have created
    assert _count(db, entry) == 1 and _count(db, import_run) == 1


def test_nsrl_sqlite_creates_an_ignorable_set_and_a_delta_is_applied(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    rds = minimal_db(tmp_path / "RDS_minimal.db")
    out = hw("import", "nsrl", str(rds), "--set", "nsrl", db=db).stdout
    assert "imported 3 entries" in out and "4 records read" in out  # one file listed in two packages
    assert "ignorable" in hw("set", "list", db=db).stdout
    sha256_1, _, _, _ = fake(1)
    sha256_3, sha1_3, _, _ = fake(3)
    delta = tmp_path / "delta.sql"
    delta.write_text(
        "BEGIN TRANSACTION;\n" + insert(10) + insert(11)
        + f"DELETE FROM FILE WHERE sha256 = '{sha256_1}';\n"
        + f"UPDATE FILE SET file_name = 'renamed.txt' WHERE sha1 = '{sha1_3}';\n"
        + "INSERT INTO PKG VALUES (999, 'Tool', '1', 1, 2, 'English', 'Utility');\nCOMMIT;\n")
    out = hw("import", "nsrl", str(delta), "--set", "nsrl", db=db).stdout
    assert "imported 2 entries" in out and "1 entries deleted, 1 updated" in out and "PKG insert" in out
    entries = {e.sha256: e for e in _entries(db, "nsrl")}
    assert sha256_1.lower() not in entries and fake(10)[0].lower() in entries
    assert entries[sha256_3.lower()].attributes["file_name"] == "renamed.txt"


def test_vics_miniature_dropped_and_round_trip_through_export(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    media = [{"MediaID": i, "Category": 1 + i % 2, "MD5": _md5(i).upper(), "MediaSize": str(100 + i),
              "VictimIdentified": "true", "Series": "Made-up series", "Tags": "a,b", "Miniature": "/9j/AAAA",
              "MediaFiles": [{"MD5": _md5(i), "FileName": f"f{i}.jpg", "FilePath": f"EV1\\f{i}.jpg"}]}
             for i in range(1, 6)]
    source = tmp_path / "caid.json"
    source.write_text(json.dumps({"@odata.context": VICS, "value": media}))
    out = hw("import", "vics", str(source), "--set", "caid", db=db).stdout
    assert "imported 5 entries" in out and "Miniature x 5" in out
    assert "vics-us" in hw("set", "list", db=db).stdout  # the set takes the list's declared scheme
    exported = tmp_path / "out.json"
    hw("export", "vics", "--set", "caid", "--region", "US", "-o", str(exported), db=db)
    text = exported.read_text()
    assert "Miniature" not in text and "Thumbnail" not in text and json.loads(text)["value"][0]["Series"]
    hw("import", "vics", str(exported), "--set", "again", db=db)
    strip = lambda e: (e.md5, e.category, e.category_scheme, e.size, e.victim_identified, e.series, e.tags,  # noqa: E731
                       e.attributes.get("MediaFiles"))
    assert [strip(e) for e in _entries(db, "caid")] == [strip(e) for e in _entries(db, "again")]


def test_icse_and_hashdeep_import_and_list_exports_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    icse = tmp_path / "icse.csv"
    icse.write_text(ICSE_HEADER + "\n" + icse_row() + "\n" + icse_row(md5=_md5(9), sha1="") + "\n")
    assert "imported 2 entries" in hw("import", "icse", str(icse), "--set", "icse", db=db).stdout
    deep = tmp_path / "deep.txt"
    deep.write_text("%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n## made up\n"
                    + "".join(f"{i},{_md5(i)},{hashlib.sha256(b'%d' % i).hexdigest()},/x/a,{i}.jpg\n"
                              for i in range(20)))
    assert "imported 20 entries" in hw("import", "hashdeep", str(deep), "--set", "deep", db=db).stdout
    for fmt, extra in (("hashdeep", []), ("md5sum", ["--digest", "sha256"])):
        target = tmp_path / f"out.{fmt}"
        hw("export", fmt, "--set", "deep", "-o", str(target), *extra, db=db)
        hw("import", fmt, str(target), "--set", f"back-{fmt}", db=db)
    original = {(e.sha256, e.size) for e in _entries(db, "deep")}
    assert {(e.sha256, e.size) for e in _entries(db, "back-hashdeep")} == original
    assert {e.sha256 for e in _entries(db, "back-md5sum")} == {sha for sha, _ in original}
    names = {e.attributes.get("file_name") or e.comments for e in _entries(db, "back-hashdeep")}
    assert "/x/a,3.jpg" in names  # a comma in a name survives


def test_pdq_export_round_trip_and_vics_case_export(tmp_path: Path, conformance: Path) -> None:
    db = tmp_path / "hw.db"
    haystack = conformance / "threatexchange" / "pdq" / "data" / "reg-test-input" / "haystack.txt"
    hw("import", "pdq", str(haystack), "--set", "te", db=db)
    out = tmp_path / "te.pdq"
    hw("export", "pdq", "--set", "te", "-o", str(out), db=db)
    hw("import", "pdq", str(out), "--set", "te2", db=db)
    assert {e.pdq for e in _entries(db, "te")} == {e.pdq for e in _entries(db, "te2")}
    # a scan case exported as VICS #Cases: hashes and paths of what was found, no imagery
    from hashwarden.demo.synthetic import save, scene

    save(scene(3), tmp_path / "ev" / "a.jpg")
    (tmp_path / "ev" / "notes.txt").write_text("benign")
    hw("scan", str(tmp_path / "ev"), "--case", "C-1", "--out", str(tmp_path / "case"), "--quiet", db=db)
    cases = tmp_path / "cases.json"
    hw("export", "vics", "--case", str(tmp_path / "case"), "-o", str(cases), db=db)
    document = json.loads(cases.read_text())
    assert "#Cases" in (document.get("@odata.context") or document.get("odata.metadata"))
    found = json.dumps(document)
    assert hashlib.md5((tmp_path / "ev" / "a.jpg").read_bytes()).hexdigest() in found.lower()
    assert "Miniature" not in found


def test_library_api_reports_duplicates_and_rejects_a_kind_clash(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")
    with engine.begin() as conn:
        create_set(conn, "benign", "ignorable")
    listing = tmp_path / "l.md5"
    listing.write_text(f"{_md5(1)}  a\n{_md5(1)}  a\n")
    result, _ = import_file(engine, "md5sum", listing, "benign")
    assert (result.rows, result.added, result.duplicates) == (2, 1, 1)
    from hashwarden.errors import StoreError

    with pytest.raises(StoreError, match="ignorable"):
        import_file(engine, "md5sum", listing, "benign", kind="alert")
    assert export_set(engine, "md5sum", "benign", tmp_path / "x.md5") == 1


def test_nsrl_sqlite_fast_rows_store_what_the_record_path_stores(tmp_path: Path) -> None:
    """`hashwarden import nsrl` on an RDSv3 SQLite takes the ready-row path; it must store exactly what the
    record path (used with --distinct and for text) stores for the same rows."""
    from hashwarden.formats import nsrl
    from hashwarden.store.loader import load

    rds = minimal_db(tmp_path / "RDS.db")
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")
    import_file(engine, "nsrl", rds, "fast")
    with engine.begin() as conn, open(rds, "rb") as fp:
        create_set(conn, "slow", "ignorable")
        load(conn, get_set(conn, "slow"), nsrl.read(fp, str(rds)), fmt="nsrl", file=str(rds))
    fields = lambda e: (e.sha256, e.sha1, e.md5, e.size, e.attributes, e.line)  # noqa: E731
    db = tmp_path / "hw.db"
    # The fast path reads NIST's table in sha256 order (its primary key), so entries are compared by their line.
    assert sorted(map(fields, _entries(db, "fast")), key=lambda f: f[-1]) == list(map(fields, _entries(db, "slow")))
    assert len(_entries(db, "fast")) == 3


def test_md5sum_names_stored_exactly_by_the_column_path(store_engine, tmp_path: Path) -> None:
    """The whole-column insert (one INSERT over json_each per chunk on SQLite, COPY on PostgreSQL) stores the same
    digests, names and line numbers as the record reader gives, for names that can go into JSON as they are and
    names that cannot (quotes, backslashes, tabs: their chunk takes the row path), non-ASCII and empty ones."""
    from hashwarden.formats import md5sum

    names = ["plain/a.jpg", "caf\u00e9 \u00fcber/\u5199\u771f.jpg", "", "say \"cheese\".jpg", "C:\\Users\\x.jpg",
             "tab\there.jpg", "  leading spaces.jpg", "*star.jpg"]
    lines = [f"{_md5(i)}  {names[i % len(names)] if i < 40 else f'dir/f{i}.jpg'}\n" for i in range(40_000)]
    listing = tmp_path / "list.md5"
    listing.write_bytes("".join(lines).encode())
    clean = tmp_path / "clean.md5"  # no name needing escapes: every chunk goes through the column path
    clean.write_bytes("".join(line for i, line in enumerate(lines) if i % len(names) not in (3, 4, 5)).encode())
    for path in (listing, clean):
        import_file(store_engine, "md5sum", path, path.stem)
        with store_engine.connect() as conn:
            stored = {(e.md5, e.comments, e.line) for e in iter_entries(conn, get_set(conn, path.stem).id)}
        with open(path, "rb") as fp:
            expected = {(r.md5, r.comments, r.line) for r in md5sum.read(fp, str(path))}
        assert stored == expected and len(stored) == path.read_bytes().count(b"\n")


def test_rdsv3_column_path_stores_what_the_record_reader_reads(store_engine, tmp_path: Path) -> None:
    """An RDSv3 FILE table big enough for several batches, with names JSON must escape, empty CRCs, zero sizes,
    goes in by whole columns (attributes assembled by SQLite on SQLite, in Python for COPY) and stores exactly the
    record reader's values; a malformed hash in a later batch still fails with its row and column named."""
    from hashwarden.errors import FormatError
    from hashwarden.formats import nsrl

    names = ['plain.dll', 'odd, "quoted" name.dll', "back\\slash\\x.sys", "caf\u00e9 \u5199\u771f.txt", "tab\tnew\nline"]
    rows = [(*fake(i)[:3], "" if i % 7 == 0 else fake(i)[3], names[i % len(names)], i * 10, 228 + i % 3)
            for i in range(120_000)]
    db = minimal_db(tmp_path / "RDS_2026.03.1_modern_minimal.db", rows=rows)
    import_file(store_engine, "nsrl", db, "nsrl")
    with store_engine.connect() as conn:
        stored = {e.line: (e.sha256, e.sha1, e.md5, e.size, e.attributes)
                  for e in iter_entries(conn, get_set(conn, "nsrl").id)}
    with open(db, "rb") as fp:
        expected = {r.line: (r.sha256, r.sha1, r.md5, r.size, r.attributes) for r in nsrl.read(fp, str(db))}
    assert stored == expected and len(stored) == 120_000
    assert stored[1][3] == 0 and "crc32" not in stored[1][4] and stored[2][4]["file_name"] == names[1]
    bad = [*rows[:100_000], (fake(1)[0], "Z" + fake(1)[1][1:], *rows[0][2:]), *rows[100_000:]]
    with pytest.raises(FormatError, match="row 100001 of FILE"):
        import_file(store_engine, "nsrl", minimal_db(tmp_path / "bad.db", rows=bad), "nsrl-bad")


def test_import_reports_progress_in_bytes(tmp_path, fresh_store) -> None:
    """A long import shows a progress bar: the callback is told every byte of the file, once."""
    from hashwarden.formats.exchange import import_file

    lines = "".join(f"{i:032x}  f{i}.jpg\n" for i in range(5000))
    (tmp_path / "big.md5").write_text(lines)
    seen: list[int] = []
    import_file(fresh_store, "md5sum", tmp_path / "big.md5", "s", progress=seen.append)
    assert sum(seen) == len(lines.encode()) and len(seen) >= 1
    (tmp_path / "h.jsonl").write_text('{"path": "a", "md5": "' + "a" * 32 + '", "media": "image"}\n')
    seen.clear()
    import_file(fresh_store, "hashes", tmp_path / "h.jsonl", "t", progress=seen.append)
    assert sum(seen) == (tmp_path / "h.jsonl").stat().st_size


class _Recorder:
    """A Progress (scan.pipeline.Progress) that remembers what it was told."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None]] = []
        self.done = 0

    def phase(self, description: str, total: int | None) -> None:
        self.phases.append((description, total))

    def advance(self, count: int = 1) -> None:
        self.done += count


def test_hash_and_export_report_progress(tmp_path, fresh_store) -> None:
    from hashwarden.formats.exchange import export_set, import_file
    from hashwarden.scan.hash_files import hash_paths

    for i in range(3):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / f"{i}.bin").write_bytes(b"x" * (100 + i))
    hashing = _Recorder()
    records = list(hash_paths([str(tmp_path / "in")], progress=hashing))
    assert len(records) == 3 and hashing.phases == [("hashing (bytes)", 303)] and hashing.done == 303
    (tmp_path / "l.md5").write_text("".join(f"{i:032x}  f{i}\n" for i in range(7)))
    import_file(fresh_store, "md5sum", tmp_path / "l.md5", "s")
    exporting = _Recorder()
    assert export_set(fresh_store, "md5sum", "s", tmp_path / "out.md5", progress=exporting) == 7
    assert exporting.phases == [("exporting (entries)", 7)] and exporting.done == 7


def test_hashes_export_carries_video_frames_and_round_trips(tmp_path: Path) -> None:
    """`export hashes` is the list format that keeps videos: a set exported and imported into another store matches
    a video by its frames there, and every field the reader reads comes back as it was (frames as stored)."""
    rng = random.Random(7)
    codes = ["".join(rng.choice("0123456789abcdef") for _ in range(64)) for _ in range(4)]
    video = [{"frame": i * 30, "quality": 90, "pdq": code, "timestamp": i * 1.001} for i, code in enumerate(codes)]
    lines = [{"md5": _md5(1), "sha256": "ab" * 32, "pdq": codes[0], "pdq_quality": 80, "media": "image",
              "size": 12, "category": "B", "series": "S-1", "tags": ["t1"], "comments": "benign test line"},
             {"sha1": "cd" * 20, "media": "video", "vpdq": video},
             {"vpdq": video[:2]}]  # a video known by its frames alone
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    db, other = tmp_path / "hw.db", tmp_path / "other.db"
    hw("import", "hashes", str(source), "--set", "caid", "--scheme", "uk-sentencing", db=db)
    out = tmp_path / "out.jsonl"
    hw("export", "hashes", "--set", "caid", "-o", str(out), db=db)
    assert [json.loads(line) for line in out.read_text().splitlines()] == lines
    hw("import", "hashes", str(out), "--set", "copy", "--scheme", "uk-sentencing", db=other)
    query = tmp_path / "query.jsonl"
    query.write_text(json.dumps({"path": "clip.mp4", "vpdq": video}) + "\n")
    (answer,) = map(json.loads, hw("match", str(query), db=other).stdout.splitlines())
    assert answer["status"] == "known"
    assert {(m["set"], m["method"]) for m in answer["matches"]} == {("copy", "vpdq")}


def test_hashes_export_merges_frames_across_stream_batches(store_engine, tmp_path: Path) -> None:
    """On both backends the entries and their frames are two streams read in batches of 10,000 rows and merged:
    with 12,000 entries, every third a video of 3 frames, both streams cross batch boundaries and each video still
    gets exactly its own frames."""
    def code(i: int) -> str:
        return hashlib.sha256(str(i).encode()).hexdigest()

    lines = []
    for i in range(12_000):
        line: dict = {"md5": _md5(i)}
        if i % 3 == 0:
            line["vpdq"] = [{"frame": f, "quality": 50 + f, "pdq": code(i * 10 + f), "timestamp": f * 0.5}
                            for f in range(3)]
        lines.append(line)
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    import_file(store_engine, "hashes", source, "videos")
    out = tmp_path / "out.jsonl"
    assert export_set(store_engine, "hashes", "videos", out) == len(lines)
    assert [json.loads(line) for line in out.read_text().splitlines()] == lines
