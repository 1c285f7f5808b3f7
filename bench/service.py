"""The HTTP service under load (issue 17, Performance): `hashwarden serve` against a bare FastAPI app, side by side.

Both servers run on 127.0.0.1 with the same uvicorn settings (`--workers`, loopback, uvicorn's default http/loop
implementations, log level info, the service's keep-alive), started once each and driven by `wrk` (Debian package)
with Lua scripts for the POST bodies, written into a temporary folder by this bench. wrk runs `-t2`, fixed
`--duration`, `--latency`; rounds alternate which server goes first. Requests/s is a capacity figure, so the lookups
are driven by enough connections to keep both servers' cores busy (`--connections`, 16: an upload pipeline's many
clients); the single lookup and the floor are also run with few (`--few-connections`, 4: what one client sending
request after request sees, bound by each request's round trip, the audit commit included), printed beside.
`POST /v1/media` runs with `--media-connections` (4: the service refuses uploads past `MEDIA_UPLOADS_PER_PROCESS`
at once with 503, by design).

  floor      a bare FastAPI app whose one endpoint, `POST /v1/lookup`, returns a constant JSON body (no key, no
             store, no parsing): the framework's floor on these settings
  single     the service's `POST /v1/lookup` with one item each, exact md5, half of them in the store (bodies from
             a list, in turn): requests/s and p50/p99; the ratio to the floor (target >= 0.6) and p99 (< 20 ms)
  batch      1,000 mixed items per request (md5/sha1/sha256/PDQ, a quarter each, half of each in the store; PDQ
             hits are stored codes with 0-16 bits flipped): items/s in all (target >= 100,000)
  audit      every request appends one hash-chained audit row (the rows of concurrent requests in one commit): appends/s of
             `store.audit.append` (one transaction each) from `--workers` processes x 4 threads straight on the
             store, the ceiling the service's requests/s cannot pass; and `authenticate` (key lookup + PBKDF2) per
             second likewise. The chain is verified afterwards (`audit.verify`, without the 10M-entry data pass).
  media      `POST /v1/media` (multipart field `file`) with a generated 2 MP JPEG, against the CLI's in-process
             hashing rate (`hashwarden.api.hash_file` in `--workers` processes, the same cores): ratio >= 0.8.
             Skipped, saying so, while the server answers 404 for /v1/media.

The store (seeded, numpy-generated, bulk-loaded through the store's own loader `store.loader.add_rows` with
`ColumnBatch`es and recorded as an import, so `hashwarden audit verify` holds) has `--entries` entries (default
10M, the issue's figure), each with an md5, sha1, sha256 and a PDQ code (uniform random codes: the best case for
the PDQ index; bench/pdq_index.py measures clustered ones). It is cached under `--cache`, keyed by its parameters;
a rerun reuses it (each run adds a fresh API user and its audit rows). Before timing, one request of each kind is
checked: every item meant to be in the store is found, no other is.

Printed: the machine, each round's figures, the medians, the ratios and targets; beside requests/s, the CPU time
the server's processes spent per request (from /proc), a figure other load on a shared machine hardly moves.
Machine noise: quote medians; wrk shares the cores with the servers, as the issue's "same cores" asks.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
from hashwarden.config import IMPORT_BATCH_ROWS, SERVICE_HOST, ServiceLimits  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache" / "service"
SEED = 20_261_205
STORE_FORMAT = 1  # bump when the generated store changes, so a cached one is not reused
WRK = shutil.which("wrk") or "wrk"
BATCH_ITEMS = 1_000
BODIES = 16  # distinct request bodies per script, sent in turn
SET_NAME = "bench"
FLOOR_APP = '''\
"""The framework's floor: one endpoint returning a constant JSON body."""
from fastapi import FastAPI

app = FastAPI()
ANSWER = {"results": [{"index": 0, "matches": []}]}


@app.post("/v1/lookup")
def lookup() -> dict:
    return ANSWER
