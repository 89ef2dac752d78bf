"""Ordered schema migrations, read from each backend's `migrations/NNNN_name.sql` files.

Each backend applies the steps forward when a store opens, one transaction per step, and records
the version in `meta.schema_version`. A database newer than the code is refused: running old code
on a newer schema could silently drop what the new columns mean.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from roost.store.interface import StoreError

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(package: str) -> list[Migration]:
    """The migrations shipped in `package`/migrations, checked to be numbered 1, 2, 3, ..."""
    folder = resources.files(package).joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    check_sequence(found)
    return found


def check_sequence(migrations: list[Migration]) -> None:
    """A gap or duplicate would make two installs end at different schemas with the same number."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise StoreError(f"migration {migration.name} out of sequence; expected {expected:04d}")


def check_not_newer(current: int, known: int) -> None:
    if current > known:
        raise StoreError(
            f"database schema version {current} is newer than this Roost ({known}); upgrade Roost"
        )
