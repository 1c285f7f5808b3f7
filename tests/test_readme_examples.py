"""The README's "Using it" block runs as written: every command, in order, in one shell, on benign files made here
under the names it uses (a VICS export, an ICSE CSV, md5sum/hashdeep/PDQ lists, an RDSv3 database and delta,
generated photos), so the examples cannot drift away from what the commands accept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hashwarden.demo.synthetic import save, scene
from tests.formats.test_icse import HEADER, row
from tests.formats.test_nsrl import fake, minimal_db

PROJECT = Path(__file__).resolve().parents[1]


def readme_block() -> list[str]:
    text = (PROJECT / "README.md").read_text()
    section = text.split("## Using it", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if not line.startswith(". .venv/bin/activate")]


def make_files(work: Path) -> None:
    """What the commands read, under the README's names: all benign and made here."""
    save(scene(21), work / "known" / "k1.jpg")
    save(scene(22), work / "known" / "k2.jpg")
    save(scene(23), work / "photo.jpg")
    save(scene(24), work / "uploads" / "u.jpg")
    shutil.copy(work / "known" / "k1.jpg", work / "uploads" / "copy-of-k1.jpg")
    (work / "seized" / "usb1").mkdir(parents=True)
    shutil.copy(work / "known" / "k2.jpg", work / "seized" / "usb1" / "IMG_0001.jpg")
    save(scene(25), work / "seized" / "usb1" / "IMG_0002.jpg")
    (work / "usb-key").mkdir()
    media = [{"MediaID": 1, "Category": None, "MD5": "0" * 31 + "1", "SHA1": "0" * 39 + "1", "MediaSize": "10"},
             {"MediaID": 2, "Category": 2, "MD5": "0" * 31 + "2", "MediaSize": 20}]
    (work / "caid-2026-11.json").write_text(json.dumps({
        "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/UK/$metadata#Media",
        "value": media}))
    (work / "icse-export.csv").write_text(f"{HEADER}\n{row()}\n")
    (work / "ncmec.md5").write_text(f"{'a' * 32}  one.jpg\n{'b' * 32}\n")
    done = subprocess.run(["hashdeep", "-c", "md5,sha1,sha256", "-r", "known"], cwd=work, capture_output=True,
                          text=True, check=True)
    (work / "known.txt").write_text(done.stdout)
    pdq = subprocess.run([sys.executable, "-m", "hashwarden", "hash", "photo.jpg"], cwd=work, capture_output=True,
                         text=True, check=True)
    record = json.loads(pdq.stdout)
    (work / "te-hashes.txt").write_text(f"{record['pdq']},{record['pdq_quality']}\n")
    minimal_db(work / "RDS_2026.03.1_modern_minimal.db")
    (work / "RDS_2026.06.1_delta.sql").write_text(
        f"BEGIN TRANSACTION;\nDELETE FROM FILE WHERE sha256 = '{fake(1)[0]}';\nCOMMIT;\n")


@pytest.mark.heavy
def test_readme_using_it_block_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("hashdeep") is None:
        pytest.fail("hashdeep missing: make test installs it")
    make_files(tmp_path)
    script = "set -euo pipefail\n" + "\n".join(readme_block()) + "\n"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HASHWARDEN_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    env["COLUMNS"] = "200"
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    report = json.loads((tmp_path / "cases" / "2026-0042" / "report.json").read_text())
    by_name = {Path(item["path"]).name: item for item in report["items"]}
    assert by_name["IMG_0001.jpg"]["status"] == "known" and by_name["IMG_0002.jpg"]["status"] == "unknown"
    matched = [json.loads(line) for line in (tmp_path / "matched.jsonl").read_text().splitlines()]
    assert {Path(r["path"]).name: r["status"] for r in matched} == {"u.jpg": "unknown", "copy-of-k1.jpg": "known"}
    assert json.loads((tmp_path / "caid.json").read_text())["value"]
    assert json.loads((tmp_path / "2026-0042-vics.json").read_text())["value"]
    assert "checkpoint verified" in done.stdout
