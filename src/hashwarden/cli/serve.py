"""`hashwarden serve`: the service (service/) on uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from hashwarden.cli.common import app, err, DbOption, engine_for
from hashwarden.config import ENV_DB, SERVICE_HOST, SERVICE_PORT, database_url


@app.command("serve")
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default).")] = SERVICE_HOST,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = SERVICE_PORT,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Service processes.")] = 1,
) -> None:
    """Serve the hash database over HTTP: /v1/health, /v1/lookup (API keys from `hashwarden user create`).

    SQLite for one machine; a PostgreSQL URL when several processes or machines share one store.
    Example: hashwarden serve --db postgresql://hw@db/hashwarden --host 0.0.0.0 --workers 4
    """
    import uvicorn

    from hashwarden.scan.matcher import require_alert_entries

    url = database_url(db)
    engine = engine_for(url, create=False)  # refused here, in words, before any worker starts
    with engine.connect() as conn:
        require_alert_entries(conn, engine.url.render_as_string(hide_password=True))
    engine.dispose()
    os.environ[ENV_DB] = url  # what each worker's app_from_environment opens
    err.print(f"hashwarden service on http://{host}:{port} ({workers} worker(s))", markup=False)
    uvicorn.run("hashwarden.service.app:app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="info")
