"""Built-in plugin: switch plugins on and off over the admin API.

``POST /api/admin/plugins/{name}/enable`` and ``.../disable`` do what
``lendkit plugins enable|disable`` do: check the declared dependencies
(``REQUIRES``), apply the plugin's migrations, update ``lendkit.toml`` and
record an audit row. Like the command, they take effect when the server
restarts: routes are mounted and plugins loaded once, at start-up.
``GET /api/admin/plugins`` lists the installed plugins, what ``lendkit.toml``
enables and what this process has loaded, so a pending restart shows.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

import lendkit
from lendkit import audit, migrate
from lendkit.auth.principal import current
from lendkit.errors import ConflictError, NotFoundError, StartupError
from lendkit.plugins import (
    check_can_disable,
    check_requirements,
    installed_plugins,
    plugin_names,
)
from lendkit.runtime import Runtime
from lendkit.settings import config_path, load_settings
from lendkit.tenant_config import set_plugin_enabled

__all__ = ["PERMISSION"]

PERMISSION = {"permission": "plugins.manage"}
RESTART = "restart the server to load or unload its hooks and routes"


def _enabled_in_file() -> list[str]:
    """``[plugins] enabled`` as the settings file says now (not as this process loaded it)."""
    return list(load_settings().plugins.enabled)


def _answer(name: str, enabled: bool, changed: bool) -> dict[str, Any]:
    return {"plugin": name, "enabled": enabled, "changed": changed, "restart_required": True}


@get("/api/admin/plugins", opt=PERMISSION, sync_to_thread=True)
def list_plugins(runtime: NamedDependency[Runtime]) -> list[dict[str, Any]]:
    """Installed plugins: version, needs, stand-in or not, enabled in lendkit.toml, loaded."""
    enabled = set(_enabled_in_file())
    loaded = set(plugin_names(runtime.pm))
    return [
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


@post("/api/admin/plugins/{name:str}/enable", opt=PERMISSION, sync_to_thread=True, status_code=200)
def enable_plugin(
    name: FromPath[str],
    request: Request[Any, Any, Any],
    runtime: NamedDependency[Runtime],
    db_session: NamedDependency[Session],
) -> dict[str, Any]:
    """Enable a plugin: its migrations, then ``lendkit.toml``; audited; needs a restart."""
    installed = installed_plugins()
    if name not in installed:
        raise NotFoundError(f"no installed plugin {name!r}", code="unknown_plugin")
    enabled = _enabled_in_file()
    try:
        check_requirements([*enabled, name], installed)
    except StartupError as exc:
        raise ConflictError(exc.detail, code="plugin_requirements") from None
    # Tables first (alembic's own transaction, before this request's opens):
    # a failed migration leaves the settings untouched.
    migrate.upgrade(runtime.engine, [*enabled, name])
    changed = set_plugin_enabled(config_path(), name, enabled=True)
    audit.record(
        db_session, current(request).actor, "plugins.enable", f"plugin:{name}", changed=changed
    )
    return _answer(name, True, changed)


@post("/api/admin/plugins/{name:str}/disable", opt=PERMISSION, sync_to_thread=True, status_code=200)
def disable_plugin(
    name: FromPath[str],
    request: Request[Any, Any, Any],
    db_session: NamedDependency[Session],
) -> dict[str, Any]:
    """Disable a plugin in ``lendkit.toml`` (its data stays); audited; needs a restart."""
    installed = installed_plugins()
    enabled = _enabled_in_file()
    if name not in installed and name not in enabled:
        raise NotFoundError(f"no installed plugin {name!r}", code="unknown_plugin")
    try:
        check_can_disable([name], enabled, installed)
    except StartupError as exc:
        raise ConflictError(exc.detail, code="plugin_required") from None
    changed = set_plugin_enabled(config_path(), name, enabled=False)
    audit.record(
        db_session, current(request).actor, "plugins.disable", f"plugin:{name}", changed=changed
    )
    return _answer(name, False, changed)


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return [list_plugins, enable_plugin, disable_plugin]
