"""lendkit: the kernel of a plugin-based lending product kit.

Plugin authors import only what this module exports (and the types in
:mod:`lendkit.types`); everything else is kernel-internal and may change.
"""

from __future__ import annotations

import pluggy

__all__ = ["PROJECT_NAME", "__version__", "hookimpl"]

PROJECT_NAME = "lendkit"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@lendkit.hookimpl``."""

# The kit's version: the one place it is kept (pyproject.toml reads it from
# here; a release is the git tag v<version>, made by `make release`).
__version__ = "0.1.0"
