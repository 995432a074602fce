"""The payment channel the demo's money moves through: whichever one is enabled.

The demo names no channel: its settings enable one stand-in channel plugin,
and the simulated book, the planted statement and the sign-in loans all use
the channel that plugin registers.
"""

from __future__ import annotations

from lendkit.clearing.channels import channel_names
from lendkit.runtime import Runtime

__all__ = ["demo_channel"]


def demo_channel(runtime: Runtime) -> str:
    """The tenant's only payment channel (the demo enables exactly one)."""
    names = channel_names(runtime)
    if len(names) != 1:
        raise RuntimeError(f"the demo needs exactly one payment channel, found {names or 'none'}")
    return names[0]
