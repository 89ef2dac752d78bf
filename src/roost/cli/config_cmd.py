"""`roost config show|get|set`: read and edit the TOML config like `postconf` / `postconf -e`.

`set` edits the file with tomlkit so the operator's comments and layout survive, and validates
the whole resulting config before writing, so a bad value never reaches the disk.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click
import tomlkit
from pydantic import BaseModel
from tomlkit.items import Table

from roost.cli.context import CliState, fail, pass_state
from roost.config import ConfigError, RoostConfig
from roost.config.load import read_config_text, validate_config


@click.group()
def config() -> None:
    """Show or change settings in the config file."""


def _document(model: BaseModel) -> tomlkit.TOMLDocument:
    """The model as TOML, each key commented with its schema description."""
    doc = tomlkit.document()
    _fill(doc, model)
    return doc


def _fill(container: tomlkit.TOMLDocument | Table, model: BaseModel) -> None:
    fields = type(model).model_fields
    for name, info in fields.items():
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            table = tomlkit.table()
            _fill(table, value)
            container.add(name, table)
            continue
        item = tomlkit.item(value)
        if info.description:
            item.comment(info.description)
        container.add(name, item)


@config.command()
@pass_state
def show(state: CliState) -> None:
    """Print the effective config (file values and defaults) as TOML."""
    click.echo(tomlkit.dumps(_document(state.config)), nl=False)


def _lookup(model: BaseModel, key: str) -> Any:
    """The value at a dotted key; CliError naming the key when there is none."""
    node: Any = model
    for part in key.split("."):
        if not isinstance(node, BaseModel) or part not in type(node).model_fields:
            raise fail(f"unknown config key {key!r}; see `roost config show` for the valid keys")
        node = getattr(node, part)
    return node


def _format_value(value: Any, key: str = "") -> str:
    """A leaf as a TOML value; a table as TOML under its full dotted name."""
    if not isinstance(value, BaseModel):
        return str(tomlkit.item(value).as_string())
    doc = tomlkit.document()
    node: Any = doc
    *parents, last = key.split(".")
    for part in parents:
        child = tomlkit.table(is_super_table=True)
        node.add(part, child)
        node = child
    node.add(last, _document(value))
    return tomlkit.dumps(doc).strip("\n")


@config.command()
@click.argument("key")
@pass_state
def get(state: CliState, key: str) -> None:
    """Print one setting (dotted KEY, e.g. listeners.mx.address) as a TOML value."""
    click.echo(_format_value(_lookup(state.config, key), key))


def parse_value(text: str) -> Any:
    """VALUE as TOML (2626, true, "x", ["a"]); anything that does not parse is a plain string."""
    try:
        return tomlkit.parse(f"v = {text}")["v"]
    except Exception:  # tomlkit raises several parse error types; all mean "not TOML"
        return text


def _coerce(key: str, raw: str, parsed: Any) -> Any:
    """For a string setting, `roost config set server.node_id 7` means the string "7"."""
    default = _lookup(RoostConfig(), key)
    if isinstance(default, BaseModel):
        names = ", ".join(f"{key}.{n}" for n in type(default).model_fields)
        raise fail(f"{key!r} is a table; set one of its keys: {names}")
    if isinstance(default, str) and not isinstance(parsed, str):
        return raw
    return parsed


def _set_in(doc: tomlkit.TOMLDocument, key: str, value: Any) -> None:
    """Assign a dotted key in the document, creating missing tables."""
    *tables, leaf = key.split(".")
    node: Any = doc
    for i, part in enumerate(tables):
        if part not in node:
            node.add(part, tomlkit.table(is_super_table=i < len(tables) - 1))
        node = node[part]
    node[leaf] = value


def _read_document(path: Path) -> tomlkit.TOMLDocument:
    text = read_config_text(path)
    try:
        return tomlkit.parse(text)
    except Exception as exc:  # tomlkit parse errors carry line/column in their text
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _write_atomic(path: Path, text: str) -> None:
    """Replace the file in one rename, keeping its permissions; a crash leaves old or new."""
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@config.command(name="set")
@click.argument("key")
@click.argument("value")
@pass_state
def set_(state: CliState, key: str, value: str) -> None:
    """Set KEY to VALUE (a TOML value; bare words are strings), validating before writing."""
    path = state.config_path
    doc = _read_document(path)
    _set_in(doc, key, _coerce(key, value, parse_value(value)))
    validate_config(doc.unwrap(), str(path))  # raises ConfigError naming the key and the fix
    text = tomlkit.dumps(doc)
    _write_atomic(path, text if text.endswith("\n") else text + "\n")
    click.echo(f"{key} = {_format_value(doc_value(doc, key))}")


def doc_value(doc: tomlkit.TOMLDocument, key: str) -> Any:
    node: Any = doc.unwrap()
    for part in key.split("."):
        node = node[part]
    return node
