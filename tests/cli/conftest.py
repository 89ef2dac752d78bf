"""CLI test helpers: a config file on disk for the parametrized `roost_config`, and a runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from click.testing import CliRunner, Result

from roost.cli.main import cli
from roost.config.model import RoostConfig

Run = Callable[..., Result]


def write_config(config: RoostConfig, path: Path) -> Path:
    path.write_text(tomlkit.dumps(config.model_dump(mode="json")), encoding="utf-8")
    return path


@pytest.fixture
def config_file(roost_config: RoostConfig, tmp_path: Path) -> Path:
    """The backend-parametrized config, written where `--config` can point at it."""
    return write_config(roost_config, tmp_path / "roost.toml")


@pytest.fixture
def roost(config_file: Path) -> Run:
    """Invoke `roost --config <file> ARGS...` in-process; `input` feeds stdin."""

    def run(*args: str, input: str | None = None, ok: bool = True) -> Result:
        result = CliRunner().invoke(cli, ["--config", str(config_file), *args], input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)
