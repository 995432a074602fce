"""The plugin host: which plugins exist, which are enabled, and loading them.

Built-in features are registered as default plugins (like datasette), so the
kernel uses the same hooks partners do. Installed plugins come from entry
points in the group ``lendkit``; only those the tenant enables are imported,
the rest are blocked.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pluggy

from lendkit import PROJECT_NAME, hookspecs
from lendkit.errors import StartupError

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "REQUIRES_ATTRIBUTE",
    "STAND_IN_ATTRIBUTE",
    "InstalledPlugin",
    "check_can_disable",
    "check_requirements",
    "installed_plugins",
    "make_plugin_manager",
    "stand_in_warning",
    "stand_ins",
]

ENTRY_POINT_GROUP = PROJECT_NAME

# Kernel features that plug in through the same hooks as everyone else.
BUILTIN_PLUGINS = (
    "lendkit.builtin.core",
    "lendkit.auth.account_api",
    "lendkit.auth.borrowers_api",
    "lendkit.auth.staff_api",
    "lendkit.builtin.audit",
    "lendkit.builtin.backups",
    "lendkit.clearing.plugin",
    "lendkit.lifecycle.events",
    "lendkit.lifecycle.loans_api",
    "lendkit.lifecycle.borrowers_api",
    "lendkit.lifecycle.applications_api",
    "lendkit.lifecycle.products_api",
    "lendkit.lifecycle.contracts_api",
    "lendkit.lifecycle.collections_api",
    "lendkit.web.health",
    "lendkit.web.pages",
    "lendkit.web.branding",
    "lendkit.web.admin_plugins",
)

# Hooks the kernel no longer calls -> what to do instead: pluggy alone would only
# call an implementation of one an "unknown hook".
RETIRED_HOOKS = {
    "register_commands": 'declare each command as an entry point in the group "lendkit.commands" '
    "of the plugin's distribution (docs/plugins.md, Commands)",
}

# A plugin module may declare the plugins it needs enabled beside it:
# ``REQUIRES = ("marketing",)``, a literal read from the source, never imported.
REQUIRES_ATTRIBUTE = "REQUIRES"

# A plugin module that only pretends to be a vendor (no real check, no real
# money, no message sent) says so: ``STAND_IN = "what it stands in for"``, a
# literal string. While one is enabled every start logs a warning and every
# page shows a banner (see :func:`stand_ins`).
STAND_IN_ATTRIBUTE = "STAND_IN"


@dataclass(frozen=True, slots=True)
class InstalledPlugin:
    """A plugin distribution found on this machine (imported only if enabled)."""

    name: str
    distribution: str
    version: str
    entry_point: EntryPoint

    @property
    def package(self) -> str:
        return self.entry_point.module.split(".")[0]

    def migrations_dir(self) -> Path | None:
        """``<package>/migrations/versions`` if it ships one, found without importing it."""
        spec = importlib.util.find_spec(self.package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            versions = Path(location) / "migrations" / "versions"
            if versions.is_dir():
                return versions
        return None

    def requires(self) -> tuple[str, ...]:
        """Names of the plugins this one needs enabled (``REQUIRES`` in its module).

        Read from the module's source without importing it, so a blocked
        plugin stays unimported; a module without ``REQUIRES`` needs nothing.
        """
        value = _declared(self.entry_point.module, REQUIRES_ATTRIBUTE)
        if value is None:
            return ()
        if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
            raise StartupError(
                f"{self.entry_point.module}: {REQUIRES_ATTRIBUTE} must be a literal tuple of "
                'plugin names, e.g. REQUIRES = ("marketing",)'
            )
        return tuple(value)

    def stand_in(self) -> str | None:
        """What the plugin stands in for (``STAND_IN`` in its module), or None for a real one.

        Read from the source like :meth:`requires`, so it shows for plugins
        that are not enabled.
        """
        value = _declared(self.entry_point.module, STAND_IN_ATTRIBUTE)
        return None if value is None else _stand_in_text(self.entry_point.module, value)


def _module_source(module: str) -> Path | None:
    """The ``.py`` file of ``module``, found without importing it or its package."""
    top, _, rest = module.partition(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for location in spec.submodule_search_locations or []:
        base = Path(location, *rest.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


_NOT_A_LITERAL = object()


def _declared(module: str, attribute: str) -> object:
    """The literal assigned to ``attribute`` at the top of ``module``'s source, or None."""
    path = _module_source(module)
    if path is None:
        return None
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None  # importing it reports the problem, if it is ever enabled
    for node in tree.body:
        if isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names = [node.target.id]
        else:
            continue
        if attribute not in names or node.value is None:
            continue
        try:
            return ast.literal_eval(node.value)
        except ValueError:
            return _NOT_A_LITERAL  # each caller says what literal it expects
    return None


