"""The plugin author's manual: every hook a lendkit plugin can implement.

A plugin is an installable distribution with an entry point in the group
``lendkit`` that names a module (or object) holding hook implementations::

    [project.entry-points.lendkit]
    marketing = "lendkit_marketing.plugin"

Implement a hook by writing a function with the hook's name, marked with
``@lendkit.hookimpl``; you may accept any subset of the arguments below.
The tenant enables plugins by name in ``lendkit.toml``; an installed plugin
that is not enabled is blocked and never imported.

Three kinds of hook, and when they run:

* **Registration hooks** are called once at start-up, outside any
  transaction. They return data; results of all plugins are combined.
* **Decision hooks** run inside the request's database transaction and
  return data (``verify_identity``; later: risk signals, credit reports,
  ...). If one raises, the decision fails safe: it never approves.
* **Event hooks** are delivered *after commit* from the transactional
  outbox: retried with back-off, at least once, so make them idempotent with
  ``event.id``. A failing event hook never rolls back the change that
  raised the event; after the last retry the delivery goes to the
  dead-letter list (``lendkit outbox dead``).

Database migrations are not a hook: ship an Alembic branch in
``<your package>/migrations/versions`` with ``branch_labels = ("<plugin
name>",)`` and ``depends_on = "kernel"``. The host finds it without
importing your plugin, so a disabled plugin keeps its tables and history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

import pluggy

from lendkit import PROJECT_NAME

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler
    from sqlalchemy.orm import Session

    from lendkit.settings import Settings
    from lendkit.types import (
        AccountSpec,
        ComplianceItem,
        Event,
        Job,
        KeyWrapper,
        Page,
        PaymentChannel,
        Permission,
        ProductSpec,
    )

__all__ = ["IdentityClaim", "IdentityVerdict", "hookspec"]

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# -- Values the decision hooks exchange ------------------------------------


@dataclass(frozen=True, slots=True)
class IdentityClaim:
    """Who a borrower says he is, already checked for form by the kernel.

    The resident ID number passed GB 11643 (check digit, birth date, region),
    the card passed Luhn (or its holder confirmed it), the mobile number is
    a mainland one. ``phone`` is the number the bank holds for the card
    (银行预留手机号), for four-element checks. ``evidence`` carries what the
    borrower's app collected for a vendor (a liveness token, a face-image
    reference), passed through as given. Personal data is left out of
    ``repr``: never log it, never put it in an exception message.
    """

    borrower_id: int
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    bank_card: str = field(repr=False)
    phone: str = field(repr=False)
    birth_date: date = field(repr=False)
    evidence: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)


@dataclass(frozen=True, slots=True)
class IdentityVerdict:
    """A verifier's answer: ``verified``, ``rejected`` or ``review`` (a person decides).

    ``provider`` names the verifier (stored with the KYC history);
    ``reference`` is the vendor's own id of the check, for disputes;
    ``reasons`` are short machine codes (``name_id_mismatch``,
    ``face_low_similarity``, ...) shown to staff, never personal data.
    ``sandbox`` marks a check that proves nothing (demo and tests): the
    kernel shows it as such wherever the result is shown.
    """

    outcome: Literal["verified", "rejected", "review"]
    provider: str
    reference: str = ""
    reasons: tuple[str, ...] = ()
    sandbox: bool = False


# -- Registration hooks: called once at start-up --------------------------


@hookspec
def register_routes() -> list[ControllerRouterHandler]:
    """Return Litestar route handlers, controllers or routers to mount.

    Called once when the web app is built. Results of all plugins are
    mounted side by side; two plugins claiming the same path is a start-up
    error. Every handler must declare its permission in ``opt`` (see the
    data-protection guide); paths should start with ``/api/<plugin>/`` or
    ``/<plugin>/``. A disabled plugin's routes are not mounted, so they
    answer 404.
    """


@hookspec
def register_templates() -> list[Path]:
    """Return folders of Jinja2 templates this plugin ships.

    Called once when the template environment is built. Templates are looked
    up tenant first, then plugins (in registration order), then the kit's
    defaults, so a plugin may override a kit template by using its name and
    a tenant may override either.
    """


@hookspec
def register_permissions() -> list[Permission]:
    """Return the permissions this plugin's routes declare, with their roles.

    Called once when the web app is built; results of all plugins are added
    to the kernel's permission matrix (``lendkit.auth.permissions``), so a
    plugin never edits the kernel to guard its routes. Names must be new (a
    clash with the kernel's or another plugin's is a start-up error) and
    roles must be staff roles; admins hold every permission. A route naming
    a permission nobody registered is refused with 403.
    """


@hookspec
def register_products() -> list[ProductSpec]:
    """Return the loan products this plugin brings: a product type of its own.

    For plugins whose product is code (a merchant cash-flow loan); an
    ordinary product is data, which staff manage through the products API
    and a tenant seeds from ``[[products]]`` in ``lendkit.toml``. Called
    whenever the kernel lists or finds products (keep it cheap and
    constant); results of all plugins are combined with the products table.
    Product codes are unique across the tenant: two plugins with one code
    is a start-up error, the products API refuses to create a code a
    plugin registers (409 ``product_not_managed``), and a plugin enabled
    with a code the table holds stops ``lendkit db upgrade``. A plugin's
    product has no version (``None`` on applications and loans) and cannot
    be changed or retired through the API; loans copy its terms when
    booked, so changing them in a new release changes no loan.
    """


@hookspec
def register_accounts() -> list[AccountSpec]:
    """Return the ledger accounts this plugin posts to through :mod:`lendkit.ledger`.

    Called once at start-up; each :class:`~lendkit.types.AccountSpec` names
    an account within the plugin (``marketing_expense``), or a family of
    them with ``per`` (``referral_payable`` per ``"borrower"``: postings
    name ``referral_payable:<borrower id>``), its type and the side its
    balance normally lies on. The ledger keeps them as ``<plugin>.<name>``,
    beside the kernel's chart and never in it: a plugin posts only to the
    accounts it declares here, never to the kernel's (fund pools, loan
    receivables, income), and the trial balance shows them with the rest.
    A name declared twice by one plugin is a start-up error. Post with
    ``lendkit.ledger.post`` (balanced, idempotent by key) and read balances
    with ``lendkit.ledger.balance``; plugins never import the kernel's
    clearing modules.
    """


@hookspec
def register_pages() -> list[Page]:
    """Return the pages this plugin adds to the staff console and to the borrower's site.

    Called once when the web app is built. Each :class:`~lendkit.types.Page`
    is served at its ``path`` (``/console/<plugin>/...`` for staff,
    ``/h5/<plugin>/...`` for borrowers) as HTML: the plugin's template,
    holding the page's content only, rendered inside the kit's layout with
    the area's menu. The menu lists every page of the area whose
    ``permission`` the caller holds (``/console/`` and ``/h5/`` list them
    too), so an entry is hidden from whoever may not open it, and opening
    it anyway is refused with 403. A path outside the plugin's own prefix,
    two pages on one path, a clash with a route, a permission nobody
    registers, or ``borrower.self`` on a console page is a start-up error.
    Template names must be unique: prefix them with the plugin's name.
    """


@hookspec
def compliance_items() -> list[ComplianceItem]:
    """Return the functions this plugin adds, mapped to regulation clauses.

    Called when the compliance package is generated; results of all plugins
    are combined, one row per item, so the package always lists what the
    tenant has enabled.
    """


@hookspec
def register_jobs() -> list[Job]:
    """Return scheduled jobs for the worker (``lendkit worker``).

    Called once when each worker starts (``lendkit worker``, ``lendkit serve
    --with-worker``). Each job runs once per slot of ``job.every`` however
    many workers run: the worker that claims the slot in the database runs
    it, outside any request, one job at a time (``every_worker=True`` jobs
    run in every worker instead). A job opens its own transactions and must
    be idempotent, because after a worker crashes another runs the slot
    again. A job that raises is logged, recorded as failed, and tried in its
    next slot. Job names are unique across plugins.
    """


@hookspec
def register_channels(settings: Settings) -> list[PaymentChannel]:
    """Return the payment channels (gateways) this plugin provides.

    Called once per process, the first time the kernel needs a channel (the
    payment worker, the callback route, reconciliation), outside any
    transaction; results of all plugins are combined and channel names are
    unique across the tenant (a duplicate is a start-up error). Read your
    options from ``settings.payments.channels[<name>]``.

    Each object implements :class:`lendkit.types.PaymentChannel`: ``disburse``
    and ``collect`` submit a :class:`~lendkit.types.PaymentInstruction`
    (idempotent by its ``order_no``), ``query`` asks for an order's result,
    ``parse_callback`` verifies and parses an asynchronous result posted to
    ``POST /api/channels/<name>/callback``, ``statement`` fetches the daily
    statement for reconciliation. The kernel calls them outside any database
    transaction and after the order has committed, so a slow gateway never
    holds locks; results are applied in a transaction of their own, checked
    against the order's state, so repeated or late results never post twice.
    Personal data reaches the channel only inside the instruction: never log
    it, never put it in an exception message.
    """


@hookspec
def seed_demo(session: Session, settings: Settings) -> None:
    """Add this plugin's demo data to a freshly created demo tenant.

    Called once by the demo launcher (``lendkit-demo``, ``make demo``)
    inside the seeding transaction when it creates the demo tenant: the
    kernel seeds nothing itself, and the plugin that seeds the demo's people
    implements this hook with ``tryfirst=True`` so others can refer to them.
    The transaction commits after every plugin returns. Returns nothing.
    Never called on a real tenant.
    """


@hookspec(firstresult=True)
def key_wrapper(settings: Settings) -> KeyWrapper | None:
    """Return the wrapper of data keys: an external KMS or HSM.

    Called once when the tenant's key ring is first used; the first non-None
    result wins (plugins are asked before the built-in local master key,
    which reads ``[keys]`` from the settings). Data keys are wrapped by it
    when created and unwrapped when loaded; its ``name`` is stored beside
    each wrapped key. Changing wrappers needs a key rotation.
    """


@hookspec(firstresult=True)
def send_notification(
    channel: str,
    to: str,
    template: str,
    params: Mapping[str, str],
    session: Session,
    settings: Settings,
) -> str | None:
    """Deliver a message to one person now: an SMS sign-in code, for example.

    Called synchronously while the kernel's transaction is open (not through
    the outbox: a one-time code must never be stored in clear to be sent
    later), and never retried: delivery is at most once, and the person asks
    again. Plugins are asked in turn; return the vendor's message id once you
    have handed the message over, or None to let the next plugin try. The
    kernel has no sender of its own: when no plugin answers, the person
    gets 503 ``notification_failed`` and nothing is kept (a demo enables a
    stand-in sender plugin, ``hookimpl(trylast=True)``, that keeps messages
    instead; ``lendkit.auth.notify.render`` gives a template's text). Raise
    to refuse: the caller's transaction rolls back and the person gets 503
    ``notification_failed``.

    ``channel`` is ``"sms"``; ``to`` an 11-digit mobile number (personal
    data: mask it in logs with ``lendkit.masking.mask_phone``); ``template``
    a kernel template name such as ``"otp_login"`` to map to your vendor's
    registered template; ``params`` its values, which may be a one-time
    code: never log or store them in clear. ``session`` is the caller's
    transaction, for bookkeeping rows that commit with it.
    """


# -- Decision hooks: inside the caller's transaction -----------------------


@hookspec(firstresult=True)
def verify_identity(
    claim: IdentityClaim, session: Session, settings: Settings
) -> IdentityVerdict | None:
    """Check a borrower's real-name claim with an identity vendor (实名核验).

    Called when a borrower submits his real-name details (name, resident ID
    number, bank card and the card's mobile number), inside the request's
    transaction, after the kernel has validated their form and recorded the
    borrower's consent to the privacy policy. Plugins are asked in turn: an
    ID-and-face vendor (公安身份核验, 人脸比对), a four-element bank-card check,
    a sandbox; the first non-None :class:`IdentityVerdict` wins (it and
    :class:`IdentityClaim` are importable from ``lendkit.hookspecs``). Return None
    when the claim is not yours to check (a vendor that only covers some
    cards, or is switched off).

    The kernel records the verdict append-only in ``kyc_transition``, moves
    the borrower to ``verified``, ``rejected`` or ``review``, audits it and
    publishes ``borrower.verified``, ``borrower.rejected`` or
    ``borrower.review``. It fails safe: when no plugin answers, or one
    raises, the borrower goes to ``review`` (reason ``no_verifier`` or
    ``verifier_error``) and a member of staff decides; never ``verified``.
    A plugin's own writes run in a savepoint, rolled back if it raises.

    ``claim`` holds personal data: send it only to the vendor, never log
    it. ``session`` is the caller's transaction (keep your call records
    there); read your options from ``settings``. Set ``sandbox=True`` on a
    verdict that proves nothing.
    """


# -- Event hooks: delivered after commit from the outbox -------------------


@hookspec
def on_loan_event(event: Event, session: Session) -> None:
    """React to a committed step of the borrower and loan lifecycle.

    Delivered after commit by the outbox dispatcher in the worker; topics
    look like ``borrower.registered``, ``application.approved``,
    ``loan.disbursed`` or ``product.updated`` (``product.created``,
    ``product.updated`` and ``product.retired`` carry the product's code,
    version, status and terms) and
    ``event.payload`` carries ids and amounts, never personal data. Each
    plugin's delivery is tracked on its own, so one failing plugin never
    delays or repeats another's. ``loan.disbursed`` (the borrower has the
    money, the schedule runs) carries ``loan_id``, ``borrower_id``,
    ``product_code``, ``principal`` and ``net_disbursed`` (CNY as strings),
    ``business_date`` and the application's ``referral_code`` (or None), so
    a referral or marketing plugin needs nothing else; read more through
    :mod:`lendkit.views`.

    ``session`` is the delivery's own transaction: rows you write there
    commit together with the delivery being marked done, so database effects
    happen exactly once. Side effects outside the database (an SMS, an
    upload) may repeat after a crash: make them idempotent with ``event.id``.
    Raise to ask for a retry with exponential back-off; your writes are then
    rolled back, and after the last attempt the delivery is dead-lettered
    (``lendkit outbox dead``). A plugin that needs only some topics declares
    them as prefixes in a module-level ``EVENT_TOPICS`` tuple (e.g.
    ``("loan.overdue", "loan.cured")``) and gets deliveries of those only;
    without it, it gets every topic of the hook. Returns nothing.
    """


@hookspec
def on_payment_event(event: Event, session: Session) -> None:
    """React to a committed step of a payment order or of reconciliation.

    Delivered after commit by the outbox dispatcher, like ``on_loan_event``.
    Topics: ``payment.disbursed`` (the borrower has the money),
    ``payment.collected`` (a repayment reached the channel and sits in the
    borrower's suspense account: the loan lifecycle allocates it to the
    loan), ``payment.failed`` (the order failed, or reconciliation reversed
    it: ``status`` says which; a disbursement's funds are back in the pools) and ``payment.reconciled`` (one channel's
    statement for one business date was matched; the payload counts the
    exceptions). ``event.payload`` carries the order number, loan id, kind,
    channel and amount as a string, never the payee's name or card.

    ``session`` is the delivery's own transaction; raise to ask for a retry.
    Deliveries are at least once: make side effects idempotent with
    ``event.id``. Returns nothing.
    """


@hookspec
def on_end_of_day(business_date: date, event: Event, session: Session) -> None:
    """React to a business date that has closed: build daily files and reports.

    Delivered after commit by the outbox dispatcher, like ``on_loan_event``,
    once the last chunk of end of day for ``business_date`` is done (topic
    ``eod.closed``): accrual, due dates, overdue, penalty and classification
    have all been applied and committed, so what you read for that date no
    longer changes. ``event.payload`` holds ``business_date`` (ISO),
    ``loans`` (how many running loans the day covered) and ``counts`` (how
    many loans moved, by kind: ``accrued``, ``overdue``, ...). Raised exactly
    once per date: rerunning a finished day, or several workers finishing
    it together, raises nothing new.

    ``session`` is the delivery's own transaction; raise to ask for a retry
    (with back-off, then the dead-letter list). Deliveries are at least
    once: make files and uploads idempotent with ``event.id`` or the date.
    Returns nothing.
    """


# -- Decision hooks: credit assessment, inside the caller's transaction -----
#
# Asked in this order for each application by ``lendkit.lifecycle.credit``:
# credit_report, enrich_applicant, assess_application, propose_credit_limit.
# The kernel calls each plugin on its own, in a savepoint: one that raises,
# or answers something else than its hook promises, has its writes rolled
# back, is recorded with its error, and sends the application to manual
# review. Nothing a plugin does can make the kernel approve in its place.

if TYPE_CHECKING:
    from lendkit.types import Applicant, CreditReport, LimitProposal, RiskSignal


@hookspec(firstresult=True)
def credit_report(
    applicant: Applicant, session: Session, settings: Settings
) -> CreditReport | None:
    """Fetch the borrower's credit report from a bureau (征信查询).

    Called once per application, inside the submitting request's
    transaction, only after the kernel has found the borrower's active
    ``credit_query`` consent (征信业管理条例 Art. 29: without it no plugin is
    asked and the borrower gets 403 ``consent_required``). Plugins are asked
    in turn; the first non-None :class:`~lendkit.types.CreditReport` wins.
    Return None when this borrower is not yours to query (a bureau that is
    switched off, or covers only some borrowers).

    ``applicant`` carries ids and amounts, and in ``applicant.client`` the
    device and network facts the borrower's app sent with the application
    (:class:`~lendkit.types.ClientContext`: personal, left out of ``repr``).
    Look the borrower up with :func:`lendkit.views.borrower` if your bureau
    needs his name and ID number, send
    them only to the bureau, and never log them or put them in the report or
    in an exception message. Keep your query log in ``session`` (it commits
    with the application). Set ``sandbox=True`` on a made-up report. When
    no plugin answers, the policy sends the application to manual review
    (``no_credit_report``); when one raises, so does its error.
    """


@hookspec
def enrich_applicant(
    applicant: Applicant, report: CreditReport | None, session: Session, settings: Settings
) -> Mapping[str, str] | None:
    """Add facts about the applicant for the hooks that follow (device, anti-fraud, income …).

    Called once per application, after ``credit_report`` (``report`` is the
    winning report, or None) and before ``assess_application``, inside the
    request's transaction. ``applicant.client`` holds what the app sent with
    the application (device fingerprint, claimed and seen IP address, coarse
    location, user agent, app version): count by device with
    :func:`lendkit.views.borrowers_on_device`. Results of all plugins are
    combined: return a mapping of string keys to string values, added to
    ``applicant.attributes`` for the later hooks; a key two plugins give
    keeps the first plugin's value. Return None to add nothing.

    The attributes are kept in the decision record, shown to staff: never
    put personal data in them (``applicant.client``'s device id, addresses
    and location are left out of the record for that reason). A plugin that raises sends the application to
    manual review (``enrich_applicant_error``).
    """


@hookspec
def assess_application(
    applicant: Applicant, report: CreditReport | None, session: Session, settings: Settings
) -> RiskSignal | None:
    """Judge an application: a :class:`~lendkit.types.RiskSignal` of pass, review or reject.

    Called once per application, after ``enrich_applicant`` (so
    ``applicant.attributes`` holds the enrichment), inside the request's
    transaction. Every plugin is asked and every signal counts: one
    ``reject`` rejects the application, one ``review`` sends it to a member
    of staff, and the kernel's own policy (score, delinquencies, debt to
    income, the limit) applies besides; ``pass`` changes nothing. Give
    reason codes with ``review`` and ``reject``: they are stored with your
    plugin's name in the decision record. Return None to abstain.

    A plugin that raises, or returns anything but a ``RiskSignal``, sends
    the application to manual review (``assess_application_error``) — never
    to approval.
    """


@hookspec
def propose_credit_limit(
    applicant: Applicant, report: CreditReport | None, session: Session, settings: Settings
) -> LimitProposal | None:
    """Propose the most this borrower may borrow: a :class:`~lendkit.types.LimitProposal`.

    Called once per application, last of the credit hooks, inside the
    request's transaction. Every plugin is asked and the least proposal
    wins (rounded down to the policy's step): an amount within it may be
    approved automatically, one a little above it (the policy's review
    band) goes to a member of staff, and one further above it is rejected.
    With no proposal at all, a person decides (``no_limit_proposal``).
    Return None to abstain; a limit is a ``Decimal`` in CNY, zero or more.
    A plugin that raises sends the application to manual review
    (``propose_credit_limit_error``).
    """


# -- Offers: coupons and campaigns, inside the approving transaction --------

if TYPE_CHECKING:
    from lendkit.types import OfferAdjustment, OfferToAdjust


@hookspec
def adjust_offer(
    offer: OfferToAdjust, session: Session, settings: Settings
) -> OfferAdjustment | None:
    """Change an offer before the borrower sees it: a coupon, a campaign rate (优惠券、营销活动).

    Called each time an application is approved (automatically at
    submission, or by a member of staff, who may approve less), inside
    that transaction, after the kernel has priced the product version the
    application was submitted on. Plugins are asked in turn and each sees
    the terms the one before it left (``offer.terms``, ``offer.apr_irr``,
    ``offer.adjustments``). Return an :class:`~lendkit.types.OfferAdjustment`
    with the whole new terms (``dataclasses.replace(offer.terms, ...)``), a
    reason code and a bilingual reason the borrower reads; or None to leave
    the offer alone (not your campaign, no coupon for this borrower).

    The kernel prices the offer again after every adjustment and enforces
    the tenant's rate cap on the final terms: above it, the approval is
    refused with 422 ``rate_above_cap`` naming the adjustments, and nothing
    is written. It also keeps the term and method, never lets the
    principal rise above the amount assessed nor fall below the product's
    minimum, and wants amounts at the fen, non-negative rates and fees and
    an upfront fee below the principal. An adjustment that breaks these
    rules, or a plugin that raises, is dropped (its writes rolled back in a
    savepoint) and recorded in the offer's ``adjustment_errors``; the offer
    goes on without it.

    Every adjustment is kept with the offer (``adjustments``: your plugin's
    name, the reason, the terms and all-in annualized rate before and
    after), shown in the loan agreement, and the loan is booked on the
    adjusted terms. Mark a coupon used in ``session``: it commits with the
    offer, or rolls back with it. ``offer`` carries ids and amounts, never
    personal data; keep personal data out of the reason and reference too.
    """


# -- Contracts: e-signature of loan agreements -----------------------------


@dataclass(frozen=True, slots=True)
class ContractSigner:
    """The borrower who signs, as an e-sign vendor's CA needs him: personal data.

    Vendors issue the signer a certificate bound to his real name and
    resident ID number and confirm by SMS to his mobile. Send these to the
    vendor only; never log them (``lendkit.masking``), never put them in an
    exception message. Left out of ``repr``.
    """

    borrower_id: int
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    phone: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ContractToSign:
    """A rendered loan agreement to have signed by its borrower.

    ``request_no`` numbers this signing attempt: send it to the vendor as
    your order number and expect it back with the result, so a repeated
    request never starts a second signing. ``pdf`` is the agreement exactly
    as the borrower read it, ``sm3`` its SM3 digest (lower-case hex).
    Results go to :meth:`callback_url` of your vendor name.
    """

    request_no: str
    contract_no: str
    loan_id: int
    title: str
    pdf: bytes = field(repr=False)
    sm3: str
    signer: ContractSigner
    callback_base_url: str

    def callback_url(self, vendor: str) -> str:
        """Where vendor ``vendor`` posts its result for this request."""
        return f"{self.callback_base_url.rstrip('/')}/api/contracts/esign/{vendor}/callback"


@dataclass(frozen=True, slots=True)
class SignatureTicket:
    """A vendor's answer to ``sign_contract``: signing has started, or is already over.

    ``vendor`` is your vendor name (the one in the callback URL);
    ``reference`` the vendor's id of the signing, for disputes; ``sign_url``
    the page where the borrower signs (H5), if the vendor has one. A vendor
    that signs at once answers ``signed`` with ``signed_pdf``, or ``failed``
    with a short ``reason`` code. ``sandbox`` marks a signature without legal
    effect (demo and tests): the kernel shows it as such.
    """

    vendor: str
    reference: str
    status: Literal["pending", "signed", "failed"] = "pending"
    sign_url: str = ""
    signed_pdf: bytes | None = field(default=None, repr=False)
    reason: str = ""
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """The outcome of a signing, read from the vendor's verified callback.

    ``request_no`` is the number the kernel gave in :class:`ContractToSign`;
    ``signed_pdf`` the signed document (required with ``signed``): an
    incremental update of the PDF sent, so it begins with exactly its bytes.
    ``reason`` is a short code with ``failed`` (``signer_declined``,
    ``expired``, ...).
    """

    request_no: str
    vendor: str
    reference: str
    status: Literal["signed", "failed"]
    signed_pdf: bytes | None = field(default=None, repr=False)
    reason: str = ""
    sandbox: bool = False


class SignatureCallbackRejected(Exception):
    """Raised by ``parse_signature_callback``: the callback is forged or not understood.

    ``code`` is ``bad_signature`` (the kernel answers 401 ``callback_rejected``)
    or ``bad_format`` (400 ``callback_malformed``).
    """

    def __init__(self, code: Literal["bad_signature", "bad_format"], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@hookspec(firstresult=True)
def sign_contract(contract: ContractToSign, settings: Settings) -> SignatureTicket | None:
    """Have a loan agreement signed by its borrower with an e-sign vendor (电子签约).

    Called when a borrower asks to sign (``POST
    /api/borrowers/me/loans/{loan_id}/contract/sign``), *after* the kernel
    has stored the rendered PDF and recorded the attempt (``requested``) in a
    transaction that has committed: the call runs outside any database
    transaction, so a slow vendor holds no lock (there is no session). Plugins
    are asked in turn; the first non-None :class:`SignatureTicket` wins.
    Return None when the contract is not yours to sign.

    Usually the vendor only accepts the request (``status="pending"``) and
    reports the outcome later by an asynchronous callback to
    ``contract.callback_url(<your vendor name>)``, read by your
    ``parse_signature_callback``. The kernel records the ticket append-only
    in ``contract_signature`` (unless the callback was first). Be
    idempotent by ``contract.request_no``: while an attempt is open the
    kernel asks again with the same number (the borrower asks twice, an
    earlier call was cut short, your service restarted); answer as before,
    never with a second signing. Raise (or let no plugin answer) and the
    borrower gets 503 ``esign_unavailable``; the attempt stays open, so a
    late result still applies and the next request asks again.

    A signed PDF must begin with the exact bytes of ``contract.pdf`` (an
    incremental update, as a PAdES signature is); anything else is recorded
    as failed (``document_altered``) and never counts as signed. Only a
    signature record with the signed PDF's SM3 digest lets the loan be
    disbursed. ``contract.signer`` is personal data: send it to the vendor
    only, never log it.
    """


@hookspec(firstresult=True)
def parse_signature_callback(
    vendor: str, headers: Mapping[str, str], body: bytes, settings: Settings
) -> SignatureResult | None:
    """Verify and read an e-sign vendor's asynchronous result.

    Called for every ``POST /api/contracts/esign/<vendor>/callback``: a
    public route, whose caller is authenticated only by what this hook
    verifies. Return None unless ``vendor`` (from the path) is yours, so the
    next plugin is asked; when nobody answers the vendor gets 404
    ``unknown_esign_vendor``. Verify the vendor's signature over ``headers``
    (lower-case names) and ``body`` before reading anything else, then
    return a :class:`SignatureResult`; raise
    :class:`SignatureCallbackRejected` for a forged or unreadable callback,
    and nothing is written.

    Called before the kernel's transaction touches the database. The kernel
    then applies the result under the contract's row lock, checked against
    its history, so repeated, late or crossed results change nothing (the
    answer is 200 again, so the vendor stops retrying); every applied result
    is audited and published (``loan.contract_signed``,
    ``loan.contract_signature_failed``). Returns the result, or None.
    """


# -- Collections: reaching an overdue borrower (SMS and call plugins) -------


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


@hookspec(firstresult=True)
def contact_borrower(contact: ContactRequest, settings: Settings) -> ContactReceipt | None:
    """Reach an overdue borrower by SMS or phone call for collections (催收短信、外呼).

    Called when a member of staff with ``collections.work`` asks for a
    contact (``POST /api/collections/loans/{loan_id}/contacts/send``),
    *after* the kernel has checked the contact rules (at most three contacts
    a day per borrower, none from 21:00 to 08:00 China time: 429
    ``contact_limit_reached`` or 409 ``contact_quiet_hours``, and no plugin
    is asked) and logged the attempt in a transaction that has committed:
    the call runs outside any database transaction, so a slow vendor holds
    no lock (there is no session). Plugins are asked in turn; the first
    non-None :class:`ContactReceipt` wins. Return None when the channel or
    the borrower is not yours (an SMS vendor asked for a call).

    The receipt is logged append-only beside the attempt. For ``sms``, when
    no plugin answers, the kernel falls back to ``send_notification`` (the
    tenant's ordinary SMS sender). Raise (or let nobody answer a call) and
    the member of staff gets 503 ``contact_unavailable``; the attempt still
    counts towards the day's limit, so retrying never becomes harassment.
    Be idempotent by ``contact.request_no``. Never log ``contact.to``.
    """
