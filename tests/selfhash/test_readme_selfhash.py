"""The README's "Self-reporting" section: its review block runs as written on a store holding two reports, and the
limits it states are the code's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hashwarden import config
from hashwarden.store import open_store
from hashwarden.store.hashsets import get_set, iter_entries
from hashwarden.store.self_reports import SelfReport, get_report, record_report
from tests.selfhash.node_js import PROJECT

README = (PROJECT / "README.md").read_text()
SECTION = README.split("## Self-reporting (for hotlines)", 1)[1].split("\n## ", 1)[0]


def test_review_block_runs_as_written(tmp_path: Path) -> None:
    db = tmp_path / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    with engine.begin() as conn:
        confirmed = record_report(conn, SelfReport(md5="a" * 32, sha256="b" * 64, pdq="c" * 64, pdq_quality=90,
                                                   media_type="image/jpeg", age_band="13-15", proof="1" * 64))
        rejected = record_report(conn, SelfReport(md5="d" * 32, sha256="e" * 64, media_type="image/heic",
                                                  proof="2" * 64))
    engine.dispose()
    block = SECTION.split("```sh\n", 1)[1].split("```", 1)[0]
    env = {key: value for key, value in os.environ.items() if not key.startswith("HASHWARDEN_")}
    env |= {"HASHWARDEN_DB": str(db), "REF": str(confirmed.reference), "OTHER": str(rejected.reference),
            "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])}
    script = "set -euo pipefail\nhashwarden publish keygen --out hw-keys >/dev/null\n" + block
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    assert str(confirmed.reference) in done.stdout and "13-15" in done.stdout
    assert f"self-report {confirmed.reference} confirmed by vote 1; set self-reports version 1" in done.stdout
    engine = open_store(f"sqlite:///{db}", create=False)
    with engine.connect() as conn:
        target = get_set(conn, "self-reports")
        entries = list(iter_entries(conn, target.id))
        statuses = [get_report(conn, str(r.reference)).status for r in (confirmed, rejected)]
    engine.dispose()
    assert [(e.md5, e.sha256, e.pdq, e.category) for e in entries] == [("a" * 32, "b" * 64, "c" * 64, "A")]
    assert statuses == ["confirmed", "rejected"]
    assert list((tmp_path / "hw-repo" / "targets" / "sets" / "self-reports").glob("*v1.jsonl.gz"))  # published


def test_stated_limits_are_the_codes() -> None:
    text = " ".join(SECTION.split())
    claims = [
        ("5 reports at once and then one a minute", (config.SELF_REPORT_BURST, config.SELF_REPORT_PER_SECOND),
         (5, 1 / 60)),
        ("20 challenges at once then one every 2 s",
         (config.SELF_REPORT_CHALLENGE_BURST, config.SELF_REPORT_CHALLENGE_PER_SECOND), (20, 0.5)),
        ("a body of at most 512 KB", config.MAX_SELF_REPORT_BYTES, 512 << 10),
        ("a field over 4 KB", config.MAX_SELF_REPORT_FIELD, 4096),
        ("(valid 15 minutes, good for one report)", config.SELF_REPORT_CHALLENGE_SECONDS, 900),
        ("18 leading zero bits", config.SELF_REPORT_POW_BITS, 18),
        ("the alert set `self-reports`", config.SELF_REPORT_SET, "self-reports"),
    ]
    for phrase, actual, documented in claims:
        assert phrase in text, phrase
        assert actual == documented, phrase
    assert config.ServiceLimits().self_report_pow_bits == config.SELF_REPORT_POW_BITS
