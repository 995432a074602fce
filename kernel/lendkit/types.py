"""Value types that hook specifications name: the public plugin API.

They are small, immutable and carry data only; see :mod:`lendkit.hookspecs`
for when each one is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from lendkit.callers import Caller
    from lendkit.runtime import Runtime

__all__ = [
    "ALLOCATION_ORDER",
    "ChannelAck",
    "ChannelError",
    "ChannelResult",
    "ComplianceItem",
    "Event",
    "Job",
    "KeyWrapper",
    "PaymentChannel",
    "PaymentInstruction",
    "PaymentKind",
    "Permission",
    "ProductSpec",
    "StatementLine",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened and was committed; delivered after commit.

    ``id`` is unique and stable across redeliveries: use it to make your
    handler idempotent. ``payload`` holds identifiers and amounts, never
    personal data in clear.
    """

    id: int
    topic: str
    occurred_at: datetime
    payload: Mapping[str, Any]


# The default order a repayment pays in (issue 5); a product may reorder it.
ALLOCATION_ORDER: tuple[str, ...] = (
    "penalty",
    "overdue_interest",
    "overdue_principal",
    "current_interest",
    "current_principal",
)


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """A loan product a plugin offers; the lifecycle prices and books it.

    Amounts are CNY as ``Decimal``; ``annual_rate`` is a fraction
    (``Decimal("0.109")`` for 10.9 %).
    """

    code: str
    name: str
    min_amount: Decimal
    max_amount: Decimal
    terms_months: tuple[int, ...]
    annual_rate: Decimal
    repayment_methods: tuple[str, ...]
    upfront_fee_rate: Decimal = Decimal("0")
    description: str = ""
    instalment_fee: Decimal = Decimal("0")  # CNY on every instalment
    penalty_multiplier: Decimal = Decimal("1.5")  # penalty rate = annual rate × this, capped
    grace_days: int = 0  # days after a due date before an instalment is overdue
    day_count: Literal[360, 365] = 360  # the year of day-count interest (penalty)
    shift_holidays: bool = False  # due dates off public holidays (next working day)
    repayment_day: int | None = None  # a fixed day of the month (1-28): odd first period
    # What a repayment pays first: each step of ALLOCATION_ORDER once (fees go with interest).
    allocation_order: tuple[str, ...] = ALLOCATION_ORDER


