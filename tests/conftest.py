"""Shared fixtures: the conformance data beside the project, and a fresh hash store per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hashwarden.store import open_store

PROJECT = Path(__file__).resolve().parents[1]
CONFORMANCE = PROJECT.parent / "shared" / "conformance"


@pytest.fixture(scope="session")
def conformance() -> Path:
    """../shared/conformance; CI always has it, so there its absence is a failure, not a skip."""
    if not CONFORMANCE.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"conformance data missing: {CONFORMANCE}")
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return CONFORMANCE


@pytest.fixture
def fresh_store(tmp_path: Path):
    """A new, migrated SQLite hash store in a temporary folder."""
    engine = open_store(f"sqlite:///{tmp_path / 'hashwarden.db'}")
    yield engine
    engine.dispose()
