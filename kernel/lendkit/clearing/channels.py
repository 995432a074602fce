"""Payment channels: the registry of what plugins provide.

Channels come from the ``register_channels`` hook, gathered once per plugin
manager. Their callback route is :mod:`lendkit.clearing.channels_api`.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

from lendkit.errors import LendkitError, NotFoundError, StartupError
from lendkit.runtime import Runtime
from lendkit.settings import Settings
from lendkit.types import PaymentChannel

if TYPE_CHECKING:
    import pluggy

__all__ = [
    "CallbackMalformed",
    "CallbackRejected",
    "callback_url",
    "channel_names",
    "channel_of",
    "channels",
]

_registry: weakref.WeakKeyDictionary[pluggy.PluginManager, dict[str, PaymentChannel]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


class CallbackRejected(LendkitError):
    status = 401
    code = "callback_rejected"
    title = "Callback signature rejected"


class CallbackMalformed(LendkitError):
    status = 400
    code = "callback_malformed"
    title = "Callback not understood"


def channels(runtime: Runtime) -> dict[str, PaymentChannel]:
    """Every channel the enabled plugins register, by name (gathered once)."""
    with _lock:
        found = _registry.get(runtime.pm)
        if found is None:
            found = {}
            results = runtime.pm.hook.register_channels(settings=runtime.settings)
            for result in reversed(results):  # registration order
                for channel in result or []:
                    if channel.name in found:
                        raise StartupError(
                            f"two plugins register the payment channel {channel.name!r}"
                        )
                    found[channel.name] = channel
            _registry[runtime.pm] = found
        return found


def channel_names(runtime: Runtime) -> list[str]:
    return sorted(channels(runtime))


def channel_of(runtime: Runtime, name: str) -> PaymentChannel:
    try:
        return channels(runtime)[name]
    except KeyError:
        raise NotFoundError(f"no payment channel {name!r}", code="unknown_channel") from None


def callback_url(settings: Settings, name: str) -> str:
    """Where the gateway of channel ``name`` posts its results."""
    return f"{settings.payments.callback_base_url.rstrip('/')}/api/channels/{name}/callback"