def _stand_in_text(module: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise StartupError(
            f"{module}: {STAND_IN_ATTRIBUTE} must be a literal string saying what the plugin "
            'stands in for, e.g. STAND_IN = "payments are made up, no money moves"'
        )
    return value.strip()


def stand_ins(pm: pluggy.PluginManager) -> dict[str, str]:
    """The enabled plugins that declare ``STAND_IN``: name -> what they stand in for."""
    found: dict[str, str] = {}
    for name in plugin_names(pm):
        value = getattr(pm.get_plugin(name), STAND_IN_ATTRIBUTE, None)
        if value is not None:
            found[name] = _stand_in_text(name, value)
    return found


def check_requirements(enabled: Iterable[str], installed: Mapping[str, InstalledPlugin]) -> None:
    """Refuse an enabled set in which a plugin needs one that is not enabled."""
    enabled = set(enabled)
    for name in sorted(enabled):
        plugin = installed.get(name)
        if plugin is None:
            continue  # unknown names are reported on their own
        for needed in plugin.requires():
            if needed in enabled:
                continue
            if needed in installed:
                hint = f"enable it first: `lendkit plugins enable {needed}`"
            else:
                hint = "it is not installed"
            raise StartupError(
                f"plugin {name!r} needs plugin {needed!r}, which is not enabled ({hint})"
            )


def check_can_disable(
    names: Iterable[str], enabled: Iterable[str], installed: Mapping[str, InstalledPlugin]
) -> None:
    """Refuse to disable ``names`` while another enabled plugin needs one of them."""
    leaving = set(names)
    staying = sorted(set(enabled) - leaving)
    for name in sorted(leaving):
        needed_by = [
            other for other in staying if other in installed and name in installed[other].requires()
        ]
        if needed_by:
            raise StartupError(
                f"cannot disable plugin {name!r}: enabled plugin(s) {', '.join(needed_by)} "
                "need it (disable them first)"
            )


def installed_plugins() -> dict[str, InstalledPlugin]:
    """All plugins installed in this environment, by name; refuses duplicates."""
    found: dict[str, InstalledPlugin] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        plugin = InstalledPlugin(
            name=ep.name,
            distribution=dist.name if dist else "?",
            version=dist.version if dist else "?",
            entry_point=ep,
        )
        claimed = found.get(ep.name)
        if claimed is not None and (
            claimed.distribution != plugin.distribution or claimed.entry_point.value != ep.value
        ):
            raise StartupError(
                f"plugin name {ep.name!r} is claimed twice: by {claimed.distribution} "
                f"({claimed.entry_point.value}) and by {plugin.distribution} ({ep.value}); "
                "uninstall one"
            )
        found[ep.name] = plugin
    return found


def make_plugin_manager(enabled: Iterable[str]) -> pluggy.PluginManager:
    """A plugin manager with the built-ins and exactly the ``enabled`` plugins.

    Raises :class:`StartupError` for an unknown name, a plugin that fails to
    import, a duplicate registration, or a hook implementation that matches
    no specification.
    """
    enabled = list(enabled)
    installed = installed_plugins()
    unknown = sorted(set(enabled) - installed.keys())
    if unknown:
        choices = ", ".join(sorted(installed)) or "none"
        raise StartupError(f"plugins.enabled: unknown plugin {unknown[0]!r} (installed: {choices})")
    check_requirements(enabled, installed)
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    for module_name in BUILTIN_PLUGINS:
        _register(pm, importlib.import_module(module_name), module_name)
    for name, plugin in sorted(installed.items()):
        if name not in enabled:
            pm.set_blocked(name)
            continue
        try:
            loaded = plugin.entry_point.load()
        except Exception as exc:
            raise StartupError(f"plugin {name!r} failed to import: {exc}") from exc
        _register(pm, loaded, name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) or "?"
        raise StartupError(f"plugin {name!r}: {_one_line(str(exc))}{_retired(str(exc))}") from None
    return pm


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        pm.register(plugin, name=name)
    except ValueError as exc:
        # pluggy appends a dump of every registered plugin on further lines.
        reason = str(exc).splitlines()[0]
        raise StartupError(f"cannot register plugin {name!r}: {reason}") from None
    except pluggy.PluginValidationError as exc:
        raise StartupError(f"plugin {name!r}: {_one_line(str(exc))}") from None


def _retired(message: str) -> str:
    """What to do instead, when pluggy's message names a retired hook."""
    for hook, instead in RETIRED_HOOKS.items():
        if f"unknown hook {hook!r}" in message:
            return f" ({hook} is retired: {instead})"
    return ""


def _one_line(message: str) -> str:
    """pluggy's multi-line messages as one line: the CLI prints start-up errors as one."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def stand_in_warning(found: Mapping[str, str]) -> str:
    """The one bilingual line the log and every page show while stand-ins are enabled."""
    listed = "; ".join(f"{name} ({what})" for name, what in sorted(found.items()))
    return (
        "演示替身插件已启用，非真实核验/资金 / "
        f"Stand-in plugins enabled: {listed} — not for production"
    )


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the registered, non-built-in plugins."""
    return sorted(
        name
        for name, _ in pm.list_name_plugin()
        if name not in BUILTIN_PLUGINS and not pm.is_blocked(name)
    )
