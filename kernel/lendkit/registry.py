"""What the enabled plugins registered, gathered from the registration hooks.

Each function flattens one hook's results and refuses clashes with a clear
start-up error, so callers never see two products with one code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import pluggy

from lendkit.clearing.accounts import AccountKind, AccountType
from lendkit.errors import StartupError
from lendkit.types import AccountSpec, ComplianceItem, Job, Page, ProductSpec

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from lendkit.auth.permissions import Matrix

__all__ = [
    "account_kinds",
    "compliance_items",
    "jobs",
    "pages",
    "products",
    "routes",
    "template_dirs",
]

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
    found = _unique(_flat(pm.hook.register_jobs()), lambda j: j.name, "job name")
    for job in found:
        if job.every <= timedelta(0):
            raise StartupError(
                f"job {job.name!r} must run every positive interval, not {job.every}"
            )
    return found


def _by_plugin(pm: pluggy.PluginManager, hook: str) -> list[tuple[str, object]]:
    """(plugin name, item) for every item a registration hook returns, in registration order."""
    found: list[tuple[str, object]] = []
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        found += [(impl.plugin_name, item) for item in impl.function() or ()]
    return found


_ACCOUNT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ACCOUNT_TYPES = frozenset(t.value for t in AccountType)
MAX_KIND_CODE = 55  # room for ":" and a 40-character qualifier in 96


def account_kinds(pm: pluggy.PluginManager) -> list[AccountKind]:
    """The plugins' ledger accounts (``register_accounts``) as the chart keeps them:
    ``<plugin>.<name>``; malformed or repeated declarations stop start-up."""
    kinds: list[AccountKind] = []
    for plugin, spec in _by_plugin(pm, "register_accounts"):
        if not isinstance(spec, AccountSpec):
            raise StartupError(f"plugin {plugin!r}: register_accounts must return AccountSpec")
        code = f"{plugin}.{spec.name}"
        if not _ACCOUNT_NAME.fullmatch(spec.name) or len(code) > MAX_KIND_CODE:
            raise StartupError(
                f"plugin {plugin!r}: account name {spec.name!r} must be 1 to 40 lower-case "
                f"letters, digits or _ (and {plugin}.<name> at most {MAX_KIND_CODE} characters)"
            )
        if spec.type not in _ACCOUNT_TYPES:
            raise StartupError(
                f"plugin {plugin!r}: account {spec.name!r} has type {spec.type!r}; one of "
                + ", ".join(sorted(_ACCOUNT_TYPES))
            )
        kinds.append(
            AccountKind(
                code,
                spec.name_zh,
                spec.name_en,
                AccountType(spec.type),
                per=spec.per or None,
                no_overdraft=spec.no_overdraft,
                normal_debit=None if spec.normal is None else spec.normal == "debit",
            )
        )
    return _unique(kinds, lambda k: k.code, "ledger account")


def pages(pm: pluggy.PluginManager) -> list[tuple[str, Page]]:
    """(plugin name, page) for every page the plugins register (``register_pages``)."""
    found: list[tuple[str, Page]] = []
    for plugin, page in _by_plugin(pm, "register_pages"):
        if not isinstance(page, Page):
            raise StartupError(f"plugin {plugin!r}: register_pages must return Page values")
        found.append((plugin, page))
    return found


def _unique(items: list[T], key: Callable[[T], str], what: str) -> list[T]:
    seen: set[str] = set()
    for item in items:
        if key(item) in seen:
            raise StartupError(f"two plugins register the {what} {key(item)!r}")
        seen.add(key(item))
    return items
