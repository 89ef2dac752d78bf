"""CLI test fixtures: a config file on disk for the parametrized `roost_config`, and a runner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from roost.cli.main import cli
from roost.config.model import RoostConfig
from tests.cli.helpers import Run, write_config


@pytest.fixture
def config_file(roost_config: RoostConfig, tmp_path: Path) -> Path:
    """The backend-parametrized config, written where `--config` can point at it."""
    return write_config(roost_config, tmp_path / "roost.toml")


@pytest.fixture
def roost(config_file: Path) -> Run:
    """Run `roost --config <file> ARGS...` in-process; `input` feeds stdin; `ok` wants exit 0."""

    def run(*args: str, input: str | None = None, ok: bool = True) -> Result:
        result = CliRunner().invoke(cli, ["--config", str(config_file), *args], input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run
