"""Find, read and validate the TOML config; errors name the key, the bad value and the fix."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from roost.config.model import RoostConfig

DEFAULT_PATH = Path("var/roost.toml")


class ConfigError(Exception):
    """A config file that cannot be used; the message is meant for the operator as is."""


def find_config_path(explicit: str | None = None) -> Path:
    """--config FILE, else $ROOST_CONFIG, else ./var/roost.toml."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ROOST_CONFIG")
    return Path(env) if env else DEFAULT_PATH


def _describe(error: dict[str, Any]) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key; remove it or check its spelling (see `roost config show`)"
    value = error.get("input")
    fix = error["msg"].removeprefix("Value error, ")
    return f"{key} = {value!r}: {fix}"


def validate_config(data: dict[str, Any], source: str) -> RoostConfig:
    try:
        config = RoostConfig.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(dict(e)) for e in exc.errors()]
        raise ConfigError(f"invalid config {source}:\n  " + "\n  ".join(lines)) from None
    return config


def read_config_text(path: Path) -> str:
    """The file's text, or an error that says how to get one."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found; run `roost init` or pass --config FILE"
        ) from None


def load_config(path: Path) -> RoostConfig:
    """Read and validate; relative paths in the config resolve against server.data_dir."""
    text = read_config_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    config = validate_config(data, str(path))
    # A relative data dir is taken from the config file's folder, so --config works from anywhere.
    config.server.data_dir = str((path.parent / config.server.data_dir).resolve())
    return config


def resolve_path(config: RoostConfig, value: str) -> Path:
    """A path from the config: absolute as is, else under server.data_dir."""
    p = Path(value)
    return p if p.is_absolute() else Path(config.server.data_dir) / p
