"""Where the tenant's ``lendkit.toml`` is, and which plugins it enables, read cheaply.

The CLI decides which commands exist before any command runs: it needs the
enabled plugins' names, not validated settings. So this reads
``[plugins] enabled`` (and ``$LENDKIT_PLUGINS__ENABLED``, which wins, as in
:mod:`lendkit.settings`) with :mod:`tomllib` alone, without pydantic, and
never raises: a file or variable that does not parse counts as no plugins,
and the command that loads the settings reports the problem in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CONFIG_ENV", "ENABLED_ENV", "config_path", "enabled_plugins"]

CONFIG_ENV = "LENDKIT_CONFIG"
# pydantic-settings' name for plugins.enabled (prefix LENDKIT_, nested keys with __).
ENABLED_ENV = "LENDKIT_PLUGINS__ENABLED"


def config_path(path: Path | None = None) -> Path:
    """The settings file in use: explicit, ``$LENDKIT_CONFIG``, or ``./lendkit.toml``."""
    if path is not None:
        return path.resolve()
    return Path(os.environ.get(CONFIG_ENV, "lendkit.toml")).resolve()


def enabled_plugins(path: Path | None = None) -> list[str]:
    """The names in ``[plugins] enabled``; empty when absent or unreadable."""
    # Imported here: `lendkit --version` never reads the file.
    import tomllib

    variable = os.environ.get(ENABLED_ENV)
    if variable is not None:
        import json

        try:
            value: object = json.loads(variable)
        except ValueError:
            return []
        return _names(value)
    try:
        data = tomllib.loads(config_path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []
    plugins = data.get("plugins")
    return _names(plugins.get("enabled") if isinstance(plugins, dict) else None)


def _names(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [name for name in value if isinstance(name, str)]
