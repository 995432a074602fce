"""The channel callback route: gateways post their asynchronous results here.

``POST /api/channels/{name}/callback``: the channel plugin verifies the
gateway's signature and parses the body (``parse_callback``), and the kernel
applies the result to the order under its state machine
(:func:`lendkit.clearing.payment_orders.apply_result`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, RawBody
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

from lendkit.clearing.channels import CallbackMalformed, CallbackRejected, channel_of
from lendkit.clearing.payment_orders import apply_result, order_by_no
from lendkit.masking import mask_text
from lendkit.runtime import Runtime
from lendkit.types import ChannelError
from lendkit.web.schema import VENDOR_CALLBACK, described

__all__ = ["ROUTES", "channel_callback"]

log = logging.getLogger(__name__)


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
    outcome = apply_result(db_session, name, result, source="callback", timeout=timeout)
    order = order_by_no(db_session, result.order_no)
    log.info(
        "channel callback",
        extra={"channel": name, "order_no": result.order_no, "outcome": outcome},
    )
    return {"code": "OK", "order_no": order.order_no, "status": order.status, "outcome": outcome}


ROUTES: list[ControllerRouterHandler] = [channel_callback]
