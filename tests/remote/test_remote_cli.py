"""`hashwarden remote lookup` / `remote submit` against a real `hashwarden serve` on loopback: the lookup's lines
equal `hashwarden match`'s on the same lines, a submitted case can be read back, refusals (no key, revoked key,
wrong role, server down) are errors in words with the lines answered before kept, a 429 is waited out, and over TLS
the client trusts the CA given with --ca-cert and nothing else."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from hashwarden.api import hash_file
from hashwarden.signals.vpdq import VpdqFrame
from hashwarden.store import create_set, open_store
from hashwarden.store.loader import import_entries
from hashwarden.store.records import EntryRecord
from hashwarden.store.identities import revoke_user
from tests.service.conftest import DIGEST_ONLY
from tests.service.test_cases import report
from tests.service.test_media import VIDEO
from tests.service.test_serve import PROJECT, free_port, serving

pytestmark = pytest.mark.heavy
API_FIELDS = ("set", "kind", "method", "distance", "transform", "category", "entry")  # what /v1/lookup shows


def hashwarden(*args: str, key: str | None = None, stdin: str | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("HASHWARDEN_")}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT / "src"), env.get("PYTHONPATH", "")])
    env["COLUMNS"] = "400"  # usage errors in one line of Rich's panel, whatever the length of the temporary paths
    if key is not None:
        env["HASHWARDEN_KEY"] = key
    return subprocess.run([sys.executable, "-m", "hashwarden", *args], input=stdin, env=env, capture_output=True,
                          text=True, timeout=timeout)


def hash_lines(images: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines as `hashwarden hash --dihedral` writes them, and the other kinds a list holds."""
    pdq_only = {"path": "pdq-only", "pdq": images["known"]["pdq"], "pdq_quality": images["known"]["pdq_quality"]}
    low_quality = {**pdq_only, "path": "blurred", "pdq_quality": 10}
    unreadable = {"path": "broken.jpg", "md5": None, "error": "cannot identify image file"}
    video = {"path": "clip.mp4", "md5": "9" * 32, "media": "video",
             "vpdq": [{"frame": 0, "quality": 90, "pdq": images["known"]["pdq"], "timestamp": 0.0}]}
    return [{**images["known"], "path": "a.jpg"}, {**images["turned"], "path": "turned.jpg"},
            {**images["other"], "path": "other.jpg"}, {**DIGEST_ONLY, "path": "digests", "note": "kept"},
            pdq_only, low_quality, unreadable, video]


def as_text(lines: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(line) + "\n" for line in lines)


def public(line: dict[str, Any]) -> dict[str, Any]:
    """A `hashwarden match` line with its matches cut to the fields the API shows."""
    return {**line, "matches": [{k: m[k] for k in API_FIELDS if m.get(k) is not None} for m in line["matches"]]}


def test_remote_lookup_writes_what_hashwarden_match_writes(tmp_path: Path, images: dict[str, dict[str, Any]],
                                                          conformance: Path) -> None:
    """Every kind of line, and a conformance video's `hashwarden hash` line whose frames find a video known by its
    frames alone (the store holds no digest of it): the service says what the command says."""
    video = hash_file(conformance / "threatexchange" / "tmk" / "sample-videos" / VIDEO)
    engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}")  # `serving` adds the known images and the users
    with engine.begin() as conn:
        create_set(conn, "videos", "alert")
    assert import_entries(engine, "videos", [EntryRecord(vpdq=[VpdqFrame(**f) for f in video["vpdq"]], category="C",
                                                         line=1)], {}) == 1
    engine.dispose()
    lines = as_text([*hash_lines(images), {**video, "path": "sample.mp4"}])
    with serving(tmp_path, images) as (url, keys):
        remote = hashwarden("remote", "lookup", "-", "--server", url, "--batch", "3", key=keys["matcher"],
                            stdin=lines)
    local = hashwarden("match", "-", "--db", str(tmp_path / "hw.db"), stdin=lines)
    assert remote.returncode == 0 and local.returncode == 0, remote.stderr + local.stderr
    got = [json.loads(line) for line in remote.stdout.splitlines()]
    expected = [public(json.loads(line)) for line in local.stdout.splitlines()]
    assert got == expected
    assert [line["status"] for line in got] == ["known", "known", "unknown", "known", "known", "unknown", "error",
                                                "unknown", "known"]
    assert got[1]["matches"][0]["method"] == "pdq" and got[1]["matches"][0]["transform"] != "orig"
    assert [(m["set"], m["method"], m["category"]) for m in got[-1]["matches"]] == [("videos", "vpdq", "C")]
    assert remote.stderr.splitlines()[-1:] == ["known: 5, ignorable: 0, unknown: 3"]
    assert "digests only" not in remote.stderr


