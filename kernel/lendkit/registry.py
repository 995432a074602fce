"""What the enabled plugins registered, gathered from the registration hooks.

Each function flattens one hook's results and refuses clashes with a clear
start-up error, so callers never see two products with one code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pluggy

from lendkit.errors import StartupError
from lendkit.types import ComplianceItem, Job, ProductSpec

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from lendkit.auth.permissions import Matrix

__all__ = ["compliance_items", "jobs", "products", "routes", "template_dirs"]

T = TypeVar("T")


def _flat(results: Iterable[Iterable[T] | None]) -> list[T]:
    # pluggy returns the last-registered plugin first; restore registration order.
    return list(chain.from_iterable(r for r in reversed(list(results)) if r))


def routes(pm: pluggy.PluginManager) -> list[ControllerRouterHandler]:
    return _flat(pm.hook.register_routes())


def template_dirs(pm: pluggy.PluginManager) -> list[Path]:
    return _flat(pm.hook.register_templates())


def permissions(pm: pluggy.PluginManager) -> Matrix:
    """The permission matrix the guard enforces: the kernel's and the plugins'."""
    from lendkit.auth.permissions import build_matrix

    return build_matrix(_flat(pm.hook.register_permissions()))


def products(pm: pluggy.PluginManager) -> list[ProductSpec]:
    found = _flat(pm.hook.register_products())
    return _unique(found, lambda p: p.code, "product code")


def compliance_items(pm: pluggy.PluginManager) -> list[ComplianceItem]:
    return _flat(pm.hook.compliance_items())


def jobs(pm: pluggy.PluginManager) -> list[Job]:
    return _unique(_flat(pm.hook.register_jobs()), lambda j: j.name, "job name")


def _unique(items: list[T], key: Callable[[T], str], what: str) -> list[T]:
    seen: set[str] = set()
    for item in items:
        if key(item) in seen:
            raise StartupError(f"two plugins register the {what} {key(item)!r}")
        seen.add(key(item))
    return items
