"""Layers import one way: deployments → api, actors, media → core (../shared/STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Which top-level packages each package must not import.
FORBIDDEN = {
    "core": {"api", "actors", "media", "deployments"},
    "api": {"actors", "deployments"},
    "actors": {"api", "deployments"},
    "media": {"api", "actors", "deployments"},
}


def _imports(path: Path) -> set[str]:
    """Top-level packages ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in sorted((ROOT / package).rglob("*.py"))
        if _imports(path) & FORBIDDEN[package]
    }
    assert wrong == {}, f"{package}/ imports a layer it must not: {wrong}"
