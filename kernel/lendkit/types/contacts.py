"""Reaching an overdue borrower (the ``contact_borrower`` hook)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    pass

__all__ = [
    "ContactReceipt",
    "ContactRequest",
]


@dataclass(frozen=True, slots=True)
class ContactRequest:
    """One attempt to reach an overdue borrower (催收联系), handed to an SMS or call plugin.

    ``request_no`` numbers the attempt (``contact-<id>``): pass it to your
    vendor as the order number, so a repeated call never texts or dials
    twice. ``channel`` is ``"sms"`` or ``"call"``; ``to`` the borrower's
    11-digit mobile number (personal data: left out of ``repr``, mask it in
    logs with ``lendkit.masking.mask_phone``, never store it); ``template`` a
    kernel template name (``"collection_overdue"``) to map to your vendor's
    registered template or call script; ``params`` its values (``amount``
    owed as a string, ``dpd`` days past due), never personal data.
    """

    request_no: str
    channel: Literal["sms", "call"]
    loan_id: int
    borrower_id: int
    to: str = field(repr=False)
    template: str = "collection_overdue"
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class ContactReceipt:
    """A vendor's delivery receipt for a :class:`ContactRequest`.

    ``provider`` names your plugin or vendor; ``reference`` is the vendor's
    id of the message or call, for disputes. ``status``: ``accepted`` (handed
    over, result unknown yet), ``delivered`` (the SMS arrived, the call was
    answered) or ``failed`` (with a short ``reason`` code such as
    ``unreachable``). ``sandbox`` marks a contact that reached nobody (demo
    and tests). The kernel logs the receipt as it is, never the number.
    """

    provider: str
    reference: str
    status: Literal["accepted", "delivered", "failed"] = "accepted"
    reason: str = ""
    sandbox: bool = False
