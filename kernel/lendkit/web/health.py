"""Built-in plugin: liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.types import ControllerRouterHandler

import lendkit
from lendkit import migrate
from lendkit.errors import StartupError
from lendkit.plugins import plugin_names
from lendkit.runtime import Runtime
from lendkit.web.problems import problem

PUBLIC = {"permission": "public"}


@get("/healthz", opt=PUBLIC, sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process is alive (no dependencies checked)."""
    return {"status": "ok", "version": lendkit.__version__}


@get("/readyz", opt=PUBLIC, sync_to_thread=True)
def readyz(runtime: NamedDependency[Runtime]) -> Response[dict[str, Any]]:
    """The database answers, migrations are current, enabled plugins are loaded.

    ``stand_ins`` lists the enabled plugins that only pretend to be vendors.
    """
    checks: dict[str, Any] = {}
    try:
        runtime.check_database()
        checks["database"] = "ok"
        enabled = runtime.settings.plugins.enabled
        behind = [
            s.branch
            for s in migrate.status(runtime.engine, enabled)
            if s.enabled and not s.up_to_date
        ]
        checks["migrations"] = "ok" if not behind else f"pending for {', '.join(behind)}"
    except StartupError as exc:
        checks.setdefault("database", exc.detail)
        checks.setdefault("migrations", "unknown")
    missing = sorted(set(runtime.settings.plugins.enabled) - set(plugin_names(runtime.pm)))
    checks["plugins"] = "ok" if not missing else f"not loaded: {', '.join(missing)}"
    if all(value == "ok" for value in checks.values()):
        return Response({"status": "ready", "checks": checks, "stand_ins": dict(runtime.stand_ins)})
    return problem(
        503,
        "not_ready",
        "Not ready",
        "; ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok"),
        checks=checks,
        stand_ins=dict(runtime.stand_ins),
    )


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return [healthz, readyz]
