"""Fixtures for socket-level tests: a real server per test, on each storage backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roost.config import RoostConfig
from tests.integration.harness import RunningServer, prepare_config, running_server


@pytest.fixture
def config(roost_config: RoostConfig) -> RoostConfig:
    return prepare_config(roost_config)


@pytest.fixture
def server(config: RoostConfig) -> Iterator[RunningServer]:
    with running_server(config) as running:
        yield running
