"""Design rule 2: the sans-I/O SMTP core imports no I/O, clock or threading module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import roost.smtp

SMTP_DIR = Path(roost.smtp.__file__).parent
CORE = [
    "__init__",
    "_state",
    "address",
    "client",
    "client_body",
    "client_ehlo",
    "data",
    "errors",
    "events",
    "extensions",
    "parser",
    "reply",
    "sasl",
    "server",
]
FORBIDDEN = {"asyncio", "socket", "ssl", "time", "threading", "selectors"}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every module imported anywhere in the file (incl. inside functions)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", CORE)
def test_core_module_is_sans_io(module: str) -> None:
    """No core module imports asyncio, socket, ssl, time or threading."""
    assert not imported_modules(SMTP_DIR / f"{module}.py") & FORBIDDEN


@pytest.mark.parametrize("module", CORE)
def test_core_imports_only_stdlib_and_smtp(module: str) -> None:
    """Core modules depend only on the standard library and roost.smtp itself."""
    import sys

    for name in imported_modules(SMTP_DIR / f"{module}.py"):
        assert name == "roost" or name in sys.stdlib_module_names, name


def test_core_roost_imports_stay_inside_smtp() -> None:
    """Core modules import nothing from roost outside roost.smtp (and not the policy layer)."""
    for module in CORE:
        tree = ast.parse((SMTP_DIR / f"{module}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("roost"):
                assert (node.module or "").startswith("roost.smtp"), (module, node.module)
                assert node.module not in ("roost.smtp.inbound", "roost.smtp.aio"), module
