"""Configuration: the pydantic schema and the loader that names bad keys and their fix."""

from roost.config.load import ConfigError, find_config_path, load_config, resolve_path
from roost.config.model import RoostConfig

__all__ = ["ConfigError", "RoostConfig", "find_config_path", "load_config", "resolve_path"]
