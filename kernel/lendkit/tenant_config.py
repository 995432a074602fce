"""Edits to ``lendkit.toml`` that keep the operator's comments and layout."""

from __future__ import annotations

from pathlib import Path

import tomlkit
from tomlkit.items import AbstractTable, Array

__all__ = ["set_plugin_enabled"]


def set_plugin_enabled(path: Path, name: str, enabled: bool) -> bool:
    """Add or remove ``name`` in ``[plugins] enabled``; return whether it changed."""
    document = (
        tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
    )
    plugins = document.get("plugins")
    # A [plugins] table, a dotted key or an inline table: all keep their other entries.
    if not isinstance(plugins, AbstractTable):
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
        for index in reversed(range(len(names))):  # every occurrence, or it stays enabled
            if names[index] == name:
                del current[index]
    path.write_text(tomlkit.dumps(document), encoding="utf-8")
    return True
