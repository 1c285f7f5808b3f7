"""The README's "Remote client, TLS and `make serve`" block runs as written against a TLS `hashwarden serve` with a
throw-away CA (only the server's URL is changed, to the test's), and the figures its text gives are the code's."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme

from hashwarden import config
from hashwarden.demo.synthetic import save, scene
from tests.service.test_cases import report
from tests.service.test_serve import PROJECT, serving

README_SERVER = "https://hw.example.org:8443"


def readme_section() -> str:
    text = (PROJECT / "README.md").read_text()
    return text.split("### Remote client, TLS and `make serve`", 1)[1].split("\n## ", 1)[0]


@pytest.mark.heavy
def test_readme_remote_block_runs_as_written(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    block = readme_section().split("```sh\n", 1)[1].split("```", 1)[0]
    assert block.count(README_SERVER) == 3
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    work = tmp_path / "client"
    (work / "case-0001").mkdir(parents=True)
    ca.cert_pem.write_to_path(str(work / "agency-ca.pem"))
    issued.cert_chain_pems[0].write_to_path(str(tmp_path / "hw.pem"))
    issued.private_key_pem.write_to_path(str(tmp_path / "hw.key"))
    save(scene(21), work / "photos" / "known.jpg")  # the image the test store holds
    save(scene(22), work / "photos" / "other.jpg")
    (work / "case-0001" / "report.json").write_text(json.dumps(report()))
    trusted = ssl.create_default_context(cafile=str(work / "agency-ca.pem"))
    with serving(tmp_path, images, "--tls-cert", str(tmp_path / "hw.pem"), "--tls-key", str(tmp_path / "hw.key"),
                 verify=trusted) as (url, keys):
        (work / "examiner.key").write_text(keys["examiner"] + "\n")
        env = {key: value for key, value in os.environ.items() if not key.startswith("HASHWARDEN_")}
        env |= {"PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
                "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])}
        done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + block.replace(README_SERVER, url)], cwd=work,
                              env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    lines = [json.loads(line) for line in (work / "matched.jsonl").read_text().splitlines()]
    matched = {Path(line["path"]).name: line for line in lines}
    assert {name: line["status"] for name, line in matched.items()} == {"known.jpg": "known", "other.jpg": "unknown"}
    assert {m["method"] for m in matched["known.jpg"]["matches"]} == {"sha256"}
    assert json.loads(done.stdout)["id"] == 1  # the first case of the store, whose lead list the block fetches
    leads = [json.loads(line) for line in (work / "leads.jsonl").read_text().splitlines()]
    assert [(lead["position"], lead["path"]) for lead in leads] == [
        (i, item["path"]) for i, item in enumerate(report()["items"]) if item["status"] == "unknown"]


def test_readme_remote_figures_are_the_codes() -> None:
    text = " ".join(readme_section().split())
    claims = [
        ("1,000 lines per request (`--batch`, up to 10,000)", (config.REMOTE_BATCH_ITEMS, config.MAX_LOOKUP_ITEMS),
         (1000, 10_000)),
        ("a batch with more than 100,000 frames goes in several requests, and a video of more than 36,000 frames is "
         "matched on its digests", (config.MAX_LOOKUP_REQUEST_VPDQ_FRAMES, config.MAX_LOOKUP_VPDQ_FRAMES),
         (100_000, 36_000)),
        ("retried after its `Retry-After`, up to 5 times (a `Retry-After` over 60 s is an error at once)",
         (config.REMOTE_RETRIES, config.REMOTE_MAX_RETRY_AFTER_SECONDS), (5, 60)),
    ]
    for phrase, actual, documented in claims:
        assert phrase in text, phrase
        assert actual == documented, phrase
