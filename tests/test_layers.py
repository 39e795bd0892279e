"""Each layer uses only the layers below it: schemas and settings at the bottom, then the pure
packages, the bus, the agents (which import nothing from each other), and the CLI on top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = {"schemas", "settings", "quant", "marketdata", "venue", "bus", "agents", "organism"}
ALLOWED = {
    "schemas": set(),
    "settings": set(),
    "quant": {"schemas"},
    "marketdata": {"schemas", "settings", "quant"},
    "venue": {"settings"},
    "bus": {"schemas", "settings"},
    "agents": {"schemas", "settings", "quant", "marketdata", "venue", "bus"},
    "organism": OURS,
}
# Entry points: `python -m agents.NAME` runs the CLI, which is above everything.
ENTRY_POINTS = {"__main__.py"}


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name `path` imports, at any depth (function-level imports too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def files(package: str):
    return [p for p in sorted((ROOT / package).rglob("*.py")) if p.name not in ENTRY_POINTS]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package):
    wrong = []
    for path in files(package):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in OURS and top != package and top not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_agents_import_nothing_from_each_other():
    wrong = []
    for path in files("agents"):
        parts = path.relative_to(ROOT / "agents").parts
        if len(parts) < 2:  # agents/__init__.py and agents/sections.py list them all
            continue
        for module in imported_modules(path):
            names = module.split(".")
            if names[0] == "agents" and len(names) > 1 and names[1] != parts[0]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "agents share code only through packages below them:\n" + "\n".join(wrong)
