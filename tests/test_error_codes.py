"""One error code, one HTTP status: everywhere the kit names a code, it means one status.

The test gathers every code→status pair the kernel and the plugins can answer
with: each :class:`~lendkit.errors.LendkitError` subclass, every raise site that
refines a class's code (``ValidationFailed(..., code="amount_invalid")``), the
framework's own problems and literal ``problem(status, code, ...)`` calls.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections import defaultdict
from pathlib import Path

import lendkit
from lendkit.errors import LendkitError
from lendkit.web.problems import HTTP_PROBLEMS, INTERNAL

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "kernel" / "lendkit", *sorted((ROOT / "plugins").glob("*/src"))]


def _import_everything() -> None:
    for module in pkgutil.walk_packages(lendkit.__path__, "lendkit."):
        if ".migrations." in module.name or module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)


def _subclasses(cls: type[LendkitError]) -> list[type[LendkitError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _classes() -> dict[str, type[LendkitError]]:
    _import_everything()
    return {cls.__name__: cls for cls in [LendkitError, *_subclasses(LendkitError)]}


def _called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _literal(node: ast.expr | None) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def code_statuses() -> dict[str, set[tuple[int, str]]]:
    """code -> {(status, where it is said)}."""
    classes = _classes()
    seen: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for cls in classes.values():
        seen[cls.code].add((cls.status, f"{cls.__module__}.{cls.__qualname__}"))
    for status, (code, _, _) in HTTP_PROBLEMS.items():
        seen[code].add((status, "lendkit.web.problems.HTTP_PROBLEMS"))
    seen[INTERNAL[0]].add((500, "lendkit.web.problems.INTERNAL"))
    for source in SOURCES:
        for path in source.rglob("*.py"):
            where = str(path.relative_to(ROOT))
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                name = _called_name(node)
                if name in classes:
                    code = next((_literal(k.value) for k in node.keywords if k.arg == "code"), None)
                    if isinstance(code, str):
                        seen[code].add((classes[name].status, f"{where}:{node.lineno}"))
                elif name == "problem" and len(node.args) >= 2:
                    status, code = _literal(node.args[0]), _literal(node.args[1])
                    if isinstance(status, int) and isinstance(code, str):
                        seen[code].add((status, f"{where}:{node.lineno}"))
    return seen


def test_the_collector_finds_codes_of_every_kind():
    seen = code_statuses()
    statuses = {code: {status for status, _ in places} for code, places in seen.items()}
    assert statuses["validation_failed"] == {422}  # the class and the framework's typed bodies
    assert statuses["unauthenticated"] == {401}
    assert statuses["not_found"] == {404}
    assert len(seen) > 50  # raise sites that refine a class's code are read too


def test_each_code_has_one_status():
    clashes = {
        code: sorted(places)
        for code, places in code_statuses().items()
        if len({status for status, _ in places}) > 1
    }
    assert clashes == {}
