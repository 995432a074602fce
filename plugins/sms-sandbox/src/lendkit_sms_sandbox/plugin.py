"""Hook implementations of the sms-sandbox plugin: SMS are kept, NEVER sent.

Whoever holds ``sms-sandbox.read`` can read every kept message, one-time
sign-in codes included: enable the plugin on the demo and test tenants only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lendkit
from lendkit.masking import mask_phone
from lendkit.settings import Settings
from lendkit.types import ComplianceItem, Permission
from lendkit.web.paging import Window, page_of
from litestar import get
from litestar.di import NamedDependency
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

from lendkit_sms_sandbox import store
from lendkit_sms_sandbox.models import KeptMessage

__all__ = ["STAND_IN"]

# Read by the host from this source (like REQUIRES): it warns at every start and
# puts a banner on every page while a stand-in is enabled.
STAND_IN = "SMS are kept for the demo, never sent"

READ = "sms-sandbox.read"

log = logging.getLogger(__name__)


def _view(row: KeptMessage) -> dict[str, Any]:
    m = store.shown(row)
    return {
        "message_id": m.message_id,
        "channel": m.channel,
        "to": m.to_masked,
        "template": m.template,
        "text": m.text,
        "created_at": m.created_at.isoformat(),
    }


@get("/api/sms-sandbox/messages", opt={"permission": READ}, sync_to_thread=True)
def list_messages(
    db_session: NamedDependency[Session], window: NamedDependency[Window]
) -> dict[str, Any]:
    """The newest messages the stand-in kept (numbers masked; texts may hold codes): a
    page, ``{items, total, limit, offset, next}``."""
    return page_of(db_session, window, store.newest(), _view)


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return [list_messages]


@lendkit.hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(
            READ,
            "read the SMS the stand-in sender kept, one-time codes included (plugin: sms-sandbox)",
            roles=("support",),
        )
    ]


# Last: a real SMS vendor's plugin enabled beside it delivers instead.
@lendkit.hookimpl(trylast=True)
def send_notification(
    channel: str,
    to: str,
    template: str,
    params: Mapping[str, str],
    session: Session,
    settings: Settings,
) -> str:
    message_id = store.keep(
        session, settings, channel=channel, to=to, template=template, params=params
    )
    log.warning(
        "stand-in SMS sender kept a message: nothing was sent",
        extra={"template": template, "to": mask_phone(to), "message_id": message_id},
    )
    return message_id


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Stand-in SMS sender (demo and tests only; messages are NEVER sent)",
            clauses=("GB/T 22239-2019 8.1.4.1 身份鉴别",),
            description="Kept messages (one-time codes included) are SM4-encrypted and "
            "readable by holders of sms-sandbox.read; never enable it on a production tenant.",
        )
    ]
