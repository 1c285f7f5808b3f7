"""Keeping a running service on the store's current index generation, without a restart.

Each service process polls the store's generation key every `index_refresh_seconds` in a background thread
(never on a request's path) and, when it moved, opens the new generation (building it if no process has yet:
scan/index_generations.py) and swaps `app.state.matcher`. The swap is one reference assignment: a lookup in
flight keeps the Matcher it started with, the next one gets the new. A failed refresh (store unreachable, a build
that failed) is logged and the old generation keeps answering; the next tick tries again.

Staleness bound: an import committed at time t is answered by every process from t + interval + the time to build
(or, for the processes that did not build it, to map) the new generation; docs/architecture.md states it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

from sqlalchemy.engine import Engine

from hashwarden.config import ScanSettings
from hashwarden.scan.match_hashes import generation_for, matcher_for

_log = logging.getLogger(__name__)


class IndexRefresher:
    """Moves `state.matcher` to the store's current generation when it changes."""

    def __init__(self, state: Any, engine: Engine, settings: ScanSettings, interval: float) -> None:
        self.state = state  # the app's state: `matcher` is read by every lookup and replaced here only
        self.engine = engine
        # A store emptied while serving is a real state to answer from (all unknown), not a mistyped --db: the
        # refusal of an empty store is for start-up only.
        self.settings = dataclasses.replace(settings, allow_empty=True)
        self.interval = interval

    def refresh(self) -> bool:
        """Switch to the current generation if it moved; whether it switched. Never raises: a failure is logged
        and the matcher in use stays."""
        serving = self.state.matcher.generation
        try:
            if generation_for(self.engine, self.settings) == serving:
                return False
            matcher = matcher_for(self.engine, self.settings)
        except Exception:  # noqa: BLE001 - any failure: keep answering from what is loaded, say so
            _log.exception("index refresh failed; still serving generation %s", serving)
            return False
        self.state.matcher = matcher
        _log.info("index generation %s now served (was %s)", matcher.generation, serving)
        return True

    def run(self, stop: threading.Event) -> None:
        """Refresh every `interval` seconds until `stop` is set."""
        while not stop.wait(self.interval):
            self.refresh()
