"""Shared fixtures: the conformance data beside the project, and a fresh hash store per test.

Store tests take `store_url` or `store_engine`, which run each test twice: on SQLite and on a private PostgreSQL
cluster (tests/pg.py) started once per session, the first time a PostgreSQL test needs it. Each test starts from an
empty database: a new SQLite file, or on PostgreSQL the session's test database with its schema dropped and made
again. `-m "not postgresql"` leaves the PostgreSQL runs out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pg import PgCluster, PgUnavailable

from hashwarden.store import open_store

PROJECT = Path(__file__).resolve().parents[1]


def _conformance_dir() -> Path:
    """../shared/conformance beside the project. `make mutate` runs these tests from a copy one level down
    (mutants/), so the nearest ancestor holding shared/conformance counts; none is reported as the usual place."""
    for folder in PROJECT.parents:
        if (folder / "shared" / "conformance").is_dir():
            return folder / "shared" / "conformance"
    return PROJECT.parent / "shared" / "conformance"


CONFORMANCE = _conformance_dir()


@pytest.fixture(scope="session")
def conformance() -> Path:
    """../shared/conformance. Its absence is a failure, never a skip: a skipped conformance test looks like a pass
    in a summary nobody reads, and these are the tests that say hashwarden agrees with the reference."""
    if not CONFORMANCE.is_dir():
        pytest.fail(f"conformance data missing: {CONFORMANCE} (see its README: ../shared/conformance beside the project)")
    return CONFORMANCE


@pytest.fixture
def fresh_store(tmp_path: Path):
    """A new, migrated SQLite hash store in a temporary folder (tests of scans, where the backend is not the point)."""
    engine = open_store(f"sqlite:///{tmp_path / 'hashwarden.db'}")
    yield engine
    engine.dispose()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs against the private PostgreSQL test cluster")


@pytest.fixture(scope="session")
def pg_cluster():
    """The session's PostgreSQL server. Skipped when none can start here, but in CI that is a failure."""
    try:
        cluster = PgCluster.start()
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL test cluster did not start: {exc}")
        pytest.skip(f"PostgreSQL test cluster did not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """An empty (not migrated) PostgreSQL database for this test alone."""
    return pg_cluster.fresh_database()


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a new, empty database on each backend in turn; `open_store` creates the schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hashwarden.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store_engine(store_url: str):
    """A new, migrated hash store on each backend in turn."""
    engine = open_store(store_url)
    yield engine
    engine.dispose()
