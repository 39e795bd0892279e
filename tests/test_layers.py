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


# --- no import circles -----------------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    """`if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`): imports that never run."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(tree: ast.AST):
    """Every import statement, at any depth, except those only a type checker reads."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        kids = list(ast.iter_child_nodes(node))
        if _type_checking_only(node):
            kids = node.orelse
        stack.extend(kids)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (function-level imports too): `from P import x`
    counts as importing P.x when that is a module, else P."""
    paths = {module_name(p): p for package in OURS for p in sorted((ROOT / package).rglob("*.py"))}

    def ours(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in _import_nodes(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base
                           for a in node.names]
            deps.update(m for m in map(ours, targets) if m and m != name)
        graph[name] = deps
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each as one
    circle through its members."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_circle(graph, set(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _circle(graph: dict[str, set[str]], members: set[str]) -> list[str]:
    """A shortest path from the first member back to itself inside the component."""
    start = min(members)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return sorted(members)


def test_no_module_imports_itself_through_others():
    cycles = import_cycles(import_graph())
    assert not cycles, (
        "import circles (function-level imports count: move what both need to a module below "
        "them):\n" + "\n".join(" -> ".join(c) for c in cycles))


def test_the_cycle_finder_finds_a_circle_and_ignores_type_checking_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c", "a"]]
    assert import_cycles({"a": {"b"}, "b": set()}) == []
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\n"
                     "else:\n    import y\ndef f():\n    import z\n")
    names = {a.name for n in _import_nodes(tree) if isinstance(n, ast.Import) for a in n.names}
    assert names == {"y", "z"}
