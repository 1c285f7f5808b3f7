"""`hashwarden serve`: the service (service/) on uvicorn."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Annotated

import typer

from hashwarden.cli.common import app, err, DbOption, engine_for
from hashwarden.config import ENV_DB, ENV_SERVICE_LIMITS, SERVICE_HOST, SERVICE_PORT, ServiceLimits, database_url

_LIMITS = ServiceLimits()


@app.command("serve")
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = SERVICE_HOST,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = SERVICE_PORT,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Service processes.")] = 1,
    rate: Annotated[float, typer.Option("--rate", min=0.001, help="Requests a second per API key (per process)."
                                        )] = _LIMITS.rate_per_second,
    burst: Annotated[int, typer.Option("--burst", min=1, help="Requests a key may make at once.")] = _LIMITS.burst,
    body_timeout: Annotated[float, typer.Option("--body-timeout", min=0.001,
                                                help="Seconds to receive a request body (then 408).")
                            ] = _LIMITS.body_timeout_seconds,
    keep_alive: Annotated[float, typer.Option("--keep-alive", min=0.001, help="Seconds an idle connection stays "
                                              "open.")] = _LIMITS.keep_alive_seconds,
    header_timeout: Annotated[float, typer.Option("--header-timeout", min=0.001, help="Seconds a client has to "
                                                  "send a request's headers (then the connection is closed).")
                              ] = _LIMITS.header_timeout_seconds,
) -> None:
    """Serve the hash database over HTTP: /v1/health, /v1/lookup (API keys from `hashwarden user create`).

    SQLite for one machine; a PostgreSQL URL when several processes or machines share one store.
    Example: hashwarden serve --db postgresql://hw@db/hashwarden --host 0.0.0.0 --workers 4
    """
    import uvicorn

    from hashwarden.scan.match_hashes import refuse_empty_store

    url = database_url(db)
    engine = engine_for(url, create=False)  # refused here, in words, before any worker starts
    refuse_empty_store(engine)
    engine.dispose()
    limits = dataclasses.replace(_LIMITS, rate_per_second=rate, burst=burst, body_timeout_seconds=body_timeout,
                                 keep_alive_seconds=keep_alive, header_timeout_seconds=header_timeout)
    os.environ[ENV_DB] = url  # what each worker's app_from_environment opens, within these limits
    os.environ[ENV_SERVICE_LIMITS] = json.dumps(dataclasses.asdict(limits))
    err.print(f"hashwarden service on http://{host}:{port} ({workers} worker(s))", markup=False)
    uvicorn.run("hashwarden.service.app:app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="info", timeout_keep_alive=limits.keep_alive_seconds,
                http="hashwarden.service.protocol:HeaderTimeoutProtocol")  # h11 with a header-read timeout
