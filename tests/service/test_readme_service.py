"""The README's "Service" block runs as written, on a store holding an alert set made here (only the
port is changed, to a free one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hashwarden.store import open_store
from hashwarden.store.votes import iter_votes
from tests.service.conftest import fill
from tests.service.test_serve import free_port

PROJECT = Path(__file__).resolve().parents[2]


def readme_block() -> str:
    section = (PROJECT / "README.md").read_text().split("## Service", 1)[1]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


@pytest.mark.heavy
def test_readme_service_block_runs_as_written(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    if shutil.which("curl") is None:
        pytest.fail("curl missing: make test installs it")
    db = tmp_path / "hw.db"
    engine = open_store(f"sqlite:///{db}")
    fill(engine, images["known"])
    engine.dispose()
    shutil.copy(tmp_path / "img" / "known.jpg", tmp_path / "photo.jpg")  # the block's upload
    script = "set -euo pipefail\n" + readme_block().replace("8080", str(free_port()))
    env = {key: value for key, value in os.environ.items() if not key.startswith("HASHWARDEN_")}
    env |= {"HASHWARDEN_DB": str(db), "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}"
    decoder = json.JSONDecoder()  # the curls print without newlines, between uvicorn's access log lines
    health = decoder.raw_decode(done.stdout[done.stdout.index('{"status"'):])[0]
    lookup = decoder.raw_decode(done.stdout[done.stdout.index('{"results"'):])[0]
    assert health["store"] == "sqlite" and len(health["index_generation"]) == 64
    assert lookup == {"results": [{"index": 0, "matches": []}, {"index": 1, "matches": []}]}
    media = decoder.raw_decode(done.stdout[done.stdout.index('{"md5"'):])[0]
    assert media["md5"] == images["known"]["md5"] and media["pdq"] == images["known"]["pdq"]
    assert [match["set"] for match in media["matches"]] == ["known"]
    votes = decoder.raw_decode(done.stdout[done.stdout.index('{"votes"'):])[0]
    assert votes == {"votes": [{"id": 1, "media": "md5:d41d8cd98f00b204e9800998ecf8427e"}]}
    with open_store(f"sqlite:///{db}", create=False).connect() as conn:
        (cast,) = iter_votes(conn)
    assert (cast.reviewer, cast.agency, cast.category, cast.age_band) == ("reviewer-1", "Hotline A", "A", "14-15")
