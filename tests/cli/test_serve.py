"""`roost serve` loads the config and hands it to roost.app.serve (imported lazily)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from roost.cli.main import cli
from roost.config import RoostConfig
from tests.cli.helpers import write_config


def test_serve_passes_the_loaded_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server receives the validated config with data_dir resolved to the file's folder."""
    seen: list[RoostConfig] = []
    fake = types.ModuleType("roost.app")
    fake.serve = seen.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "roost.app", fake)
    config = RoostConfig()
    config.server.hostname = "mx.test"
    path = write_config(config, tmp_path / "roost.toml")
    result = CliRunner().invoke(cli, ["--config", str(path), "serve"])
    assert result.exit_code == 0, result.output
    [loaded] = seen
    assert loaded.server.hostname == "mx.test"
    assert loaded.server.data_dir == str(tmp_path.resolve())


def test_serve_with_a_bad_config_is_one_line(tmp_path: Path) -> None:
    """A config error stops serve before any server code runs."""
    path = tmp_path / "roost.toml"
    path.write_text("[server]\nhostnme = 'x'\n")
    result = CliRunner().invoke(cli, ["--config", str(path), "serve"])
    assert result.exit_code == 1
    assert "server.hostnme: unknown key" in result.stderr
