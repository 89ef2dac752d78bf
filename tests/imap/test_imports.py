"""Design rule 2: the sans-I/O IMAP core imports no I/O, clock or threading module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import roost.imap
from tests.smtp.test_imports import FORBIDDEN, imported_modules

IMAP_DIR = Path(roost.imap.__file__).parent
# The session layer (store calls, asyncio) sits on top of the sans-I/O core; everything else
# in the package is core.
SESSION_LAYER = {"aio", "session", "core", "mailboxes", "messages", "fetching", "hub", "memosearch"}
CORE = sorted(p.stem for p in IMAP_DIR.glob("*.py") if p.stem not in SESSION_LAYER)


def test_core_list_is_not_empty() -> None:
    """The glob finds the core modules (guards against a vacuous check)."""
    assert {"parser", "responses", "grammar", "sequence"} <= set(CORE)


@pytest.mark.parametrize("module", CORE)
def test_core_module_is_sans_io(module: str) -> None:
    """No core module imports asyncio, socket, ssl, time or threading."""
    assert not imported_modules(IMAP_DIR / f"{module}.py") & FORBIDDEN


@pytest.mark.parametrize("module", CORE)
def test_core_imports_only_stdlib_and_imap(module: str) -> None:
    """Core modules depend only on the standard library, roost.imap and the pure roost.message."""
    for name in imported_modules(IMAP_DIR / f"{module}.py"):
        assert name == "roost" or name in sys.stdlib_module_names, name
    for name in _roost_imports(IMAP_DIR / f"{module}.py"):
        assert name.startswith(("roost.imap", "roost.message")), name


def _roost_imports(path: Path) -> list[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("roost")
        and node.module is not None
    ]