@dataclass(frozen=True, slots=True)
class ComplianceItem:
    """One enabled function mapped to the regulation clauses it serves.

    The tenant's compliance package lists one row per item, so a plugin that
    adds a function documents it here.
    """

    function: str
    clauses: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class Permission:
    """A permission a plugin's routes declare, and the staff roles that hold it.

    ``name`` is what routes put in ``opt={"permission": name}``, e.g.
    ``"marketing.view"``; admins hold every permission anyway.
    """

    name: str
    description: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Job:
    """Work the worker runs once every ``every``, however many workers run.

    Time is cut into slots of ``every``, counted from midnight China time
    (so a daily job's slot is the business date, an hourly one's the hour);
    the first worker to claim a slot in the database runs it, the others skip
    it (see :mod:`lendkit.job_runs`), never while the job's previous slot
    still runs. ``run`` gets the tenant's
    :class:`~lendkit.runtime.Runtime` (settings and ``sessions``, a session
    factory) and the current time. A job opens its own transactions and must
    be idempotent: after a worker crashes, another runs the slot again.

    ``every_worker=True`` is for a queue drainer that claims its own rows
    (``FOR UPDATE SKIP LOCKED``, as the outbox and payment orders do): every
    worker then runs it each ``every`` and they share the work.
    """

    name: str
    every: timedelta
    run: Callable[[Runtime, datetime], object]
    every_worker: bool = False


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys: the local master key, or a KMS/HSM plugin.

    ``purpose`` is ``"field"`` or ``"index"`` and must be bound into the
    wrapping, so a key of one purpose cannot be passed off as the other.
    """

    @property
    def name(self) -> str: ...

    def wrap(self, purpose: str, data_key: bytes) -> bytes: ...

    def unwrap(self, purpose: str, wrapped: bytes) -> bytes: ...


# -- Payment channels (see the ``register_channels`` hook) -----------------

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


# -- Credit assessment (the credit_report, enrich_applicant, assess_application
#    and propose_credit_limit hooks) ------------------------------------------

__all__ += [
    "Applicant",
    "ClientContext",
    "CreditReport",
    "LimitProposal",
    "RiskOutcome",
    "RiskSignal",
]

RiskOutcome = Literal["pass", "review", "reject"]


@dataclass(frozen=True, slots=True)
class ClientContext:
    """The device and network facts of an application, as the borrower's app sent them.

    ``device_id`` is the app's device fingerprint; ``ip`` the address the app
    says it has (its own view, behind a carrier's NAT for instance) and
    ``seen_ip`` the address the kit's web server saw the request come from;
    ``location`` a coarse location (a city, or a latitude and longitude of two
    decimals); ``user_agent`` and ``app_version`` what the app reports of
    itself. Any of them may be None (an old app, a request from a script).

    ``device_id``, both addresses and the location are personal data: they are
    SM4-encrypted at rest, left out of ``repr`` and of the credit decision
    record; never log them, never put them in attributes, reasons or
    exception messages. Count applications by device with
    :func:`lendkit.views.borrowers_on_device` (a blind index, never the id in
    clear).
    """

    device_id: str | None = field(default=None, repr=False)
    ip: str | None = field(default=None, repr=False)
    seen_ip: str | None = field(default=None, repr=False)
    location: str | None = field(default=None, repr=False)
    user_agent: str | None = None
    app_version: str | None = None


@dataclass(frozen=True, slots=True)
class Applicant:
    """An application as the credit hooks see it: ids and amounts, no personal data.

    ``amount`` is what the borrower asks for (CNY) over ``term`` months, repaid
    by ``method``; ``annual_income`` is the income he declared (CNY a year);
    ``exposure`` is what he already owes or has asked for here (open
    applications and offers, and the principal of his running loans), before
    this application. ``attributes`` holds what ``enrich_applicant`` plugins
    added, for the hooks after them; the kernel keeps it in the decision
    record, so never put personal data in it.
    """

    application_id: int
    borrower_id: int
    product_code: str
    amount: Decimal
    term: int
    method: str
    annual_income: Decimal
    exposure: Decimal
    attributes: Mapping[str, str] = field(default_factory=dict)
    # What the borrower's app and the kit's web server saw of the request (None
    # when the application came without a request, e.g. from a script).
    client: ClientContext | None = None


@dataclass(frozen=True, slots=True)
class CreditReport:
    """A credit bureau's report on one borrower (征信报告), summarized for the decision.

    ``provider`` names the bureau plugin and ``reference`` the bureau's own id
    of the query (for disputes and the query log). ``score`` is the bureau's
    score, higher is better (None when it gives none); ``delinquencies`` the
    accounts past due now; ``open_loans`` and ``debt`` (CNY) what the borrower
    owes elsewhere. ``details`` carries further items as strings for staff,
    never personal data. ``sandbox`` marks a made-up report (demo and tests):
    the kernel shows it as such.
    """

    provider: str
    reference: str = ""
    score: int | None = None
    delinquencies: int = 0
    open_loans: int = 0
    debt: Decimal = Decimal("0.00")
    details: Mapping[str, str] = field(default_factory=dict)
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class RiskSignal:
    """One plugin's opinion of an application: ``pass``, ``review`` or ``reject``.

    ``reasons`` are short machine codes (``device_blacklisted``,
    ``income_unverified``, ...) shown to staff and kept in the decision
    record; give at least one for ``review`` and ``reject``.
    """

    outcome: RiskOutcome
    provider: str
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LimitProposal:
    """One plugin's proposed credit limit (CNY) for the borrower; the kernel takes the least."""

    provider: str
    limit: Decimal
    reasons: tuple[str, ...] = ()


# -- Offers (the adjust_offer hook) -------------------------------------------

__all__ += ["OfferAdjustment", "OfferTerms", "OfferToAdjust"]


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """The priced terms of an offer: what ``adjust_offer`` may change.

    ``principal``, ``upfront_fee`` (taken from the principal at disbursement)
    and ``instalment_fee`` (on every instalment) are CNY at the fen;
    ``annual_rate`` is a fraction. ``term`` (months) and ``method`` are the
    borrower's choice: an adjustment must leave them as they are.
    """

    principal: Decimal
    term: int
    method: str
    annual_rate: Decimal
    upfront_fee: Decimal
    instalment_fee: Decimal


@dataclass(frozen=True, slots=True)
class OfferAdjustment:
    """One plugin's change to an offer (a coupon, a campaign rate), with its reason.

    ``terms`` are the whole new terms: build them with
    ``dataclasses.replace(offer.terms, upfront_fee=Decimal("0.00"))``.
    ``reason_code`` is a short machine code (``coupon_fee_waiver``);
    ``reason`` the text the borrower reads in the offer and the contract,
    Chinese and English (``免收服务费 / upfront fee waived``); ``reference``
    your own id (the coupon's code), kept with the offer. The kernel records
    which plugin made it: never put personal data in any of them.
    """

    terms: OfferTerms
    reason_code: str
    reason: str
    reference: str = ""


@dataclass(frozen=True, slots=True)
class OfferToAdjust:
    """An offer about to be made, as ``adjust_offer`` sees it: ids and amounts.

    ``terms`` are the offer so far (the product's, after the plugins asked
    before you); ``apr_irr`` is their all-in annualized rate (IRR method,
    fraction to 4 places); ``adjustments`` what earlier plugins changed, in
    order. ``product_version`` is None for a product a plugin registers.
    """

    application_id: int
    borrower_id: int
    product_code: str
    product_version: int | None
    terms: OfferTerms
    apr_irr: Decimal
    adjustments: tuple[OfferAdjustment, ...] = ()


# -- The public ledger (the register_accounts hook and lendkit.ledger) --------

__all__ += ["AccountSpec", "AccountType"]

AccountType = Literal["asset", "liability", "equity", "income", "expense"]


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account a plugin posts to through :mod:`lendkit.ledger`.

    ``name`` is the account's name within the plugin (lower-case letters,
    digits and ``_``, e.g. ``marketing_expense``); the ledger keeps it as
    ``<plugin>.<name>``, so it can never be a kernel account. ``per`` says
    that the account is kept once per something and names it, e.g.
    ``"borrower"``: postings then name ``referral_payable:<borrower id>``
    (a qualifier of letters, digits, ``_`` or ``-``). ``type`` decides the
    side its balance normally lies on: a debit for asset and expense
    accounts, a credit for the others; ``normal`` overrides it for a contra
    account. With ``no_overdraft``, a posting that would take the balance
    past zero against its normal side is refused, as for the kernel's fund
    pools.
    """

    name: str
    type: AccountType
    name_zh: str
    name_en: str
    per: str | None = None
    normal: Literal["debit", "credit"] | None = None
    no_overdraft: bool = False

    @property
    def debit_normal(self) -> bool:
        if self.normal is not None:
            return self.normal == "debit"
        return self.type in ("asset", "expense")


# -- Pages (the register_pages hook) ------------------------------------------

__all__ += ["Page", "PageArea"]

PageArea = Literal["console", "h5"]


@dataclass(frozen=True, slots=True)
class Page:
    """A page a plugin adds to the staff console or to the borrower's H5 site.

    ``area`` is ``console`` (staff; ``path`` under ``/console/<plugin>/``) or
    ``h5`` (borrowers; under ``/h5/<plugin>/``). ``template`` names a Jinja2
    template of the plugin's (see ``register_templates``) holding the page's
    content only: the kit renders it inside its own layout, with the menu of
    the area. ``permission`` guards the page and decides who sees its menu
    entry: for the console one the plugin registers (or a kernel one), for H5
    ``borrower.self``. ``label_zh`` and ``label_en`` are the
    menu entry's text; ``menu=False`` leaves the page out of the menu.
    ``context``, if given, is called with the request's read-only database
    session and the :data:`lendkit.callers.Caller`, and returns what the
    template needs; read kernel data through :mod:`lendkit.views` only.
    """

    area: PageArea
    path: str
    template: str
    label_zh: str
    label_en: str
    permission: str
    menu: bool = True
    context: Callable[[Session, Caller], Mapping[str, Any]] | None = field(
        default=None, compare=False
    )
