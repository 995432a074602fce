"""Payment channels (the ``register_channels`` hook)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    pass

__all__ = [
    "ChannelAck",
    "ChannelError",
    "ChannelResult",
    "PaymentChannel",
    "PaymentInstruction",
    "PaymentKind",
    "StatementLine",
]


PaymentKind = Literal["disburse", "collect"]


@dataclass(frozen=True, slots=True)
class PaymentInstruction:
    """One order to move money, handed to a channel: the only place personal
    data (the account holder's name and card number) meets a channel plugin.

    ``order_no`` is the kernel's order number and the instruction's
    idempotency key: a channel must pass it to its gateway as the merchant
    order number, so that submitting the same instruction again (after a
    crash or a time-out) never moves money twice. ``kind`` is ``disburse``
    (pay out to the card) or ``collect`` (withhold from it, 代扣). ``amount``
    is CNY at the fen. Results go to ``callback_url``. The name and card are
    left out of ``repr``; never log them or put them in events.
    """

    order_no: str
    kind: PaymentKind
    amount: Decimal
    account_name: str = field(repr=False)
    card_number: str = field(repr=False)
    callback_url: str
    memo: str = ""


@dataclass(frozen=True, slots=True)
class ChannelAck:
    """The channel's synchronous answer to an instruction.

    ``accepted`` means the gateway took the order and will report the
    result later (by callback, or when queried). A refusal (``accepted`` is
    False) is final: ``code`` carries the gateway's reason, e.g.
    ``INVALID_CARD``. ``channel_ref`` is the gateway's own reference.
    """

    accepted: bool
    channel_ref: str | None = None
    code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class ChannelResult:
    """The outcome of one order, from a callback or a query.

    ``status``: ``succeeded`` or ``failed`` (final), ``pending`` (still
    processing), ``unknown`` (the gateway has no such order). ``amount`` is
    what actually moved, when the gateway says; ``settled_on`` the gateway's
    business date of the result (its statement lists the order under it).
    """

    order_no: str
    status: Literal["succeeded", "failed", "pending", "unknown"]
    amount: Decimal | None = None
    channel_ref: str | None = None
    code: str = ""
    message: str = ""
    settled_on: date | None = None


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One line of a channel's daily statement file (对账单), parsed."""

    settled_on: date
    order_no: str
    channel_ref: str
    kind: PaymentKind
    amount: Decimal
    status: Literal["succeeded", "failed"]
    fee: Decimal = Decimal("0.00")
    code: str = ""


class ChannelError(Exception):
    """Raised by a channel when its gateway cannot be used as asked.

    ``code`` is stable and machine-readable: ``bad_signature`` (a callback
    whose signature does not verify: the kernel answers 401), ``bad_format``
    (400), ``unavailable`` (network trouble: the kernel retries later).
    Never put personal data in the message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class PaymentChannel(Protocol):
    """A payment gateway, as the kernel's payment orders use it.

    Methods are called outside any database transaction, by the worker (or
    by the callback route for :meth:`parse_callback`); they may block on the
    network and raise :class:`ChannelError` (or any exception: the kernel
    then retries later). Every call must be safe to repeat.
    """

    @property
    def name(self) -> str:
        """Stable channel name, e.g. ``sandbox``; used in accounts and URLs."""
        ...

    def disburse(self, instruction: PaymentInstruction) -> ChannelAck:
        """Ask the gateway to pay ``instruction.amount`` out to the card."""
        ...

    def collect(self, instruction: PaymentInstruction) -> ChannelAck:
        """Ask the gateway to withhold ``instruction.amount`` from the card (代扣)."""
        ...

    def query(self, order_no: str) -> ChannelResult:
        """The gateway's current view of an order."""
        ...

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> ChannelResult:
        """Verify a callback's signature and parse it; raise ``ChannelError`` if it fails."""
        ...

    def statement(self, business_date: date) -> list[StatementLine] | None:
        """The gateway's statement of ``business_date``, or None when not ready yet."""
        ...
