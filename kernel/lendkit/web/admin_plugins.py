"""Built-in plugin: the tenant's plugins as the admin API sees them.

``GET /api/admin/plugins`` lists the installed plugins, what ``lendkit.toml``
enables and what this process has loaded, so a pending restart shows.

``POST /api/admin/plugins/{name}/enable`` and ``.../disable`` are refused
(409 ``plugins_managed_in_settings``), saying to edit ``[plugins] enabled``
in ``lendkit.toml`` or run ``lendkit plugins enable|disable NAME``. Why: a
plugin's routes, hooks and jobs are wired once, when a process starts, and a
tenant runs several app processes and workers, often on several machines
with a ``lendkit.toml`` each. A switch in one process's file would reach
that process only; a flag in the database would need every process to
notice and reload its plugins. The settings file plus a restart of every
process is the one way that changes them all.
"""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler

import lendkit
from lendkit.errors import ConflictError
from lendkit.plugins import installed_plugins, plugin_names
from lendkit.runtime import Runtime
from lendkit.settings import load_settings
from lendkit.web import paging

__all__ = ["PERMISSION"]

PERMISSION = {"permission": "plugins.manage"}


def _enabled_in_file() -> list[str]:
    """``[plugins] enabled`` as the settings file says now (not as this process loaded it)."""
    return list(load_settings().plugins.enabled)


@get("/api/admin/plugins", opt=PERMISSION, sync_to_thread=True)
def list_plugins(
    runtime: NamedDependency[Runtime], window: NamedDependency[paging.Window]
) -> dict[str, Any]:
    """Installed plugins, a page of them: version, needs, stand-in or not, enabled, loaded."""
    enabled = set(_enabled_in_file())
    loaded = set(plugin_names(runtime.pm))
    listed = [
        {
            "plugin": name,
            "distribution": plugin.distribution,
            "version": plugin.version,
            "requires": list(plugin.requires()),
            "stand_in": plugin.stand_in(),
            "enabled": name in enabled,
            "loaded": name in loaded,
            "restart_required": (name in enabled) != (name in loaded),
        }
        for name, plugin in sorted(installed_plugins().items())
    ]
    return paging.page_of_list(window, listed)


def _managed_in_settings(name: str, action: str) -> ConflictError:
    # The path is the caller's: name it back only if it is a plugin we know.
    name = name if name in installed_plugins() else "NAME"
    return ConflictError(
        f"插件在设置文件中管理：请编辑 lendkit.toml 的 [plugins] enabled（或运行 "
        f"`lendkit plugins {action} {name}`），然后重启该租户的每个应用进程和 worker / "
        f"plugins are managed in the settings file: edit [plugins] enabled in lendkit.toml "
        f"(or run `lendkit plugins {action} {name}`), then restart every app process and "
        "worker of the tenant",
        code="plugins_managed_in_settings",
    )


@post("/api/admin/plugins/{name:str}/enable", opt=PERMISSION, sync_to_thread=True, status_code=200)
def enable_plugin(name: FromPath[str]) -> None:
    """Refused (409 ``plugins_managed_in_settings``): enable a plugin in ``lendkit.toml``."""
    raise _managed_in_settings(name, "enable")


@post("/api/admin/plugins/{name:str}/disable", opt=PERMISSION, sync_to_thread=True, status_code=200)
def disable_plugin(name: FromPath[str]) -> None:
    """Refused (409 ``plugins_managed_in_settings``): disable a plugin in ``lendkit.toml``."""
    raise _managed_in_settings(name, "disable")


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return [list_plugins, enable_plugin, disable_plugin]
