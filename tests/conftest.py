"""Shared fixtures: every storage-touching test runs on both backends (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from roost.config.model import RoostConfig

PG_DSN = os.environ.get("ROOST_TEST_PG_DSN", "postgresql://127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgres"]


def _postgres_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_DSN, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the server means "not available"
        return str(exc)
    return None


_PG_ERROR: str | bool | None = False  # False: not probed yet


def require_postgres() -> None:
    """Skip on a machine without PostgreSQL; in CI its absence is a failure, never a skip."""
    global _PG_ERROR
    if _PG_ERROR is False:
        _PG_ERROR = _postgres_available()
    if _PG_ERROR:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unreachable at {PG_DSN}: {_PG_ERROR}")
        pytest.skip(f"PostgreSQL not reachable at {PG_DSN}")


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres":
        require_postgres()
    return name


@pytest.fixture
def roost_config(tmp_path: Path, backend: str) -> Iterator[RoostConfig]:
    """A config whose storage lives under tmp_path (SQLite) or in a fresh schema (PostgreSQL)."""
    config = RoostConfig()
    config.server.data_dir = str(tmp_path)
    config.server.hostname = "mx.roost.test"
    config.storage.backend = backend  # type: ignore[assignment]
    schema = ""
    if backend == "postgres":
        schema = "t_" + uuid.uuid4().hex[:12]
        config.storage.postgres_dsn = PG_DSN
        config.storage.postgres_schema = schema
    yield config
    if schema:
        _drop_schema(schema)
