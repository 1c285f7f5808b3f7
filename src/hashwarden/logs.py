"""Logging: quiet by default; `-v` sends the debug log (tracebacks of item errors) to stderr, `--log-file` to a file.

Worker processes are spawned, not forked, so they start with no handler: the CLI's choice travels in environment
variables, and `configure_logging()` is called again at the start of each worker.
"""

from __future__ import annotations

import logging
import os

ENV_VERBOSE = "HASHWARDEN_VERBOSE"
ENV_LOG_FILE = "HASHWARDEN_LOG_FILE"
_FORMAT = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"


def configure_logging(verbose: bool | None = None, log_file: str | None = None) -> None:
    """Set up the `hashwarden` logger (and remember the choice for worker processes); without arguments, take it
    from the environment (a worker)."""
    if verbose is None:
        verbose = os.environ.get(ENV_VERBOSE) == "1"
        log_file = os.environ.get(ENV_LOG_FILE) or None
    else:
        os.environ[ENV_VERBOSE] = "1" if verbose else "0"
        if log_file:
            os.environ[ENV_LOG_FILE] = os.path.abspath(log_file)
            log_file = os.environ[ENV_LOG_FILE]
    logger = logging.getLogger("hashwarden")
    if not (verbose or log_file) or logger.handlers:
        return
    logger.setLevel(logging.DEBUG)
    handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter(_FORMAT))
    logger.addHandler(handler)
