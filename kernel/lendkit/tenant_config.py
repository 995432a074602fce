"""Edits to ``lendkit.toml`` that keep the operator's comments and layout."""

from __future__ import annotations

from pathlib import Path

import tomlkit
from tomlkit.items import Array, Table

__all__ = ["set_plugin_enabled"]


def set_plugin_enabled(path: Path, name: str, enabled: bool) -> bool:
    """Add or remove ``name`` in ``[plugins] enabled``; return whether it changed."""
    document = (
        tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    )
    plugins = document.get("plugins")
    if not isinstance(plugins, Table):
        plugins = tomlkit.table()
        document["plugins"] = plugins
    current = plugins.get("enabled")
    if not isinstance(current, Array):
        current = tomlkit.array()
        plugins["enabled"] = current
    names = [str(item) for item in current]
    if (name in names) == enabled:
        return False
    if enabled:
        current.append(name)
    else:
        del current[names.index(name)]
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return True
