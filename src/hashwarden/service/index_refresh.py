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
from starlette.exceptions import HTTPException

from hashwarden.config import ScanSettings
from hashwarden.errors import ScanError
from hashwarden.scan.match_hashes import generation_for, matcher_for
from hashwarden.scan.store_sets import refuse_empty_store
from hashwarden.scan.matcher import Matcher

_log = logging.getLogger(__name__)


class IndexRefresher:
    """Moves `state.matcher` to the store's current generation when it changes."""

    def __init__(self, state: Any, engine: Engine, settings: ScanSettings, interval: float) -> None:
        self.state = state  # the app's state: `matcher` is read by every lookup and replaced here only
        self.engine = engine
        # A store emptied while serving is switched to like any other generation (the old one would match entries
        # that are gone), but answered with 503 until alert entries are back (`serving_matcher`): "not known" from an
        # empty store looks like a clean answer, the worst failure there is.
        self.settings = dataclasses.replace(settings, allow_empty=True)
        self.interval = interval
        state.empty_store = None  # the refusal's text while the served generation holds no alert entry

    def refresh(self) -> bool:
        """Switch to the current generation if it moved; whether it switched. Never raises: a failure is logged
        and the matcher in use stays."""
        serving = self.state.matcher.generation
        try:
            if generation_for(self.engine, self.settings) == serving:
                return False
            matcher = matcher_for(self.engine, self.settings)
            empty = _empty_store(self.engine)
        except Exception:  # noqa: BLE001 - any failure: keep answering from what is loaded, say so
            _log.exception("index refresh failed; still serving generation %s", serving)
            return False
        self.state.matcher, self.state.empty_store = matcher, empty
        if empty:
            _log.error("index generation %s holds no alert entry: lookups refused (503) until one is imported",
                       matcher.generation)
        _log.info("index generation %s now served (was %s)", matcher.generation, serving)
        return True

    def run(self, stop: threading.Event) -> None:
        """Refresh every `interval` seconds until `stop` is set."""
        while not stop.wait(self.interval):
            self.refresh()


def _empty_store(engine: Engine) -> str | None:
    """Why the store cannot be matched against (no alert entry), or None when it can."""
    try:
        refuse_empty_store(engine)
    except ScanError as exc:
        return str(exc)
    return None


def serving_matcher(state: Any) -> Matcher:
    """The Matcher a lookup answers from, or 503 while the store holds no alert entry (emptied after start).

    Raises:
        HTTPException: 503 with the reason.
    """
    if state.empty_store:
        raise HTTPException(503, f"the service's store holds no alert entry, so every item would be reported "
                                 f"unknown; refused until a hash set is imported ({state.empty_store})")
    return state.matcher
