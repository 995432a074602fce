"""lendkit: the kernel of a plugin-based lending product kit.

Plugin authors import only what this module exports (and the types in
:mod:`lendkit.types`); everything else is kernel-internal and may change.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

__all__ = ["PROJECT_NAME", "__version__", "hookimpl"]

PROJECT_NAME = "lendkit"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@lendkit.hookimpl``."""

try:
    __version__ = version(PROJECT_NAME)
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0+unknown"
