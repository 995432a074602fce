"""No import cycle in the kernel, function-level imports included.

A cycle hidden inside a function still ties two modules together: neither
can be read, tested or moved without the other. Imports under
``if TYPE_CHECKING:`` are left out, since they never run and only name types.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lendkit

ROOT = Path(lendkit.__file__).parent


def _name(path: Path) -> str:
    parts = ["lendkit", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return getattr(test, "id", getattr(test, "attr", None)) == "TYPE_CHECKING"


def _imported(tree: ast.Module, module: str, package: bool) -> set[str]:
    """Every module named by an import anywhere in ``tree`` (and the submodules it names)."""
    found: set[str] = set()
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if _type_checking(child):
                pending.extend(child.orelse)  # type: ignore[attr-defined]
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = module.split(".") if package else module.split(".")[:-1]
                if child.level:
                    base = base[: len(base) - child.level + 1]
                    source = ".".join([*base, *filter(None, [child.module])])
                else:
                    source = child.module or ""
                found.add(source)
                found.update(f"{source}.{alias.name}" for alias in child.names)
            pending.append(child)
    return found


def import_graph() -> dict[str, set[str]]:
    """Kernel module → the kernel modules it imports (migrations aside: Alembic runs them)."""
    files = {_name(path): path for path in ROOT.rglob("*.py") if "migrations" not in path.parts}
    return {
        name: (
            _imported(ast.parse(path.read_text()), name, path.name == "__init__.py") & set(files)
        )
        - {name}
        for name, path in files.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_the_kernel_has_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_a_cycle_through_a_function_level_import_is_found() -> None:
    tree = ast.parse("def f():\n    from lendkit import b\n")
    assert "lendkit.b" in _imported(tree, "lendkit.a", package=False)
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_type_only_imports_are_not_edges() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lendkit.b\n")
    assert "lendkit.b" not in _imported(tree, "lendkit.a", package=False)
