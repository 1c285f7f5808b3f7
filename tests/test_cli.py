"""The CLI contracts: commands, JSON-lines output, imports, exit codes (0 ok, 1 fatal, 2 usage)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hashwarden.demo.synthetic import save, scene, variant

HASH_KEYS = {"path", "size", "md5", "sha1", "sha256", "media", "pdq", "pdq_quality"}


def hw(*args: str, db: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HASHWARDEN_DB": str(db), "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "hashwarden", *args], capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return result


def test_hash_output_contract(tmp_path: Path) -> None:
    save(scene(4), tmp_path / "in" / "a.jpg")
    (tmp_path / "in" / "b.bin").write_bytes(b"\0" * 10)
    (tmp_path / "in" / "c.jpg").write_bytes((tmp_path / "in" / "a.jpg").read_bytes()[:2000])
    lines = hw("hash", "--dihedral", str(tmp_path / "in"), db=tmp_path / "db").stdout.splitlines()
    records = {Path(r["path"]).name: r for r in map(json.loads, lines)}
    assert set(records) == {"a.jpg", "b.bin", "c.jpg"}
    for record in records.values():
        assert HASH_KEYS | {"pdq_dihedral"} <= set(record)
    assert records["a.jpg"]["media"] == "image" and len(records["a.jpg"]["pdq_dihedral"]) == 8
    assert records["b.bin"]["media"] == "other" and records["b.bin"]["pdq"] is None
    assert "truncated" in records["c.jpg"]["error"] and records["c.jpg"]["md5"]
    single = json.loads(hw("hash", str(tmp_path / "in" / "a.jpg"), db=tmp_path / "db").stdout)
    assert single["path"] == str(tmp_path / "in" / "a.jpg") and "pdq_dihedral" not in single


def test_sets_imports_scan_audit(tmp_path: Path, conformance: Path) -> None:
    db = tmp_path / "hw.db"
    hw("set", "create", "caid", "--kind", "alert", "--source", "CAID", "--scheme", "uk-sentencing", db=db)
    haystack = conformance / "threatexchange" / "pdq" / "data" / "reg-test-input" / "haystack.txt"
    assert "1,350" in hw("import", "pdq", str(haystack), "--set", "caid", db=db).stdout
    flavour = conformance / "threatexchange" / "expected" / "pdq-library-flavour.csv"
    hw("import", "pdq", str(flavour), "--set", "caid", db=db)
    save(scene(9), tmp_path / "ev" / "x.jpg")
    listing = hw("hash", str(tmp_path / "ev"), db=db).stdout
    (tmp_path / "h.jsonl").write_text(listing.replace('"media"', '"category": "B", "media"'))
    hw("import", "hashes", str(tmp_path / "h.jsonl"), "--set", "caid", db=db)
    (tmp_path / "m.md5").write_text(f"{json.loads(listing)['md5']}  x.jpg\n")
    hw("set", "create", "local", "--kind", "ignorable", db=db)
    hw("import", "md5sum", str(tmp_path / "m.md5"), "--set", "local", db=db)
    table = hw("set", "list", db=db).stdout
    pdqs = {line.split(",")[0].strip().lower() for f in (haystack, flavour) for line in f.read_text().splitlines()
            if line.strip() and not line.startswith("#") and len(line.split(",")[0].strip()) == 64}
    assert "caid" in table and f"{len(pdqs) + 1:,}" in table and "local" in table  # duplicates are not re-added
    hw("scan", str(tmp_path / "ev"), "--case", "C1", "--out", str(tmp_path / "case"), "--quiet", db=db)
    (item,) = json.loads((tmp_path / "case" / "report.json").read_text())["items"]
    assert item["status"] == "known" and {m["kind"] for m in item["matches"]} == {"alert", "ignorable"}
    assert "intact" in hw("audit", "verify", db=db).stdout


def test_exit_codes(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    assert hw("scan", db=db, check=False).returncode == 2
    assert hw("set", "create", "x", db=db, check=False).returncode == 2  # --kind missing
    assert hw("scan", "--case", "c", "--out", str(tmp_path / "o"), "nope", db=db, check=False).returncode == 1
    failed = hw("import", "pdq", str(tmp_path / "missing.txt"), "--set", "x", db=db, check=False)
    assert failed.returncode == 1 and failed.stderr.startswith("FormatError:") and "missing.txt" in failed.stderr
    hw("set", "create", "x", "--kind", "alert", db=db)
    duplicate = hw("set", "create", "x", "--kind", "alert", db=db, check=False)
    assert duplicate.returncode == 1 and duplicate.stderr.startswith("StoreError:")


def test_audit_verify_fails_after_tampering(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    hw("set", "create", "a", "--kind", "alert", db=db)
    hw("set", "create", "b", "--kind", "alert", db=db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit SET details = '{}' WHERE id = 1")
    result = hw("audit", "verify", db=db, check=False)
    assert result.returncode == 1 and "row 1" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("AuditError: audit log does not verify (")
    assert "Traceback" not in result.stderr


def test_audit_verify_raises_audit_error_for_the_one_handler(tmp_path: Path, monkeypatch) -> None:
    """In process, the command raises AuditError (main() prints it and exits 1) instead of printing it itself."""
    from typer.testing import CliRunner

    from hashwarden.cli import app
    from hashwarden.errors import AuditError

    db = tmp_path / "hw.db"
    hw("set", "create", "a", "--kind", "alert", db=db)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE audit SET details = '{}' WHERE id = 1")
    monkeypatch.delenv("HASHWARDEN_DB", raising=False)
    result = CliRunner().invoke(app, ["--db", str(db), "audit", "verify"])
    assert isinstance(result.exception, AuditError), result.output
    assert str(result.exception).startswith("audit log does not verify (")


def test_the_root_db_option_reaches_the_subcommand_for_that_invocation_only(tmp_path: Path, monkeypatch) -> None:
    """`hashwarden --db A ...` reaches the subcommand (through the context), a command's own --db wins over it,
    and a later invocation in the same process without --db uses $HASHWARDEN_DB, not A."""
    from typer.testing import CliRunner

    from hashwarden.cli import app

    first, second = tmp_path / "first.db", tmp_path / "second.db"
    runner = CliRunner()
    monkeypatch.setenv("HASHWARDEN_DB", str(second))
    assert runner.invoke(app, ["--db", str(first), "set", "create", "only-in-first", "--kind", "alert"]).exit_code == 0
    assert first.exists() and not second.exists()
    assert runner.invoke(app, ["set", "create", "only-in-second", "--kind", "alert"]).exit_code == 0
    listed = runner.invoke(app, ["set", "list", "--json"])
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["only-in-second"]
    listed = runner.invoke(app, ["--db", str(first), "set", "list", "--json"])
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["only-in-first"]
    listed = runner.invoke(app, ["--db", str(second), "set", "list", "--json", "--db", str(first)])  # the command's wins
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["only-in-first"]


@pytest.mark.parametrize("command", [
    [], ["hash"], ["scan"], ["set"], ["set", "create"], ["import", "pdq"], ["audit"], ["demo"], ["match"], ["agency"],
    ["user"], ["user", "create"], ["serve"], ["grade"], ["grading"], ["grading", "status"], ["grading", "publish"],
    ["series"], ["series", "link"], ["victim"], ["victim", "create"], ["victim", "link"], ["stats"], ["url"],
    ["url", "canon"], ["url", "expressions"], ["url", "add"], ["url", "remove"], ["url", "appeal"], ["url", "check"],
    ["url", "list"], ["url", "import"], ["url", "export"], ["export", "rpz"], ["remote", "leads"]])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = hw(*command, "--help", db=tmp_path / "db")
    assert "Usage" in result.stdout and len(result.stdout.splitlines()) > 3


def test_match_hash_lists_in_batches(tmp_path: Path) -> None:
    """`hashwarden match`: each line back with the status and matches a scan would give (rotated copy known by
    PDQ, exact copy by digest, unrelated image unknown); a malformed line is a FormatError naming file and line."""
    db = tmp_path / "hw.db"
    hw("set", "create", "known", "--kind", "alert", db=db)
    save(scene(21), tmp_path / "orig" / "a.jpg")
    (tmp_path / "known.jsonl").write_text(hw("hash", str(tmp_path / "orig"), db=db).stdout)
    hw("import", "hashes", str(tmp_path / "known.jsonl"), "--set", "known", db=db)
    save(scene(21), tmp_path / "up" / "same.jpg")
    save(variant(scene(21), "rot90"), tmp_path / "up" / "turned.jpg")
    save(scene(22), tmp_path / "up" / "other.jpg")
    (tmp_path / "up.jsonl").write_text(hw("hash", "--dihedral", str(tmp_path / "up"), db=db).stdout)
    result = hw("match", str(tmp_path / "up.jsonl"), "-o", str(tmp_path / "out.jsonl"), db=db)
    lines = {Path(r["path"]).name: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert {name: r["status"] for name, r in lines.items()} == {"same.jpg": "known", "turned.jpg": "known",
                                                               "other.jpg": "unknown"}
    assert lines["same.jpg"]["matches"][0]["method"] == "sha256"
    (turned,) = lines["turned.jpg"]["matches"]
    assert turned["method"] == "pdq" and turned["transform"] != "orig" and turned["set"] == "known"
    assert "known: 2" in result.stderr and "unknown: 1" in result.stderr
    (tmp_path / "bad.jsonl").write_text((tmp_path / "up.jsonl").read_text() + '{"pdq": "abc"}\n')
    failed = hw("match", str(tmp_path / "bad.jsonl"), db=db, check=False)
    assert failed.returncode == 1 and failed.stderr.startswith("FormatError:") and "bad.jsonl" in failed.stderr
    assert ":4" in failed.stderr and "pdq" in failed.stderr
    for hashes, output, named in ((tmp_path / "absent.jsonl", [], "absent.jsonl"), (tmp_path, [], str(tmp_path)),
                                  (tmp_path / "up.jsonl", ["-o", str(tmp_path / "orig")], "orig")):
        refused = hw("match", str(hashes), *output, db=db, check=False)  # a usage error, not a traceback
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
        assert "cannot" in refused.stderr and named in refused.stderr.replace("\n", "").replace("│", "")


def test_known_video_found_by_vpdq_in_a_scan_and_by_match(tmp_path: Path) -> None:
    """A known video's `hashwarden hash` line (with its vPDQ frames) imported into an alert set; a trimmed,
    re-encoded, resized copy in the evidence is `known` by vPDQ with both percentages, an unrelated video is
    `unknown`; `hashwarden match` says the same from hash lines."""
    from tests.signals.videos import make_video

    db = tmp_path / "hw.db"
    (tmp_path / "known").mkdir()
    make_video(tmp_path / "known" / "original.mp4", seed=5, frames=360)
    hashed = hw("hash", str(tmp_path / "known"), db=db).stdout
    record = json.loads(hashed)
    assert record["media"] == "video" and [f["frame"] for f in record["vpdq"]] == list(range(0, 360, 30))
    assert set(record["vpdq"][0]) == {"frame", "quality", "pdq", "timestamp"}
    (tmp_path / "known.jsonl").write_text(hashed)
    hw("set", "create", "videos", "--kind", "alert", db=db)
    hw("import", "hashes", str(tmp_path / "known.jsonl"), "--set", "videos", db=db)
    (tmp_path / "ev").mkdir()
    make_video(tmp_path / "ev" / "clip.mp4", seed=5, frames=180, start=120, crf=35, scale=0.75)
    make_video(tmp_path / "ev" / "other.mp4", seed=9, frames=180)
    hw("scan", str(tmp_path / "ev"), "--case", "V1", "--out", str(tmp_path / "case"), "--quiet", db=db)
    items = {Path(i["path"]).name: i for i in json.loads((tmp_path / "case" / "report.json").read_text())["items"]}
    assert items["other.mp4"]["status"] == "unknown" and items["other.mp4"]["vpdq"]["frames"] == 6
    clip = items["clip.mp4"]
    assert clip["status"] == "known" and clip["vpdq"] == {"frames": 6, "decoded": 180, "fps": 30.0}
    (found,) = clip["matches"]
    assert found["method"] == "vpdq" and found["set"] == "videos"
    assert found["query_percent"] == 100.0 and found["compared_percent"] == 50.0
    listing = tmp_path / "ev.jsonl"
    listing.write_text(hw("hash", str(tmp_path / "ev"), db=db).stdout)
    lines = {Path(r["path"]).name: r for r in map(json.loads, hw("match", str(listing), db=db).stdout.splitlines())}
    assert lines["clip.mp4"]["status"] == "known" and lines["other.mp4"]["status"] == "unknown"
    strict = hw("match", str(listing), "--vpdq-compared-percent", "60", db=db).stdout
    strict_lines = {Path(r["path"]).name: r["status"] for r in map(json.loads, strict.splitlines())}
    assert strict_lines == {"clip.mp4": "unknown", "other.mp4": "unknown"}


def test_a_missing_or_empty_database_is_refused_not_a_clean_result(tmp_path: Path) -> None:
    """A mistyped --db must not give "0 known" with exit 0: read-only commands never create a database, and a scan
    or match against one without alert entries refuses unless --allow-empty says that is meant."""
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "a.txt").write_text("benign")
    typo = tmp_path / "hashwarden-typo.db"
    for command in (["scan", str(tmp_path / "ev"), "--case", "C", "--out", str(tmp_path / "case"), "--quiet"],
                    ["match", "-"], ["set", "list"], ["audit", "verify"],
                    ["export", "md5sum", "--set", "x", "-o", str(tmp_path / "x.md5")]):
        done = hw(*command, db=typo, check=False)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "no hash database at" in done.stderr and str(typo) in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert not typo.exists()
    empty = tmp_path / "empty.db"
    hw("set", "create", "later", "--kind", "alert", db=empty)
    hw("set", "create", "nsrl", "--kind", "ignorable", db=empty)
    refused = hw("scan", str(tmp_path / "ev"), "--case", "C", "--out", str(tmp_path / "case"), "--quiet", db=empty,
                 check=False)
    assert refused.returncode == 1 and "1 alert set(s), all empty" in refused.stderr, refused.stderr
    assert "--allow-empty" in refused.stderr and not (tmp_path / "case" / "report.json").exists()
    matched = hw("match", "-", db=empty, check=False)
    assert matched.returncode == 1 and "every item would be reported unknown" in matched.stderr
    hw("scan", str(tmp_path / "ev"), "--case", "C", "--out", str(tmp_path / "case"), "--quiet", "--allow-empty",
       db=empty)
    assert json.loads((tmp_path / "case" / "report.json").read_text())["summary"]["unknown"] == 1


def test_import_says_it_creates_a_set_and_checks_categories_against_its_scheme(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    line = {"path": "a.jpg", "md5": "a" * 32, "media": "image"}
    (tmp_path / "ok.jsonl").write_text(json.dumps({**line, "category": "A"}) + "\n")
    (tmp_path / "bad.jsonl").write_text(json.dumps({**line, "md5": "b" * 32, "category": "1"}) + "\n")
    created = hw("import", "hashes", str(tmp_path / "ok.jsonl"), "--set", "uk", "--scheme", "uk-sentencing", db=db)
    assert "created hash set uk (alert, category scheme uk-sentencing): it did not exist" in created.stdout
    again = hw("import", "hashes", str(tmp_path / "ok.jsonl"), "--set", "uk", db=db)
    assert "created hash set" not in again.stdout
    refused = hw("import", "hashes", str(tmp_path / "bad.jsonl"), "--set", "uk", db=db, check=False)
    assert refused.returncode == 1 and refused.stderr.startswith("FormatError:")
    assert "category '1' is not a code of scheme 'uk-sentencing'" in refused.stderr and "bad.jsonl" in refused.stderr
    unknown = hw("import", "hashes", str(tmp_path / "ok.jsonl"), "--set", "new", "--scheme", "uk-sentencin", db=db,
                 check=False)
    assert unknown.returncode == 1 and "unknown category scheme 'uk-sentencin'" in unknown.stderr
    assert "new" not in hw("set", "list", db=db).stdout  # nothing created by a refused import


def test_export_vics_writes_the_region_of_the_sets_own_scheme(tmp_path: Path) -> None:
    """A set graded under vics-us exported as `Default` would change what every code means."""
    db = tmp_path / "hw.db"
    (tmp_path / "us.jsonl").write_text(json.dumps({"path": "a.jpg", "md5": "c" * 32, "media": "image",
                                                   "category": "1"}) + "\n")
    hw("import", "hashes", str(tmp_path / "us.jsonl"), "--set", "us", "--scheme", "vics-us", db=db)
    hw("export", "vics", "--set", "us", "-o", str(tmp_path / "us.json"), db=db)
    exported = json.loads((tmp_path / "us.json").read_text())
    assert "/2.0.xml/US/" in exported["@odata.context"] and exported["value"][0]["Category"] == 1
    wrong = hw("export", "vics", "--set", "us", "--region", "Default", "-o", str(tmp_path / "d.json"), db=db,
               check=False)
    assert wrong.returncode == 1 and "d.json" in wrong.stderr and "--region US" in wrong.stderr, wrong.stderr
    assert not (tmp_path / "d.json").exists()


def test_cli_conventions(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    assert hw("--version", db=db).stdout.strip().startswith("hashwarden ")
    save(scene(5), tmp_path / "ev" / "a.jpg")
    missing = hw("hash", str(tmp_path / "ev" / "a.jpg"), str(tmp_path / "nope.jpg"), db=db, check=False)
    assert missing.returncode == 1 and len(missing.stdout.splitlines()) == 1 and "nope.jpg" in missing.stderr
    listed = subprocess.run([sys.executable, "-m", "hashwarden", "hash", "-"], input=f"{tmp_path / 'ev' / 'a.jpg'}\n",
                            capture_output=True, text=True, env={**os.environ, "HASHWARDEN_DB": str(db)})
    assert listed.returncode == 0 and json.loads(listed.stdout)["path"].endswith("a.jpg")
    (tmp_path / "cat.jsonl").write_text(json.dumps({"path": "x", "md5": "d" * 32, "media": "image",
                                                    "category": ":a: [bold]B[/]"}) + "\n")
    hw("import", "hashes", str(tmp_path / "cat.jsonl"), "--set", "[red]odd[/] :a:", db=db)
    table = hw("set", "list", db=db).stdout
    assert "[red]odd[/] :a:" in table  # data printed as text: no markup, no emoji
    rows = [json.loads(line) for line in hw("set", "list", "--json", db=db).stdout.splitlines()]
    assert rows == [{"name": "[red]odd[/] :a:", "kind": "alert", "source": "local", "category_scheme": None,
                     "version": None, "description": None, "entries": 1}]
    case = hw("scan", str(tmp_path / "ev"), "--case", " ", "--out", str(tmp_path / "o"), db=db, check=False)
    assert case.returncode == 2 and "--case" in case.stderr
    (tmp_path / "afile").write_text("x")
    as_file = hw("scan", str(tmp_path / "ev"), "--case", "C", "--out", str(tmp_path / "afile"), db=db, check=False)
    assert as_file.returncode == 1 and as_file.stderr.strip() == \
        f"ScanError: --out {tmp_path / 'afile'} is a file, not a case directory"
    twice = hw("scan", str(tmp_path / "ev"), str(tmp_path / "ev") + "/", "--case", "C", "--out", str(tmp_path / "c"),
               "--quiet", db=db)
    assert "scanned once" in twice.stderr
    report = json.loads((tmp_path / "c" / "report.json").read_text())
    assert len(report["sources"]) == 1 and report["summary"]["items"] == 1
    log = tmp_path / "debug.log"
    import gzip
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("x.bin")
        info.size = 5000
        archive.addfile(info, io.BytesIO(bytes(range(256)) * 20))
    (tmp_path / "ev" / "cut.tar.gz").write_bytes(gzip.compress(buffer.getvalue())[:-40])  # fails while expanded
    hw("--log-file", str(log), "scan", str(tmp_path / "ev"), "--case", "C", "--out", str(tmp_path / "c2"), "--quiet",
       "--workers", "2", db=db)
    text = log.read_text()
    assert "cut.tar.gz" in text and "Traceback" in text  # the traceback a report line stands for, from a worker


def test_workers_zero_counts_the_cores_this_process_may_use() -> None:
    from hashwarden.config import ScanSettings

    assert ScanSettings(workers=0).worker_count() == len(os.sched_getaffinity(0))
    assert ScanSettings(workers=3).worker_count() == 3


def test_set_show_rename_delete_are_audited_and_verify(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    (tmp_path / "l.md5").write_text(f"{'e' * 32}  a.jpg\n{'f' * 32}  b.jpg\n")
    hw("import", "md5sum", str(tmp_path / "l.md5"), "--set", "old", db=db)
    shown = json.loads(hw("set", "show", "old", "--json", db=db).stdout)
    assert shown["entries"] == 2 and shown["kind"] == "alert" and shown["imports"][0]["added"] == 2
    assert shown["imports"][0]["file"].endswith("l.md5")
    hw("set", "rename", "old", "new", db=db)
    assert "intact" in hw("audit", "verify", db=db).stdout
    refused = hw("set", "delete", "new", db=db, check=False)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert "deleted hash set new and its 2 entries" in hw("set", "delete", "new", "--yes", db=db).stdout
    assert "intact" in hw("audit", "verify", db=db).stdout  # removed on purpose, not "outside hashwarden"
    import sqlite3

    with sqlite3.connect(db) as conn:
        actions = [row[0] for row in conn.execute("SELECT action FROM audit ORDER BY id")]
    assert actions[-2:] == ["set.rename", "set.delete"]
    gone = hw("set", "show", "new", db=db, check=False)
    assert gone.returncode == 1 and "no hash set named 'new'" in gone.stderr


def test_export_to_standard_output(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    (tmp_path / "l.md5").write_text(f"{'e' * 32}  a.jpg\n")
    hw("import", "md5sum", str(tmp_path / "l.md5"), "--set", "s", db=db)
    done = hw("export", "md5sum", "--set", "s", "-o", "-", db=db)
    assert done.stdout == f"{'e' * 32}  a.jpg\n" and "exported 1 entries to -" in done.stderr
    assert not (tmp_path / "-").exists()


def test_no_verify_after_skips_the_second_read(tmp_path: Path) -> None:
    """custody.json has an "after" content listing from a second read by default; `--no-verify-after` leaves it
    null (and says the source was not re-read) while the metadata listings are still compared."""
    db = tmp_path / "hw.db"
    save(scene(31), tmp_path / "ev" / "a.jpg")
    custody = {}
    for name, flags in (("default", ()), ("skipped", ("--no-verify-after",))):
        hw("scan", str(tmp_path / "ev"), "--case", "C", "--out", str(tmp_path / name), "--quiet", "--allow-empty",
           *flags, db=db)
        custody[name] = json.loads((tmp_path / name / "custody.json").read_text())
    (verified,), (skipped,) = custody["default"]["sources"], custody["skipped"]["sources"]
    assert verified["after"]["sha256"] == verified["before"]["sha256"] and verified["unchanged"] is True
    assert skipped["after"] is None and skipped["before"]["sha256"] == verified["before"]["sha256"]
    assert skipped["metadata_after"] == skipped["metadata_before"] and skipped["unchanged"] is True


@pytest.mark.heavy
def test_video_options_of_scan(tmp_path: Path) -> None:
    """`--seconds-per-hash` sets the scan's frame rate (0.5 s: twice the frames of the default 1 s), and
    `--vpdq-query-percent` the share of a scanned video's frames that must be known: a 12 s video whose first 6 s
    are a known video is `unknown` at the default 80 % and `known` at 40 %."""
    from tests.signals.videos import make_video

    db = tmp_path / "hw.db"
    (tmp_path / "known").mkdir()
    make_video(tmp_path / "known" / "first-half.mp4", seed=5, frames=180)
    (tmp_path / "known.jsonl").write_text(hw("hash", "--for-set", str(tmp_path / "known"), db=db).stdout)
    hw("set", "create", "videos", "--kind", "alert", db=db)
    hw("import", "hashes", str(tmp_path / "known.jsonl"), "--set", "videos", db=db)
    (tmp_path / "ev").mkdir()
    make_video(tmp_path / "ev" / "longer.mp4", seed=5, frames=360)

    def scan(name: str, *flags: str) -> dict:
        hw("scan", str(tmp_path / "ev"), "--case", "V", "--out", str(tmp_path / name), "--quiet", *flags, db=db)
        (item,) = [i for i in json.loads((tmp_path / name / "report.json").read_text())["items"]
                   if i["path"].endswith("longer.mp4")]
        return item

    default, half_second, lenient = scan("default"), scan("half", "--seconds-per-hash", "0.5"), \
        scan("lenient", "--vpdq-query-percent", "40")
    assert default["vpdq"]["frames"] == 12 and half_second["vpdq"]["frames"] == 24
    assert default["status"] == "unknown" and default["matches"] == []
    (match,) = lenient["matches"]
    assert lenient["status"] == "known" and match["method"] == "vpdq" and 40 <= match["query_percent"] < 80


@pytest.mark.heavy
def test_pdq_and_limit_options_of_scan_reach_the_scan(tmp_path: Path) -> None:
    """The README's scan options, through the CLI: `--pdq-threshold` and `--pdq-min-quality` decide whether a
    cropped copy of a known image is matched, `--no-pdq` leaves images undecoded, and `--max-members` and
    `--max-expanded-bytes` stop a zip's expansion as an error of the zip that names the option."""
    import zipfile

    from PIL import Image, ImageFilter

    db = tmp_path / "hw.db"
    grey = Image.new("RGB", (640, 480), (128, 128, 128))
    faint = Image.blend(scene(41), grey, 0.45).filter(ImageFilter.GaussianBlur(4))
    save(faint, tmp_path / "known" / "a.png", "PNG")  # low contrast: PDQ quality ~65, between 50 and 80
    (tmp_path / "known.jsonl").write_text(hw("hash", str(tmp_path / "known"), db=db).stdout)
    hw("set", "create", "known", "--kind", "alert", db=db)
    hw("import", "hashes", str(tmp_path / "known.jsonl"), "--set", "known", db=db)
    save(variant(faint, "cropped"), tmp_path / "ev" / "copy.png", "PNG")
    with zipfile.ZipFile(tmp_path / "ev" / "box.zip", "w") as archive:
        for n in range(3):
            archive.writestr(f"m{n}.bin", bytes([n]) * 40_000)

    def scan(name: str, *flags: str) -> dict:
        hw("scan", str(tmp_path / "ev"), "--case", "O", "--out", str(tmp_path / name), "--quiet", *flags, db=db)
        return {Path(i["path"]).name: i for i in json.loads((tmp_path / name / "report.json").read_text())["items"]}

    default = scan("default")
    (match,) = default["copy.png"]["matches"]
    assert match["method"] == "pdq" and 0 < match["distance"] <= 31 and 50 <= default["copy.png"]["pdq_quality"] < 80
    assert default["box.zip"]["status"] != "error" and default["m2.bin"]["md5"]
    strict = scan("strict", "--pdq-threshold", "0", "--max-members", "2")
    assert strict["copy.png"]["status"] == "unknown" and strict["copy.png"]["pdq"] == default["copy.png"]["pdq"]
    assert strict["box.zip"]["status"] == "error" and "--max-members" in strict["box.zip"]["error"]
    picky = scan("picky", "--pdq-min-quality", "80", "--max-expanded-bytes", "50000")
    assert picky["copy.png"]["status"] == "unknown"
    assert picky["box.zip"]["status"] == "error" and "--max-expanded-bytes" in picky["box.zip"]["error"]
    digests = scan("digests", "--no-pdq")
    assert digests["copy.png"]["pdq"] is None and digests["copy.png"]["status"] == "unknown"
    assert digests["copy.png"]["md5"] == default["copy.png"]["md5"]


def test_shell_completion_is_offered() -> None:
    """`hashwarden --install-completion` (README): Typer's completion options are on the top-level help."""
    result = hw("--help", db=Path("unused.db"))
    assert "--install-completion" in result.stdout and "--show-completion" in result.stdout


def test_the_progress_bar_draws_on_a_terminal(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """What a scan shows on a terminal: Rich's live display, on the console itself (the display enters it as a
    context manager, which the lazily made stand-in the commands print through cannot be)."""
    from hashwarden.cli import common

    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # stderr is a pipe here: Rich is told it is a terminal
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(common, "err", common.LazyConsole(stderr=True))
    assert common.show_progress(False) and not common.show_progress(True)
    with common.RichProgress() as progress:
        progress.phase("hashing", 3)
        for _ in range(3):
            progress.advance()
    drawn = capsys.readouterr().err
    assert "hashing" in drawn and "3/3" in drawn
