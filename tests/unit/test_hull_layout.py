"""hull/ stays easy to read: no module over 600 lines, and no import cycle through a hull module."""

from __future__ import annotations

import ast
from pathlib import Path

import cio_desktop

ROOT = Path(cio_desktop.__file__).parent
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(tree: ast.Module, modules: set[str]) -> set[str]:
    """cio_desktop modules imported when the module loads: not inside functions or TYPE_CHECKING."""
    found: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody, *(s for h in node.handlers for s in h.body)])
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(m for m in (node.module, *(f"{node.module}.{a.name}" for a in node.names)) if m in modules)
    return found


def _import_graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(paths)
    return {
        name: _module_level_imports(ast.parse(path.read_text(encoding="utf-8")), modules)
        for name, path in paths.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_no_hull_module_is_longer_than_600_lines() -> None:
    lengths = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in (ROOT / "hull").glob("*.py")}
    assert "files.py" in lengths
    assert {name: n for name, n in lengths.items() if n > MAX_LINES} == {}


def test_no_import_cycle_goes_through_a_hull_module() -> None:
    graph = _import_graph()
    assert "cio_desktop.hull.firehose" in graph["cio_desktop.hull.client"]  # module-level imports are seen
    through_hull = [sorted(c) for c in _cycles(graph) if any(m.startswith("cio_desktop.hull.") for m in c)]
    assert through_hull == []


def test_the_cycle_finder_sees_a_cycle_and_ignores_what_only_type_checking_imports() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import x\ndef f():\n    import y\nimport z"
    )
    assert _module_level_imports(tree, {"x", "y", "z"}) == {"z"}