'''


# ---------------------------------------------------------------------------------------------------------- store

def store_path(cache: Path, entries: int) -> Path:
    return cache / f"store-{entries}-seed{SEED}-v{STORE_FORMAT}.db"


def build_store(cache: Path, entries: int) -> Path:
    """The bench store with `entries` entries, built once (timed) and reused while its parameters are the same."""
    path = store_path(cache, entries)
    if path.exists():
        print(f"store: {path} (cached)")
        return path
    from hashwarden.store import create_set, open_store
    from hashwarden.store.batches import ColumnBatch
    from hashwarden.store.db import rollback_journal
    from hashwarden.store.hashsets import get_set
    from hashwarden.store.import_run import finish_import, record_import, start_import
    from hashwarden.store.loader import add_rows

    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.db")
    for leftover in cache.glob(partial.name + "*"):
        leftover.unlink()
    start = time.perf_counter()
    engine = open_store(f"sqlite:///{partial}")
    with engine.begin() as conn:
        create_set(conn, SET_NAME, "alert")
    rng = np.random.default_rng(SEED)

    def batches() -> Any:
        for first in range(0, entries, IMPORT_BATCH_ROWS):
            count = min(IMPORT_BATCH_ROWS, entries - first)
            digests = {name: (width, rng.integers(0, 256, size=count * width, dtype=np.uint8).tobytes())
                       for name, width in (("md5", 16), ("sha1", 20), ("sha256", 32), ("pdq", 32))}
            quality = json.dumps(rng.integers(50, 101, size=count).tolist())
            yield ColumnBatch(count, digests, ("pdq_quality",), quality, first)

    with engine.connect() as conn, rollback_journal(conn), conn.begin():
        target = get_set(conn, SET_NAME)
        import_id = start_import(conn, target, fmt="bench", file="bench/service.py")
        rows, added = add_rows(conn, target, import_id, batches())
        result = finish_import(conn, import_id, rows, added)
        record_import(conn, SET_NAME, result, fmt="bench", file="bench/service.py", file_sha256=None,
                      details={"seed": SEED})
    engine.dispose()
    os.replace(partial, path)
    seconds = time.perf_counter() - start
    print(f"store: built {entries:,} entries in {seconds:.1f} s ({entries / seconds:,.0f} entries/s), "
          f"{path.stat().st_size / 1e9:.2f} GB: {path}")
    return path


def new_key(url: str) -> str:
    """A fresh matcher key for this run (a key is shown once and never stored, so none is cached)."""
    from hashwarden.store import open_store
    from hashwarden.store.identities import create_agency, create_user

    engine = open_store(url, create=False)
    name = f"bench-{os.getpid()}-{time.time_ns()}"
    with engine.begin() as conn:
        create_agency(conn, name)
        key = create_user(conn, name, name, "matcher")
    engine.dispose()
    return key


# ------------------------------------------------------------------------------------------------ request bodies

def sample_entries(url: str, entries: int, count: int, rng: np.random.Generator) -> list[Any]:
    """`count` stored entries (md5, sha1, sha256, pdq, id), picked at random by entry id."""
    from sqlalchemy import select

    from hashwarden.store import open_store
    from hashwarden.store.schema import entry

    engine = open_store(url, create=False)
    with engine.connect() as conn:
        low, high = conn.execute(select(entry.c.id).order_by(entry.c.id).limit(1)).scalar_one(), entries
        ids = sorted({int(i) for i in rng.integers(low, low + high, size=count * 2)})[:count]
        rows = conn.execute(select(entry.c.id, entry.c.md5, entry.c.sha1, entry.c.sha256, entry.c.pdq)
                            .where(entry.c.id.in_(ids))).all()
    engine.dispose()
    return list(rows)


def flipped(code: bytes, bits: int, rng: np.random.Generator) -> str:
    """`code` with `bits` distinct random bits flipped, as hex: a near copy the PDQ index must find (<= 31)."""
    value = np.unpackbits(np.frombuffer(code, np.uint8))
    value[rng.choice(256, size=bits, replace=False)] ^= 1
    return np.packbits(value).tobytes().hex()


def single_bodies(stored: list[Any], rng: np.random.Generator) -> list[tuple[str, bool]]:
    """One md5 per body, alternately in the store and not: (JSON body, whether it is in the store)."""
    bodies = []
    for i in range(BODIES):
        hit = i % 2 == 0
        md5 = stored[i].md5.hex() if hit else rng.integers(0, 256, 16, dtype=np.uint8).tobytes().hex()
        bodies.append((json.dumps({"items": [{"md5": md5}]}), hit))
    return bodies


def batch_bodies(stored: list[Any], rng: np.random.Generator, items: int) -> list[tuple[str, list[bool]]]:
    """Bodies of `items` items, a quarter each md5/sha1/sha256/PDQ, half of each in the store."""
    widths = {"md5": 16, "sha1": 20, "sha256": 32, "pdq": 32}
    bodies, used = [], 0
    for _ in range(max(1, BODIES // 4)):
        listed, truth = [], []
        for i in range(items):
            kind = ("md5", "sha1", "sha256", "pdq")[i % 4]
            hit = (i // 4) % 2 == 0
            if hit:
                row = stored[used % len(stored)]
                used += 1
                value = flipped(row.pdq, int(rng.integers(0, 17)), rng) if kind == "pdq" else getattr(row, kind).hex()
            else:
                value = rng.integers(0, 256, widths[kind], dtype=np.uint8).tobytes().hex()
            listed.append({kind: value, "quality": 100} if kind == "pdq" else {kind: value})
            truth.append(hit)
        bodies.append((json.dumps({"items": listed}), truth))
    return bodies


def lua_post(folder: Path, name: str, path: str, key: str, bodies: list[str]) -> Path:
    """A wrk script POSTing `bodies` in turn (JSON, in Lua long strings) with the key."""
    quoted = ",\n".join(f"[==[{body}]==]" for body in bodies)
    script = folder / f"{name}.lua"
    script.write_text(
        f"local bodies = {{\n{quoted}\n}}\n"
        f'local headers = {{["Authorization"] = "Bearer {key}", ["Content-Type"] = "application/json"}}\n'
        "local turn = 0\n"
        "request = function()\n"
        "  turn = turn % #bodies + 1\n"
        f'  return wrk.format("POST", "{path}", headers, bodies[turn])\n'
        "end\n")
    return script


def lua_multipart(folder: Path, name: str, path: str, key: str, image: Path) -> tuple[Path, bytes, str]:
    """A wrk script POSTing `image` as the multipart field `file` (the body read from a file by the script)."""
    boundary = "hashwardenbench" + os.urandom(8).hex()
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{image.name}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + image.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    (folder / f"{name}.body").write_bytes(body)
    content_type = f"multipart/form-data; boundary={boundary}"
    script = folder / f"{name}.lua"
    script.write_text(
        f'local f = assert(io.open("{folder / (name + ".body")}", "rb"))\n'
        "local body = f:read(\"*a\")\nf:close()\n"
        f'wrk.method = "POST"\nwrk.path = "{path}"\nwrk.body = body\n'
        f'wrk.headers["Authorization"] = "Bearer {key}"\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n')
    return script, body, content_type


# ------------------------------------------------------------------------------------------------------- servers

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((SERVICE_HOST, 0))
        return probe.getsockname()[1]


class Server:
    """A uvicorn server in a subprocess (its log in a file: a pipe nobody reads would stall it), ready when every
    worker has said 'Application startup complete'."""

    def __init__(self, name: str, command: list[str], port: int, workers: int, folder: Path,
                 env: dict[str, str]) -> None:
        self.name, self.port, self.workers = name, port, workers
        self.log_path = folder / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.log_path.read_text(errors="replace").count("Application startup complete") < self.workers:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name} did not start:\n{self.log_path.read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and its worker processes: per request, a figure the
        other load on a shared machine hardly moves, unlike requests/s."""
        total, pending = 0, [self.process.pid]
        while pending:
            pid = pending.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
                for task in Path(f"/proc/{pid}/task").iterdir():
                    pending += [int(child) for child in (task / "children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError):
                continue
        return total / os.sysconf("SC_CLK_TCK")

    def url(self, path: str) -> str:
        return f"http://{SERVICE_HOST}:{self.port}{path}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def server_env() -> dict[str, str]:
    """This checkout's source first on the path of every server (as bench/*.py import it)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}


def start_service(db: Path, workers: int, folder: Path) -> Server:
    port = free_port()
    return Server("service", [sys.executable, "-m", "hashwarden", "serve", "--db", str(db), "--host", SERVICE_HOST,
                              "--port", str(port), "--workers", str(workers), "--rate", "1000000",
                              "--burst", "1000000"], port, workers, folder, server_env())


def start_floor(workers: int, folder: Path) -> Server:
    """The bare app on the settings `hashwarden serve` gives uvicorn (cli/serve.py)."""
    (folder / "floor_app.py").write_text(FLOOR_APP)
    port = free_port()
    run = (f"import uvicorn; uvicorn.run('floor_app:app', host={SERVICE_HOST!r}, port={port}, workers={workers}, "
           f"log_level='info', timeout_keep_alive={ServiceLimits().keep_alive_seconds!r})")
    env = server_env()
    env["PYTHONPATH"] = os.pathsep.join([str(folder), env["PYTHONPATH"]])
    return Server("floor", [sys.executable, "-c", run], port, workers, folder, env)


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()[:300]


def check_answers(server: Server, key: str, body: str, truth: list[bool]) -> None:
    """The items meant to be in the store are found, no other: a bench of wrong answers measures nothing."""
    status, answer = post(server.url("/v1/lookup"), body.encode(), {"Authorization": f"Bearer {key}",
                                                                     "Content-Type": "application/json"})
    if status != 200:
        raise SystemExit(f"lookup answered {status}: {answer!r}")
    found = [bool(result["matches"]) for result in answer["results"]]
    if found != truth:
        wrong = [i for i, (f, t) in enumerate(zip(found, truth)) if f != t]
        raise SystemExit(f"lookup answers disagree with the store for items {wrong[:10]} ({len(wrong)} in all)")


# ----------------------------------------------------------------------------------------------------------- wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def run_wrk(url: str, script: Path, connections: int, duration: float) -> dict[str, float]:
    """requests/s, p50 and p99 (ms) of one wrk run; any non-2xx answer or socket error fails the bench."""
    seconds = max(1, round(duration))
    done = subprocess.run([WRK, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
                           "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60)
    out = done.stdout
    if done.returncode or "Requests/sec" not in out:
        raise SystemExit(f"wrk failed ({done.returncode}): {out}{done.stderr}")
    problems = re.findall(r"(Non-2xx or 3xx responses: \d+|Socket errors: .*)", out)
    if problems:
        raise SystemExit(f"wrk against {url}: {'; '.join(problems)}\n{out}")
    latency = {share: float(value) * _UNITS[unit]
               for share, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": latency["50"], "p99": latency["99"],
            "requests": int(re.search(r"(\d+) requests in", out).group(1))}


# -------------------------------------------------------------------------------------- ceilings and in-process

def _rate_in_threads(operation: Callable[[], None], threads: int, seconds: float) -> int:
    """How many times `threads` threads did `operation` in `seconds`."""
    counts = [0] * threads
    deadline = time.monotonic() + seconds

    def loop(slot: int) -> None:
        while time.monotonic() < deadline:
            operation()
            counts[slot] += 1

    workers = [threading.Thread(target=loop, args=(slot,)) for slot in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts)


def _ceiling_process(kind: str, url: str, key: str, threads: int, seconds: float) -> int:
    """In one process: appends (or authentications) done by `threads` threads in `seconds`, as a worker's
    threadpool makes them: each append its own transaction, each authentication its own connection."""
    sys.path.insert(0, str(ROOT / "src"))
    from hashwarden.store import audit, open_store
    from hashwarden.store.identities import authenticate

    engine = open_store(url, create=False)

    def append() -> None:
        with engine.begin() as conn:
            audit.append(conn, "bench.audit", {"endpoint": "bench", "outcome": "ok"}, actor="bench")

    def check() -> None:
        with engine.connect() as conn:
            assert authenticate(conn, key) is not None

    return _rate_in_threads(append if kind == "audit" else check, threads, seconds)


def _hash_process(path: str, seconds: float) -> int:
    sys.path.insert(0, str(ROOT / "src"))
    from hashwarden.api import hash_file

    hash_file(path)  # imports and first decode outside the timing, as a running server has them
    return _rate_in_threads(lambda: hash_file(path), 1, seconds)


def in_processes(function: Callable[..., int], processes: int, *args: Any) -> float:
    """Total of `function(*args)` over `processes` fresh processes run at once, per second of `args[-1]`."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes) as pool:
        counts = pool.starmap(function, [args] * processes)
    return sum(counts) / args[-1]


# ------------------------------------------------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000_000, help="entries in the store (each: 3 digests + PDQ)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of both servers")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (-c) of the lookups")
    parser.add_argument("--few-connections", type=int, default=4,
                        help="wrk connections of the single lookup and the floor measured again with few clients")
    parser.add_argument("--media-connections", type=int, default=4, help="wrk connections of POST /v1/media")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (whole seconds)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-items", type=int, default=BATCH_ITEMS)
    parser.add_argument("--ceiling-seconds", type=float, default=5.0, help="seconds of each in-process ceiling")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where the built store is kept")
    parser.add_argument("--start-timeout", type=float, default=1800.0, help="seconds a server may take to start")
    args = parser.parse_args()
    wrk_version = subprocess.run([WRK, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu ?'}; "
          f"python {platform.python_version()}; {wrk_version.strip()}")
    print(f"settings: {args.workers} uvicorn workers per server on {SERVICE_HOST}; wrk -t2 -c{args.connections} "
          f"(-few: -c{args.few_connections}; media: -c{args.media_connections}) -d{max(1, round(args.duration))}s; "
          f"{args.rounds} rounds; {args.batch_items} items per batch request")
    db = build_store(args.cache, args.entries)
    url = f"sqlite:///{db}"
    rng = np.random.default_rng(SEED + 1)
    key = new_key(url)
    stored = sample_entries(url, args.entries, max(BODIES, BODIES // 4 * args.batch_items // 2), rng)
    singles = single_bodies(stored, rng)
    batches = batch_bodies(stored, rng, args.batch_items)
    folder = Path(tempfile.mkdtemp(prefix="hw-service-bench-"))
    servers: list[Server] = []
    try:
        scripts = {"single": lua_post(folder, "single", "/v1/lookup", key, [b for b, _ in singles]),
                   "batch": lua_post(folder, "batch", "/v1/lookup", key, [b for b, _ in batches])}
        start = time.perf_counter()
        floor, service = start_floor(args.workers, folder), start_service(db, args.workers, folder)
        servers += [floor, service]
        floor.wait_ready(args.start_timeout)
        service.wait_ready(args.start_timeout)
        print(f"servers ready in {time.perf_counter() - start:.1f} s (the service loads the matcher in each worker)")
        for body, hit in singles[:2]:
            check_answers(service, key, body, [hit])
        check_answers(service, key, *batches[0])
        figures: dict[str, list[dict[str, float]]] = {"floor": [], "single": [], "batch": [], "floor-few": [],
                                                      "single-few": []}
        for round_number in range(args.rounds):
            order = ["floor", "single"] if round_number % 2 == 0 else ["single", "floor"]
            for what in [*order, "batch", *(f"{name}-few" for name in order)]:
                server = floor if what.startswith("floor") else service
                cpu = server.cpu_seconds()
                got = run_wrk(server.url("/v1/lookup"), scripts["batch" if what == "batch" else "single"],
                              args.few_connections if what.endswith("-few") else args.connections, args.duration)
                got["cpu_ms"] = (server.cpu_seconds() - cpu) * 1e3 / got["requests"]
                figures[what].append(got)
                extra = f"  {got['rps'] * args.batch_items:>10,.0f} items/s" if what == "batch" else ""
                print(f"round {round_number + 1} {what:10} {got['rps']:>9,.0f} requests/s  p50 {got['p50']:6.2f} ms  "
                      f"p99 {got['p99']:6.2f} ms  server CPU {got['cpu_ms']:6.2f} ms/request{extra}")
        med = {what: {k: statistics.median(run[k] for run in runs) for k in ("rps", "p50", "p99", "cpu_ms")}
               for what, runs in figures.items()}
        audited = sum(run["requests"] for what in ("single", "batch", "single-few") for run in figures[what])
        print(f"\nmedians of {args.rounds} rounds:")
        for what in ("floor", "single", "batch", "floor-few", "single-few"):
            print(f"  {what:10} {med[what]['rps']:>9,.0f} requests/s  p50 {med[what]['p50']:6.2f} ms  "
                  f"p99 {med[what]['p99']:6.2f} ms  server CPU {med[what]['cpu_ms']:6.2f} ms/request")
        ceiling = in_processes(_ceiling_process, args.workers, "audit", url, key, 4, args.ceiling_seconds)
        authentications = in_processes(_ceiling_process, args.workers, "auth", url, key, 4, args.ceiling_seconds)
        print(f"audit appends/s straight on the store ({args.workers} processes x 4 threads, one transaction "
              f"each): {ceiling:,.0f}; authentications/s likewise: {authentications:,.0f}")
        print(f"the service's single lookups use {med['single']['rps'] / ceiling:.0%} of the audit ceiling and "
              f"{med['single']['rps'] / authentications:.0%} of the authentication ceiling")
        from hashwarden.store import audit, open_store

        engine = open_store(url, create=False)
        with engine.connect() as conn:
            verified = audit.verify(conn, data=False)
        engine.dispose()
        if not verified.ok:
            raise SystemExit(f"audit chain broken after the run: {verified.problems[:5]}")
        print(f"audit chain verified: {verified.rows:,} rows ({audited:,} appended by the service's timed requests)")
        measure_media(service, key, folder, args)
        print(f"\nratio service / bare FastAPI (single lookup requests/s, {args.connections} connections): "
              f"{med['single']['rps'] / med['floor']['rps']:.2f} (target >= 0.6)")
        print(f"  with {args.few_connections} connections (each client waits for its answer, audit commit "
              f"included): {med['single-few']['rps'] / med['floor-few']['rps']:.2f}; p99 "
              f"{med['single-few']['p99']:.2f} ms")
        print(f"ratio of server CPU per request, bare FastAPI / service (single lookup): "
              f"{med['floor']['cpu_ms'] / med['single']['cpu_ms']:.2f} (the ratio the cores allow, whatever else runs)")
        print(f"p99 single lookup: {med['single']['p99']:.2f} ms (target < 20 ms)")
        print(f"batch lookup: {med['batch']['rps'] * args.batch_items:,.0f} items/s against {args.entries:,} PDQ "
              f"codes and {args.entries:,} x 3 digests (target >= 100,000)")
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def measure_media(service: Server, key: str, folder: Path, args: argparse.Namespace) -> None:
    """`POST /v1/media` against `hash_file` in as many processes as the service has workers; skipped while the
    endpoint does not exist (404)."""
    from hashwarden.demo.synthetic import save, scene

    image = folder / "scene-2mp.jpg"
    save(scene(SEED, (1632, 1224)), image)
    script, body, content_type = lua_multipart(folder, "media", "/v1/media", key, image)
    status, answer = post(service.url("/v1/media"), body, {"Authorization": f"Bearer {key}",
                                                            "Content-Type": content_type})
    if status == 404:
        print("media: skipped, the service answers 404 for POST /v1/media (not merged yet)")
        return
    if status != 200 or not isinstance(answer, dict) or not answer.get("pdq"):
        raise SystemExit(f"POST /v1/media answered {status}: {answer!r}")
    rates, baselines = [], []
    for round_number in range(args.rounds):
        rates.append(run_wrk(service.url("/v1/media"), script, args.media_connections, args.duration)["rps"])
        baselines.append(in_processes(_hash_process, args.workers, str(image), args.duration))
        print(f"round {round_number + 1} media  {rates[-1]:>9,.1f} images/s  hash_file x {args.workers} processes "
              f"{baselines[-1]:,.1f} images/s")
    print(f"ratio POST /v1/media / in-process hash_file ({args.workers} processes, 2 MP JPEG): "
          f"{statistics.median(rates) / statistics.median(baselines):.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
