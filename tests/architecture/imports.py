"""The import graph of the runtime's packages, read from the source (no imports are run).

    graph = import_graph(ROOT, ("edge", "firmware_bridge", "devices"))
    module_cycles(graph)          # [] when no module imports itself through others

Imports under `if TYPE_CHECKING:` are left out (they never run). An import of a package counts
as an import of its `__init__` module. `make lint` and tests/architecture/test_layers.py use it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path


def module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of `packages` under `root`."""
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _runtime_imports(tree: ast.Module) -> Iterable[ast.Import | ast.ImportFrom]:
    """Import statements that can run: all of them except those under `if TYPE_CHECKING:`."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            parts = module.split(".") if is_package else module.split(".")[:-1]
            parts = parts[: len(parts) - (node.level - 1)]
            base = ".".join([*parts, *([node.module] if node.module else [])])
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    targets = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name and name != module:
            targets.add(name)
    return targets


def import_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the modules of `packages` it imports (at any depth of its code)."""
    files = module_files(root, packages)
    known = set(files)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in _runtime_imports(tree):
            graph[name] |= _targets(name, path.name == "__init__.py", node, known)
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return seen


def module_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import one another (through any path), each sorted; [] when acyclic."""
    reach = {node: reachable(graph, node) for node in graph}
    groups: dict[frozenset[str], None] = {}
    for node in graph:
        if node in reach[node]:
            groups[frozenset(other for other in reach[node] if node in reach[other])] = None
    return sorted(sorted(group) for group in groups)


def package_graph(graph: dict[str, set[str]], depth: int = 1) -> dict[str, set[str]]:
    """The module graph folded to packages `depth` levels deep ('edge', 'firmware_bridge' at 1)."""
    folded: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = ".".join(module.split(".")[:depth])
        folded.setdefault(source, set())
        for target in targets:
            destination = ".".join(target.split(".")[:depth])
            if destination != source:
                folded[source].add(destination)
    return folded
