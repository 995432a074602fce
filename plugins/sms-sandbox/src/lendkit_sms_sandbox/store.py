"""Keeping messages instead of sending them, and reading them back.

:func:`messages` and :func:`latest_code` are the plugin's public functions:
the demo's page and tests read one-time codes through them, never through
the table.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from lendkit.auth.notify import STAND_IN_PREFIX, render
from lendkit.db import utcnow
from lendkit.masking import mask_phone
from lendkit.settings import Settings
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lendkit_sms_sandbox.models import KeptMessage

__all__ = [
    "MESSAGE_ID_PREFIX",
    "Message",
    "keep",
    "latest_code",
    "messages",
    "newest",
    "shown",
]

# The kernel's collections marks a contact whose message id starts so as one that
# reached nobody.
MESSAGE_ID_PREFIX = STAND_IN_PREFIX  # the kernel shows such receipts as stand-ins
MAX_LIMIT = 500
_CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")


@dataclass(frozen=True, slots=True)
class Message:
    """A kept message as shown: the number masked, the text in full (it may hold a code)."""

    message_id: str
    channel: str
    to_masked: str
    template: str
    text: str
    created_at: datetime


def keep(
    session: Session,
    settings: Settings,
    *,
    channel: str,
    to: str,
    template: str,
    params: Mapping[str, str],
) -> str:
    """Store the rendered message (SM4-encrypted) in the caller's transaction; its id."""
    message_id = MESSAGE_ID_PREFIX + secrets.token_hex(8)
    session.add(
        KeptMessage(
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


def newest() -> Select[KeptMessage]:
    """Every kept message, newest first: a query to page through (rows via :func:`shown`)."""
    return select(KeptMessage).order_by(KeptMessage.id.desc())


def shown(row: KeptMessage) -> Message:
    """A kept row as shown: the number masked."""
    return Message(
        row.message_id, row.channel, row.recipient_masked, row.template, row.text, row.created_at
    )


def messages(
    session: Session, *, to: str | None = None, template: str | None = None, limit: int = 50
) -> list[Message]:
    """The newest kept messages first, optionally only those to ``to`` / of ``template``."""
    query = newest()
    if template is not None:
        query = query.where(KeptMessage.template == template)
    if to is None:
        query = query.limit(max(1, min(limit, MAX_LIMIT)))
    # The number is encrypted (no index): a stand-in keeps few messages, filter here.
    rows = [row for row in session.scalars(query) if to is None or row.recipient == to]
    return [shown(row) for row in rows[: max(1, min(limit, MAX_LIMIT))]]


def latest_code(session: Session, to: str, template: str | None = None) -> str:
    """The six-digit code in the newest message to ``to``; ``LookupError`` if none was kept."""
    for message in messages(session, to=to, template=template, limit=MAX_LIMIT):
        found = _CODE.search(message.text)
        if found:
            return found.group()
    raise LookupError(f"no one-time code was kept for {mask_phone(to)}")