def test_submit_then_read_the_case_back(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    case_dir = tmp_path / "case"
    case_dir.mkdir()
    (case_dir / "report.json").write_text(json.dumps(report(), indent=2))
    with serving(tmp_path, images) as (url, keys):
        key_file = tmp_path / "key"
        key_file.write_text(keys["examiner"] + "\n")
        sent = hashwarden("remote", "submit", str(case_dir), "--server", url, "--key-file", str(key_file))
        assert sent.returncode == 0, sent.stderr
        case_id = json.loads(sent.stdout)["id"]
        read = httpx.get(f"{url}/v1/cases/{case_id}", headers={"Authorization": f"Bearer {keys['examiner']}"})
        assert read.status_code == 200 and read.json()["report"] == report()
        leads = hashwarden("remote", "leads", str(case_id), "--server", url, "--key-file", str(key_file))
        unknown = [(i, item) for i, item in enumerate(report()["items"]) if item["status"] == "unknown"]
        assert leads.returncode == 0, leads.stderr
        assert [json.loads(line) for line in leads.stdout.splitlines()] == [
            {"position": i, "path": item["path"], "media": item["media"], "leads": [],
             **{name: item[name] for name in ("md5", "sha1", "sha256", "pdq")}} for i, item in unknown]
        elsewhere = hashwarden("remote", "leads", str(case_id + 1), "--server", url, key=keys["examiner"])
        assert elsewhere.returncode == 1 and elsewhere.stderr.strip() == (
            f"RemoteError: {url} refused GET /v1/cases/{case_id + 1}/leads: 404 no such case")
        matcher = hashwarden("remote", "submit", str(case_dir), "--server", url, key=keys["matcher"])
        missing = hashwarden("remote", "submit", str(tmp_path / "nowhere"), "--server", url, key=keys["examiner"])
    assert matcher.returncode == 1 and matcher.stdout == ""
    assert matcher.stderr.strip() == (f"RemoteError: {url} refused POST /v1/cases: 403 role 'matcher' may not use "
                                      "this endpoint")
    assert missing.returncode == 1 and "report.json" in missing.stderr and "No such file" in missing.stderr


def test_refusals_name_the_server_and_keep_the_lines_already_written(tmp_path: Path,
                                                                    images: dict[str, dict[str, Any]]) -> None:
    lines = hash_lines(images)
    with serving(tmp_path, images) as (url, keys):
        (tmp_path / "earlier.jsonl").write_text("an earlier run's answers\n")
        no_key = hashwarden("remote", "lookup", "-", "--server", url, "-o", str(tmp_path / "earlier.jsonl"),
                            stdin=as_text(lines))
        wrong_key = hashwarden("remote", "lookup", "-", "--server", url, key="not-a-key", stdin=as_text(lines))
        admin = hashwarden("remote", "lookup", "-", "--server", url, key=keys["admin"], stdin=as_text(lines))
        # A malformed hash on line 5: the batches before it were answered and stay written.
        bad = as_text(lines[:4]) + json.dumps({"md5": "zz"}) + "\n"
        malformed = hashwarden("remote", "lookup", "-", "--server", url, "--batch", "2", key=keys["matcher"],
                               stdin=bad)
        # The key revoked while the service runs: refused at once.
        engine = open_store(f"sqlite:///{tmp_path / 'hw.db'}", create=False)
        with engine.begin() as conn:
            revoke_user(conn, "matcher-user")
        engine.dispose()
        revoked = hashwarden("remote", "lookup", "-", "--server", url, key=keys["matcher"], stdin=as_text(lines))
    assert no_key.returncode == 1 and no_key.stdout == ""
    assert no_key.stderr.startswith("RemoteError: no API key: set $HASHWARDEN_KEY or pass --key-file")
    assert (tmp_path / "earlier.jsonl").read_text() == "an earlier run's answers\n"  # refused before it was opened
    unauthorised = (f"RemoteError: {url} refused POST /v1/lookup: 401 a valid API key is required (Authorization: "
                    "Bearer <key>)")
    for result in (wrong_key, revoked):
        assert result.returncode == 1 and result.stdout == "" and result.stderr.strip() == unauthorised
    assert admin.returncode == 1 and admin.stderr.strip() == (
        f"RemoteError: {url} refused POST /v1/lookup: 403 role 'admin' may not use this endpoint")
    assert malformed.returncode == 1 and malformed.stderr.startswith("FormatError: -:5: field md5")
    assert [json.loads(line)["path"] for line in malformed.stdout.splitlines()] == ["a.jpg", "turned.jpg",
                                                                                     "other.jpg", "digests"]


def test_a_rate_limited_lookup_waits_and_finishes(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    lines = hash_lines(images)[:4]
    with serving(tmp_path, images, "--rate", "1", "--burst", "1") as (url, keys):
        done = hashwarden("remote", "lookup", "-", "--server", url, "--batch", "1", key=keys["matcher"],
                          stdin=as_text(lines))
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["status"] for line in done.stdout.splitlines()] == ["known", "known", "unknown", "known"]
    # Four requests a second apart at most one a second: at least one was refused and retried (none was lost).
    assert f"{url}: rate limited, retrying in 1 s (1 of 5)" in done.stderr


def test_a_server_that_is_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = hashwarden("remote", "lookup", "-", "--server", url, key="k", stdin=json.dumps(DIGEST_ONLY) + "\n")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"RemoteError: cannot reach {url}: ") and "Traceback" not in done.stderr


