"""Payment channels: the registry of what plugins provide, and the callback route.

Channels come from the ``register_channels`` hook, gathered once per plugin
manager. Gateways post asynchronous results to
``POST /api/channels/{name}/callback``; the channel plugin verifies the
gateway's signature and parses the body (``parse_callback``), and the kernel
applies the result to the order under its state machine
(:func:`lendkit.clearing.payments.apply_result`).
"""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, RawBody
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

from lendkit.errors import LendkitError, NotFoundError, StartupError
from lendkit.masking import mask_text
from lendkit.runtime import Runtime
from lendkit.settings import Settings
from lendkit.types import ChannelError, PaymentChannel
from lendkit.web.schema import VENDOR_CALLBACK, described

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

log = logging.getLogger(__name__)

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


@post(
    "/api/channels/{name:str}/callback",
    # Public on purpose: gateways hold no lendkit credentials. Every callback
    # is authenticated by the gateway's own signature, which the channel
    # plugin verifies in parse_callback before anything is read or written
    # (401 callback_rejected otherwise); and a verified callback can only
    # move an order along its state machine, never post twice.
    opt={"permission": "public"},
    sync_to_thread=True,
    operation_class=described(VENDOR_CALLBACK, media_type="application/octet-stream"),
    status_code=200,
)
def channel_callback(
    name: FromPath[str],
    request: Request[Any, Any, Any],
    body: RawBody,
    runtime: NamedDependency[Runtime],
    db_session: NamedDependency[Session],
) -> dict[str, str]:
    """Apply a gateway's asynchronous result; answers 200 for new and repeated results."""
    from lendkit.clearing import payments

    channel = channel_of(runtime, name)
    headers = {key.lower(): value for key, value in request.headers.items()}
    try:
        result = channel.parse_callback(headers, body)
    except ChannelError as exc:
        log.warning(
            "channel callback refused",
            extra={"channel": name, "code": exc.code, "error": mask_text(exc.message)[:200]},
        )
        if exc.code == "bad_signature":
            raise CallbackRejected(mask_text(exc.message)) from None
        raise CallbackMalformed(mask_text(exc.message)) from None
    timeout = timedelta(minutes=runtime.settings.payments.in_transit_timeout_minutes)
    outcome = payments.apply_result(db_session, name, result, source="callback", timeout=timeout)
    order = payments.order_by_no(db_session, result.order_no)
    log.info(
        "channel callback",
        extra={"channel": name, "order_no": result.order_no, "outcome": outcome},
    )
    return {"code": "OK", "order_no": order.order_no, "status": order.status, "outcome": outcome}


ROUTES: list[ControllerRouterHandler] = [channel_callback]
