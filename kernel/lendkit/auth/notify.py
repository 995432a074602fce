"""Sending messages to people through the ``send_notification`` hook, and the sandbox.

The kernel never talks to an SMS vendor: it calls the hook, and the first
plugin that returns a message id has delivered the message. The built-in
sandbox answers last (when ``[auth] notification_sandbox`` is on) by
storing the rendered message, SM4-encrypted, in ``notification_sandbox``,
which the demo shows at ``GET /api/notifications/sandbox``. Logs name the
template and the masked number only, never the parameters (a one-time code).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping

import pluggy
from sqlalchemy.orm import Session

from lendkit.auth.errors import NotificationFailed
from lendkit.auth.models import SandboxMessage
from lendkit.db import utcnow
from lendkit.masking import mask_phone
from lendkit.settings import Settings

__all__ = ["TEMPLATES", "is_stand_in", "render", "sandbox_send", "send"]

log = logging.getLogger(__name__)

# What the sandbox shows; a vendor plugin maps the template name to its own
# pre-registered template id (Chinese SMS vendors require registered templates).
TEMPLATES = {
    "otp_login": (
        "【{tenant}】您的登录验证码为 {code}，{minutes} 分钟内有效，请勿泄露给他人。"
        "Your sign-in code is {code}, valid for {minutes} minutes."
    ),
    "otp_register": (
        "【{tenant}】您的注册验证码为 {code}，{minutes} 分钟内有效，请勿泄露给他人。"
        "Your registration code is {code}, valid for {minutes} minutes."
    ),
}

_FAILED = "短信发送失败，请稍后再试。The message could not be sent; please try again later."


def render(template: str, params: Mapping[str, str]) -> str:
    return TEMPLATES.get(template, template + " {params}").format(params=dict(params), **params)


def send(
    session: Session,
    settings: Settings,
    pm: pluggy.PluginManager,
    *,
    channel: str,
    to: str,
    template: str,
    params: Mapping[str, str],
) -> str:
    """Deliver now through the first willing sender; 503 ``notification_failed`` if none."""
    try:
        message_id: str | None = pm.hook.send_notification(
            channel=channel,
            to=to,
            template=template,
            params=dict(params),
            session=session,
            settings=settings,
        )
    except Exception as exc:
        # The exception text may quote the parameters: log its type only.
        log.error(
            "notification sender failed",
            extra={"template": template, "to": mask_phone(to), "error": type(exc).__name__},
        )
        raise NotificationFailed(_FAILED, reason="sender_error") from None
    if message_id is None:
        log.error("no notification sender", extra={"template": template, "channel": channel})
        raise NotificationFailed(_FAILED, reason="no_sender")
    log.info(
        "notification sent",
        extra={"template": template, "to": mask_phone(to), "message_id": message_id},
    )
    return message_id


# The built-in sender's message ids begin so; a receipt with one reached nobody.
_STAND_IN_PREFIX = "sandbox-"


def is_stand_in(message_id: str) -> bool:
    """Whether ``message_id`` is the built-in sender's (the message reached nobody)."""
    return message_id.startswith(_STAND_IN_PREFIX)


def sandbox_send(
    session: Session,
    settings: Settings,
    channel: str,
    to: str,
    template: str,
    params: Mapping[str, str],
) -> str | None:
    """The built-in sender: keep the message (encrypted) instead of sending it."""
    if not settings.auth.notification_sandbox:
        return None
    message_id = _STAND_IN_PREFIX + secrets.token_hex(8)
    session.add(
        SandboxMessage(
            message_id=message_id,
            channel=channel,
            recipient=to,
            recipient_masked=mask_phone(to),
            template=template,
            text=render(template, {"tenant": settings.tenant.display_name, **params}),
            created_at=utcnow(),
        )
    )
    return message_id
