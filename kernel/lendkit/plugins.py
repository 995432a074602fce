"""The plugin host: which plugins exist, which are enabled, and loading them.

Built-in features are registered as default plugins (like datasette), so the
kernel uses the same hooks partners do. Installed plugins come from entry
points in the group ``lendkit``; only those the tenant enables are imported,
the rest are blocked.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pluggy

from lendkit import PROJECT_NAME, hookspecs
from lendkit.errors import StartupError

__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "InstalledPlugin",
    "installed_plugins",
    "make_plugin_manager",
]

ENTRY_POINT_GROUP = PROJECT_NAME

# Kernel features that plug in through the same hooks as everyone else.
BUILTIN_PLUGINS = (
    "lendkit.builtin.core",
    "lendkit.builtin.audit",
    "lendkit.builtin.backups",
    "lendkit.crypto.commands",
    "lendkit.web.health",
    "lendkit.web.pages",
)


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
        raise StartupError(f"plugin {name!r}: {_one_line(str(exc))}") from None
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


def _one_line(message: str) -> str:
    """pluggy's multi-line messages as one line: the CLI prints start-up errors as one."""
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the registered, non-built-in plugins."""
    return sorted(
        name
        for name, _ in pm.list_name_plugin()
        if name not in BUILTIN_PLUGINS and not pm.is_blocked(name)
    )
