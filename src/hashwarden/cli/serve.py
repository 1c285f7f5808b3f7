"""`hashwarden serve`: the service (service/) on uvicorn."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from hashwarden.cli.common import app, err, DbOption, engine_for
from hashwarden.config import (ENV_BLOCK_PAGE, ENV_DB, ENV_REPO, ENV_SELF_REPORT_SECRET, ENV_SERVICE_LIMITS,
                               SERVICE_HOST, SERVICE_PORT, ServiceLimits, database_url)

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
    index_refresh: Annotated[float, typer.Option("--index-refresh", min=0.001,
                                                 help="Seconds between checks for a new index generation (an "
                                                 "import is answered within this plus the build time).")
                             ] = _LIMITS.index_refresh_seconds,
    tls_cert: Annotated[Optional[Path], typer.Option("--tls-cert", help="Serve https with this certificate (PEM, "
                                                     "with its chain); needs --tls-key.")] = None,
    tls_key: Annotated[Optional[Path], typer.Option("--tls-key", help="The certificate's private key (PEM).")
                       ] = None,
    max_media_mb: Annotated[float, typer.Option("--max-media-mb", min=0.000001,
                                                help="Largest file POST /v1/media accepts, in MB (then 413); "
                                                     "held in memory while it is hashed.")
                            ] = _LIMITS.max_media_bytes / 1e6,
    max_case_mb: Annotated[float, typer.Option("--max-case-mb", min=0.000001,
                                               help="Largest report.json POST /v1/cases accepts, in MB (then "
                                                    "413); streamed, not held in memory.")
                           ] = _LIMITS.max_case_bytes / 1e6,
    min_body_rate: Annotated[float, typer.Option("--min-body-rate", min=0.001,
                                                 help="KB a second a client must keep sending a large body at: "
                                                      "each KB received adds to --body-timeout (then 408).")
                             ] = _LIMITS.min_body_bytes_per_second / 1e3,
    repo: Annotated[Optional[Path], typer.Option("--repo", help="Also serve this published TUF repository "
                                                 "(`hashwarden publish`) under /repo/, without a key (see README: "
                                                 "Distribution to subscribers).")] = None,
    header_timeout: Annotated[float, typer.Option("--header-timeout", min=0.001, help="Seconds a client has to "
                                                  "send a request's headers (then the connection is closed).")
                              ] = _LIMITS.header_timeout_seconds,
    block_page: Annotated[Optional[Path], typer.Option("--block-page", help="JSON describing the block page GET "
                                                       "/blocked answers (as `url block-page --config`).")] = None,
) -> None:
    """Serve the hash database over HTTP: /v1/health, /v1/lookup (API keys from `hashwarden user create`).

    SQLite for one machine; a PostgreSQL URL when several processes or machines share one store.
    Example: hashwarden serve --db postgresql://hw@db/hashwarden --host 0.0.0.0 --workers 4 \
        --tls-cert hw.pem --tls-key hw.key
    """
    import uvicorn

    tls = _tls_files(tls_cert, tls_key)

    from hashwarden.scan.store_sets import refuse_empty_store

    url = database_url(db)
    engine = engine_for(url, create=False)  # refused here, in words, before any worker starts
    refuse_empty_store(engine)
    engine.dispose()
    limits = dataclasses.replace(_LIMITS, rate_per_second=rate, burst=burst, body_timeout_seconds=body_timeout,
                                 keep_alive_seconds=keep_alive, index_refresh_seconds=index_refresh,
                                 max_media_bytes=max(1, round(max_media_mb * 1e6)),
                                 header_timeout_seconds=header_timeout,
                                 max_case_bytes=max(1, round(max_case_mb * 1e6)),
                                 min_body_bytes_per_second=min_body_rate * 1e3)
    if block_page is not None:
        from hashwarden.urllist.block_page import BlockPage

        BlockPage.from_file(block_page)  # refused here, in words, before any worker starts
        os.environ[ENV_BLOCK_PAGE] = str(block_page.resolve())
    if repo is not None and not repo.is_dir():
        raise typer.BadParameter(f"{repo} is not a directory", param_hint="--repo")
    os.environ[ENV_DB] = url  # what each worker's app_from_environment opens, within these limits
    os.environ[ENV_REPO] = str(repo.resolve()) if repo is not None else ""
    os.environ[ENV_SERVICE_LIMITS] = json.dumps(dataclasses.asdict(limits))
    if not os.environ.get(ENV_SELF_REPORT_SECRET):  # one key for all workers' self-report challenges
        import secrets

        os.environ[ENV_SELF_REPORT_SECRET] = secrets.token_hex(32)
    scheme = "https" if tls else "http"
    err.print(f"hashwarden service on {scheme}://{host}:{port} ({workers} worker(s))", markup=False)
    uvicorn.run("hashwarden.service.app:app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="info", timeout_keep_alive=limits.keep_alive_seconds,
                http="hashwarden.service.protocol:HeaderTimeoutProtocol", **tls)  # h11 with a header-read timeout


def _tls_files(cert: Path | None, key: Path | None) -> dict[str, str]:
    """uvicorn's TLS arguments: both files or neither, each readable and the two a certificate and its key
    (checked here, in words, before uvicorn starts: its own error is a traceback from inside the ssl module)."""
    import ssl

    if (cert is None) != (key is None):
        raise typer.BadParameter("--tls-cert and --tls-key go together", param_hint="--tls-cert/--tls-key")
    if cert is None or key is None:
        return {}
    for option, path in (("--tls-cert", cert), ("--tls-key", key)):
        try:
            with open(path, "rb") as probe:
                probe.read(1)
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}", param_hint=option) from exc
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise typer.BadParameter(f"{cert} and {key} are not a PEM certificate and its private key ({exc})",
                                 param_hint="--tls-cert/--tls-key") from exc
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
