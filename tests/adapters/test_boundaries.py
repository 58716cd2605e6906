"""Adapters are clients of the HTTP API: nothing under adapters/ may import the service's code."""

from __future__ import annotations

import ast
from pathlib import Path

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"


def imported_modules(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_no_adapter_module_imports_commerce() -> None:
    files = sorted(ADAPTERS.rglob("*.py"))
    assert files, "adapters/ holds no Python files"
    offenders = [
        f"{path.relative_to(ADAPTERS.parent)}: {name}"
        for path in files
        for name in imported_modules(path)
        if name == "commerce" or name.startswith("commerce.")
    ]
    assert offenders == []
