"""No import cycle inside ima2_lib (issue 17): every ``import`` the interpreter can execute
counts — at module level and inside functions alike; only imports under
``if TYPE_CHECKING:`` are left out (they never run). Relative and absolute imports of
``ima2_lib`` modules are both followed; ``from . import x`` counts as an import of ``x`` when
``x`` is a module, else of the package."""
from __future__ import annotations

import ast
import os
from typing import Dict, List, Set

from helpers import ROOT

PACKAGE = "ima2_lib"


def _modules() -> Dict[str, str]:
    found = {}
    base = os.path.join(ROOT, PACKAGE)
    for folder, _dirs, files in os.walk(base):
        for name in files:
            if not name.endswith(".py"):
                continue
            rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].replace(os.sep, ".")
            found[rel[:-9] if rel.endswith(".__init__") else rel] = os.path.join(folder, name)
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str, path: str, known: Set[str]) -> Set[str]:
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    edges: Set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    edges.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - (node.level - 1)])
                target = base + ("." + node.module if node.module else "")
            else:
                target = node.module or ""
            for alias in node.names:
                if target + "." + alias.name in known:
                    edges.add(target + "." + alias.name)
                elif target in known:
                    edges.add(target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    edges.discard(module)
    return edges


def _graph() -> Dict[str, Set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: _imports(name, path, known) for name, path in modules.items()}


def _cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    out: List[List[str]] = []

    def strong(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                strong(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            strong(node)
    return out


def _package_parents(graph: Dict[str, Set[str]]) -> Dict[str, Set[str]]:
    """A submodule import runs its package's ``__init__`` first, which is not a cycle of
    the code: drop the edge from a package to its own submodules' parent chain."""
    cleaned = {}
    for name, edges in graph.items():
        cleaned[name] = {e for e in edges if not name.startswith(e + ".")}
    return cleaned


def test_the_checker_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_ima2_lib():
    graph = _package_parents(_graph())
    assert "ima2_lib.cli_commands" in graph and graph["ima2_lib.app"]  # the walk found imports
    assert _cycles(graph) == []