def test_tls_with_a_private_ca(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    """serve --tls-cert/--tls-key answers https; the client trusts the CA named by --ca-cert, and refuses the
    same server without it (it is not a CA the system trusts)."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    cert, key, ca_pem = tmp_path / "hw.pem", tmp_path / "hw.key", tmp_path / "ca.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(cert))
    server_cert.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_pem))
    trusted = ssl.create_default_context(cafile=str(ca_pem))
    line = json.dumps({**images["known"], "path": "a.jpg"}) + "\n"
    with serving(tmp_path, images, "--tls-cert", str(cert), "--tls-key", str(key), verify=trusted) as (url, keys):
        assert url.startswith("https://")
        assert httpx.get(f"{url}/v1/health", verify=trusted).status_code == 200
        found = hashwarden("remote", "lookup", "-", "--server", url, "--ca-cert", str(ca_pem), key=keys["matcher"],
                           stdin=line)
        untrusted = hashwarden("remote", "lookup", "-", "--server", url, key=keys["matcher"], stdin=line)
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["status"] == "known"
    assert untrusted.returncode == 1 and untrusted.stdout == ""
    assert untrusted.stderr.startswith(f"RemoteError: {url}: its TLS certificate is not trusted")
    assert "--ca-cert" in untrusted.stderr


def test_serve_checks_its_tls_files(tmp_path: Path) -> None:
    (tmp_path / "not.pem").write_text("not a certificate\n")
    only_cert = hashwarden("serve", "--db", str(tmp_path / "x.db"), "--tls-cert", str(tmp_path / "not.pem"))
    missing = hashwarden("serve", "--db", str(tmp_path / "x.db"), "--tls-cert", str(tmp_path / "gone.pem"),
                         "--tls-key", str(tmp_path / "not.pem"))
    garbage = hashwarden("serve", "--db", str(tmp_path / "x.db"), "--tls-cert", str(tmp_path / "not.pem"),
                         "--tls-key", str(tmp_path / "not.pem"))
    assert only_cert.returncode == 2 and "--tls-cert and --tls-key go together" in only_cert.stderr
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "gone.pem" in missing.stderr
    assert garbage.returncode == 2 and "not a PEM certificate and its private key" in garbage.stderr


def test_a_refusal_half_way_keeps_the_batches_answered(tmp_path: Path, images: dict[str, dict[str, Any]]) -> None:
    """Two requests allowed, then Retry-After 100 s (past the client's 60 s): the third batch is an error at once,
    and the two answered lines are in the output file."""
    out = tmp_path / "matched.jsonl"
    with serving(tmp_path, images, "--rate", "0.01", "--burst", "2") as (url, keys):
        done = hashwarden("remote", "lookup", "-", "--server", url, "--batch", "1", "-o", str(out),
                          key=keys["matcher"], stdin=as_text(hash_lines(images)[:4]))
    assert done.returncode == 1
    assert done.stderr.startswith(f"RemoteError: {url} refused POST /v1/lookup: 429 rate limit")
    assert [json.loads(line)["path"] for line in out.read_text().splitlines()] == ["a.jpg", "turned.jpg"]
