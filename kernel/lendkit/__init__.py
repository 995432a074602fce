"""lendkit: the kernel of a plugin-based lending product kit.

Plugin authors import only what this module exports (and the types in
:mod:`lendkit.types`); everything else is kernel-internal and may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["PROJECT_NAME", "__version__", "hookimpl"]

PROJECT_NAME = "lendkit"

# The kit's version: the one place it is kept (pyproject.toml reads it from
# here; a release is the git tag v<version>, made by `make release`).
__version__ = "0.1.0"

if TYPE_CHECKING:
    import pluggy

    hookimpl: pluggy.HookimplMarker
    """Marker for hook implementations: ``@lendkit.hookimpl``."""


def __getattr__(name: str) -> object:
    # ``hookimpl`` is made on first use, so that what imports only the
    # version or the errors (the `lendkit` command, to start) never imports pluggy.
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker(PROJECT_NAME)
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
