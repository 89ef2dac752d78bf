"""Shared CLI state and the error boundary: operator mistakes become one line on stderr, exit 1.

Commands raise `CliError` (or let ConfigError/StoreError through); `RoostGroup` turns them into
a message without a traceback. Programming errors still show their traceback, on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from roost.config import ConfigError, RoostConfig, find_config_path, load_config
from roost.store.interface import StoreError

if TYPE_CHECKING:
    from roost.store.interface import BlobStore, Store


class CliError(click.ClickException):
    """An operator-facing error; printed as is (no "Error:" prefix), exit code 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True, file=file)


def fail(message: str) -> CliError:
    """A CliError whose message is prefixed "roost: " like other Unix tools' errors."""
    return CliError(f"roost: {message}")


class RoostGroup(click.Group):
    """A click group that is the single place where expected errors are translated."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise CliError(str(exc)) from None
        except StoreError as exc:
            raise fail(str(exc)) from None


@dataclass
class CliState:
    """What the root command learned (--config), with the config loaded on first use."""

    explicit_config: str | None = None
    _config: RoostConfig | None = field(default=None, repr=False)
    _blobs: BlobStore | None = field(default=None, repr=False)

    @property
    def config_path(self) -> Path:
        return find_config_path(self.explicit_config)

    @property
    def config(self) -> RoostConfig:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The metadata store, closed when the command is done."""
        store = open_store_for(self.config)
        try:
            yield store
        finally:
            store.close()

    def blobs(self) -> BlobStore:
        """The blob store, with a store of its own: small bodies are rows in the database.

        Commands read bodies after their `store()` block has closed, so this store stays open
        until the root click context ends (then it is closed), and is shared by later calls.
        """
        if self._blobs is None:
            from roost.store import open_blobs

            store = open_store_for(self.config)
            ctx = click.get_current_context(silent=True)
            if ctx is not None:
                ctx.find_root().call_on_close(store.close)
            self._blobs = open_blobs(self.config, store)
        return self._blobs


def open_store_for(config: RoostConfig) -> Store:
    """open_store with connection failures (database down, bad DSN) reported as one line."""
    from roost.store import open_store

    try:
        return open_store(config)
    except (StoreError, ConfigError):
        raise
    except Exception as exc:  # driver errors differ per backend; the operator needs the text
        raise fail(f"cannot open the {config.storage.backend} store: {exc}") from None


pass_state = click.make_pass_decorator(CliState, ensure=True)
