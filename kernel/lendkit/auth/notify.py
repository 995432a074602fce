"""Sending messages to people through the ``send_notification`` hook.

The kernel never talks to an SMS vendor and keeps no message: it calls the
hook, and the first plugin that returns a message id has delivered the
message; when none does, the caller gets 503 ``notification_failed``. Logs
name the template and the masked number only, never the parameters (a
one-time code). :func:`render` gives a template's text, for plugins that
show messages rather than map the template to a vendor's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pluggy
from sqlalchemy.orm import Session

from lendkit.auth.errors import NotificationFailed
from lendkit.masking import mask_phone
from lendkit.settings import Settings

__all__ = ["STAND_IN_PREFIX", "TEMPLATES", "is_stand_in", "render", "send"]

log = logging.getLogger(__name__)

# The texts of the kernel's templates; a vendor plugin maps the template name to its own
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
    """The text of ``template`` with ``params`` (an unknown template: its name and the params)."""
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


# A stand-in sender (one that keeps messages instead of sending them) gives
# message ids that begin so; a receipt with one reached nobody.
STAND_IN_PREFIX = "stand-in-"


def is_stand_in(message_id: str) -> bool:
    """Whether ``message_id`` came from a stand-in sender (the message reached nobody)."""
    return message_id.startswith(STAND_IN_PREFIX)
