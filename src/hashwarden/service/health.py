"""`GET /v1/health`: is the service up, and what is it answering from. No key needed: load balancers ask it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from hashwarden import __version__

router = APIRouter()


@router.get("/v1/health")
def health(request: Request) -> dict[str, Any]:
    """The version, the store's backend and the index generation the lookups answer from now (the key of the
    generation the process has mapped: scan/index_generations.py)."""
    state = request.app.state
    return {"status": "ok", "version": __version__, "store": state.engine.dialect.name,
            "index_generation": state.matcher.generation}
