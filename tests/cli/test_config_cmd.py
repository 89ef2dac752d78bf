"""`roost config show|get|set`: effective values, validated edits that keep comments."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomlkit
from click.testing import CliRunner, Result

from roost.cli.config_cmd import parse_value
from roost.cli.init_cmd import config_document
from roost.cli.main import cli


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = tmp_path / "roost.toml"
    path.write_text(tomlkit.dumps(config_document("mail.example.test")))
    return path


def run(cfg: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(cfg), "config", *args])


def test_show_includes_defaults(cfg: Path) -> None:
    """show prints every section, including keys the file does not set."""
    out = run(cfg, "show").stdout
    data = tomllib.loads(out)
    assert data["server"]["hostname"] == "mail.example.test"
    assert data["smtp"]["bare_line_endings"] == "reject"  # not in the file: a default
    assert data["server"]["data_dir"] == str(cfg.parent.resolve())


def test_get_prints_toml_values(cfg: Path) -> None:
    """Values print as TOML: strings quoted, numbers bare, tables under their full name."""
    assert run(cfg, "get", "listeners.mx.address").stdout == '"127.0.0.1:2525"\n'
    assert run(cfg, "get", "limits.max_recipients").stdout == "100\n"
    table = run(cfg, "get", "listeners.mx").stdout
    assert tomllib.loads(table)["listeners"]["mx"]["enabled"] is True


def test_set_writes_and_keeps_comments(cfg: Path) -> None:
    """set changes one value; the operator's comments survive."""
    result = run(cfg, "set", "listeners.mx.address", "0.0.0.0:25")
    assert result.exit_code == 0, result.output
    text = cfg.read_text()
    assert 'address = "0.0.0.0:25"' in text
    assert "In production" in text
    assert run(cfg, "get", "listeners.mx.address").stdout == '"0.0.0.0:25"\n'


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("limits.max_recipients", "2626", 2626),
        ("listeners.submission.address", '"0.0.0.0:587"', "0.0.0.0:587"),
        ("dns.nameservers", '["127.0.0.1:53"]', ["127.0.0.1:53"]),
        ("server.node_id", "7", "7"),
        ("listeners.mx.enabled", "false", False),
    ],
)
def test_set_parses_toml_values(cfg: Path, key: str, value: str, expected: object) -> None:
    """VALUE is TOML when it parses; a string setting given a number keeps it as text."""
    assert run(cfg, "set", key, value).exit_code == 0
    node: object = tomllib.loads(cfg.read_text())
    for part in key.split("."):
        assert isinstance(node, dict)
        node = node[part]
    assert node == expected


def test_set_creates_missing_tables(cfg: Path) -> None:
    """A key in a section the file lacks creates that section."""
    assert run(cfg, "set", "smtp.bare_line_endings", "accept").exit_code == 0
    assert tomllib.loads(cfg.read_text())["smtp"] == {"bare_line_endings": "accept"}


def test_invalid_value_changes_nothing(cfg: Path) -> None:
    """An invalid value is rejected naming the key and the fix; the file is untouched."""
    before = cfg.read_bytes()
    result = run(cfg, "set", "listeners.mx.address", "0.0.0.0")
    assert result.exit_code == 1
    assert "listeners.mx.address" in result.stderr
    assert "host:port" in result.stderr
    assert "Traceback" not in result.output
    assert cfg.read_bytes() == before
    bad_type = run(cfg, "set", "limits.max_recipients", "lots")
    assert bad_type.exit_code == 1
    assert "limits.max_recipients" in bad_type.stderr
    assert cfg.read_bytes() == before


@pytest.mark.parametrize("args", [("get", "server.nope"), ("set", "nope.key", "1")])
def test_unknown_key(cfg: Path, args: tuple[str, ...]) -> None:
    """An unknown key is an error that names it."""
    before = cfg.read_bytes()
    result = run(cfg, *args)
    assert result.exit_code == 1
    assert repr(args[1]) in result.stderr
    assert cfg.read_bytes() == before


def test_set_refuses_a_whole_table(cfg: Path) -> None:
    """Setting a table names its keys instead."""
    result = run(cfg, "set", "listeners.mx", "1")
    assert result.exit_code == 1
    assert "listeners.mx.address" in result.stderr


def test_parse_value() -> None:
    """TOML where it parses, plain text otherwise."""
    assert parse_value("1") == 1
    assert parse_value("true") is True
    assert parse_value("0.0.0.0:25") == "0.0.0.0:25"
    assert parse_value("hello world") == "hello world"
