"""The README's "Distribution to subscribers" block runs as written, and a refusal reads as it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hashwarden.store import open_store
from hashwarden.store.hashsets import create_set
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store.subscriptions import held_url_version, held_versions
from hashwarden.store.urls import NewUrlEntry, add_entries

PROJECT = Path(__file__).resolve().parents[2]


def readme_block() -> str:
    section = (PROJECT / "README.md").read_text().split("## Distribution to subscribers", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HASHWARDEN_")}
    return env | {"PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}", "COLUMNS": "200",
                  "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])}


def publisher_db(path: Path) -> None:
    engine = open_store(f"sqlite:///{path}")
    with engine.begin() as conn:
        create_set(conn, "alerts", "alert")
        create_set(conn, "graded", "alert", category_scheme="uk-sentencing")
    import_entries(engine, "alerts", [EntryRecord(md5=f"{i:032x}", pdq=f"{i:064x}", pdq_quality=80)
                                      for i in range(1, 4)], {})
    import_entries(engine, "graded", [EntryRecord(sha256=f"{7:064x}", category="A")], {})
    with engine.begin() as conn:
        add_entries(conn, [NewUrlEntry("bad.example.org/", "domain"), NewUrlEntry("a.example.net/x/", "path")])
    engine.dispose()


def test_readme_distribution_block_runs_as_written(tmp_path: Path) -> None:
    publisher_db(tmp_path / "publisher.db")
    done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + readme_block()], cwd=tmp_path, env=environment(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "published alerts version 1: 3 entries" in done.stdout
    assert "alerts: new -> version 1 (full: 0 removed, 3 added)" in done.stdout
    assert "timestamp key replaced; root version 2" in done.stdout
    assert "published the URL list version 1: 2 entries" in done.stdout
    assert "the URL list: new -> version 1 (full: 0 removed, 2 added)" in done.stdout
    assert done.stdout.rstrip().endswith("graded: current\nthe URL list: current")
    assert oct((tmp_path / "hw-keys" / "root.pem").stat().st_mode & 0o777) == "0o600"
    station = open_store(f"sqlite:///{tmp_path / 'station.db'}", create=False)
    with station.connect() as conn:
        assert {name: version for name, (_root, version) in held_versions(conn).items()} == {"alerts": 1, "graded": 1}
        assert held_url_version(conn).version == 1
    assert (tmp_path / "station.db.tuf").is_dir()


def test_a_refused_subscribe_exits_1_naming_what_failed(tmp_path: Path) -> None:
    publisher_db(tmp_path / "publisher.db")
    lines = readme_block().splitlines()
    setup = "\n".join(lines[:3])  # keys, first publish, root handed over
    subprocess.run(["bash", "-c", "set -euo pipefail\n" + setup], cwd=tmp_path, env=environment(), check=True,
                   capture_output=True, timeout=300)
    for target in (tmp_path / "hw-repo" / "targets" / "sets" / "alerts").glob("*.v1.jsonl.gz"):
        data = bytearray(target.read_bytes())
        data[-12] ^= 0x40
        target.write_bytes(bytes(data))
    done = subprocess.run([sys.executable, "-m", "hashwarden", "--db", "station.db", "subscribe", "--repo",
                           "hw-repo", "--root", "root.json"], cwd=tmp_path, env=environment(), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.startswith("DistributionError: hw-repo: hash or length mismatch")
    assert "sets/alerts/v1.jsonl.gz" in done.stderr and "nothing was changed" in done.stderr
    station = open_store(f"sqlite:///{tmp_path / 'station.db'}", create=False)
    with station.connect() as conn:
        assert held_versions(conn) == {}
