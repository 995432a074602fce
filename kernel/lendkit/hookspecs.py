"""The plugin author's manual: every hook a lendkit plugin can implement.

A plugin is an installable distribution with an entry point in the group
``lendkit`` that names a module (or object) holding hook implementations::

    [project.entry-points.lendkit]
    marketing = "lendkit_marketing.plugin"

Implement a hook by writing a function with the hook's name, marked with
``@lendkit.hookimpl``; you may accept any subset of the arguments below.
The tenant enables plugins by name in ``lendkit.toml``; an installed plugin
that is not enabled is blocked and never imported. Every value a hook takes
or returns is in :mod:`lendkit.types`.

Four kinds of hook (:data:`KINDS`), and when they run:

* **Registration hooks** are called at start-up (or when the kernel first
  needs what they give), outside any transaction. They return data; the
  results of all plugins are combined. One that raises stops start-up.
* **Decision hooks** run inside the caller's database transaction and
  return data. If one raises, the decision fails safe: it never approves.
* **Delivery hooks** hand something to a vendor now (a message, a contract
  to sign, a collections call); the first plugin that answers wins.
* **Event hooks** are delivered *after commit* from the transactional
  outbox: retried with back-off, at least once, so make them idempotent with
  ``event.id``. A failing event hook never rolls back the change that
  raised the event; after the last retry the delivery goes to the
  dead-letter list (``lendkit outbox dead``).

Every docstring below follows one template: a summary line; ``Called:``
when, and in which transaction; ``Returns:`` what, and whether the first
result wins or all are combined; ``If it raises:`` what follows; then the
details and one ``:param name:`` line per argument (a test checks).

A plugin's options are not a hook: give the plugin module an ``OPTIONS``
attribute, a pydantic model, and the tenant's ``[plugins.options.<name>]``
section is validated by it at start-up (``settings.plugins.options[<name>]``
is the validated model). Database migrations are not a hook either: ship an
Alembic branch in ``<your package>/migrations/versions`` with
``branch_labels = ("<plugin name>",)`` and ``depends_on = "kernel"``. The
host finds it without importing your plugin, so a disabled plugin keeps its
tables and history.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

from lendkit import PROJECT_NAME

# Values that hooks exchange, importable from here too: plugins written
# before they moved to lendkit.types import them from this module.
from lendkit.types import (
    ContactReceipt,
    ContactRequest,
    ContractSigner,
    ContractToSign,
    IdentityClaim,
    IdentityVerdict,
    SignatureCallbackRejected,
    SignatureResult,
    SignatureTicket,
)

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler
    from sqlalchemy.orm import Session

    from lendkit.settings import Settings
    from lendkit.types import (
        AccountSpec,
        Applicant,
        ComplianceItem,
        CreditReport,
        Event,
        Job,
        KeyWrapper,
        LimitProposal,
        OfferAdjustment,
        OfferToAdjust,
        Page,
        PaymentChannel,
        Permission,
        ProductSpec,
        RiskSignal,
    )

__all__ = [
    "KINDS",
    "ContactReceipt",
    "ContactRequest",
    "ContractSigner",
    "ContractToSign",
    "IdentityClaim",
    "IdentityVerdict",
    "SignatureCallbackRejected",
    "SignatureResult",
    "SignatureTicket",
    "hookspec",
]

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

# Each hook's kind, in the order the sections below define them.
KINDS: Mapping[str, tuple[str, ...]] = {
    "registration": (
        "register_routes",
        "register_templates",
        "register_permissions",
        "register_products",
        "register_accounts",
        "register_pages",
        "compliance_items",
        "register_jobs",
        "register_channels",
        "seed_demo",
        "key_wrapper",
    ),
    "decision": (
        "verify_identity",
        "credit_report",
        "enrich_applicant",
        "assess_application",
        "propose_credit_limit",
        "adjust_offer",
        "parse_signature_callback",
    ),
    "delivery": ("send_notification", "sign_contract", "contact_borrower"),
    "event": ("on_loan_event", "on_payment_event", "on_end_of_day"),
}


# == Registration hooks: what a plugin brings, gathered at start-up ==========


@hookspec
def register_routes() -> list[ControllerRouterHandler]:
    """Return Litestar route handlers, controllers or routers to mount.

    Called: once when the web app is built, outside any transaction.

    Returns: handlers of all plugins, mounted side by side; two plugins
    claiming the same path is a start-up error.

    If it raises: the app is not built and start-up stops.

    Every handler must declare its permission in ``opt`` (see the
    data-protection guide); paths should start with ``/api/<plugin>/`` or
    ``/<plugin>/``. A disabled plugin's routes are not mounted, so they
    answer 404.
    """


@hookspec
def register_templates() -> list[Path]:
    """Return folders of Jinja2 templates this plugin ships.

    Called: once when the template environment is built, outside any
    transaction.

    Returns: folders of all plugins, searched in registration order after
    the tenant's ``templates/`` and before the kit's defaults.

    If it raises: the app is not built and start-up stops.

    A plugin may override a kit template by using its name, and a tenant
    may override either.
    """


@hookspec
def register_permissions() -> list[Permission]:
    """Return the permissions this plugin's routes declare, with their roles.

    Called: once when the web app is built, outside any transaction.

    Returns: permissions of all plugins, added to the kernel's permission
    matrix (``lendkit.auth.permissions``), so a plugin never edits the kernel
    to guard its routes.

    If it raises: the app is not built and start-up stops.

    Names must be new (a clash with the kernel's or another plugin's is a
    start-up error) and roles must be staff roles; admins hold every
    permission. A route naming a permission nobody registered is refused
    with 403.
    """


@hookspec
def register_products() -> list[ProductSpec]:
    """Return the loan products this plugin brings: a product type of its own.

    Called: whenever the kernel lists or finds products, inside the caller's
    transaction (keep it cheap and constant).

    Returns: products of all plugins, combined with the products table.

    If it raises: the listing or lookup that asked fails (a 500 on a route).

    For plugins whose product is code (a merchant cash-flow loan); an
    ordinary product is data, which staff manage through the products API
    and a tenant seeds from ``[[products]]`` in ``lendkit.toml``. Product
    codes are unique across the tenant: two plugins with one code is a
    start-up error, the products API refuses to create a code a plugin
    registers (409 ``product_not_managed``), and a plugin enabled with a
    code the table holds stops ``lendkit db upgrade``. A plugin's product
    has no version (``None`` on applications and loans) and cannot be
    changed or retired through the API; loans copy its terms when booked,
    so changing them in a new release changes no loan.
    """


@hookspec
def register_accounts() -> list[AccountSpec]:
    """Return the ledger accounts this plugin posts to through :mod:`lendkit.ledger`.

    Called: once at start-up, when the runtime opens, outside any
    transaction.

    Returns: accounts of all plugins, kept as ``<plugin>.<name>`` beside the
    kernel's chart and never in it.

    If it raises: the runtime does not open and start-up stops.

    Each :class:`~lendkit.types.AccountSpec` names an account within the
    plugin (``marketing_expense``), or a family of them with ``per``
    (``referral_payable`` per ``"borrower"``: postings name
    ``referral_payable:<borrower id>``), its type and the side its balance
    normally lies on. A plugin posts only to the accounts it declares here,
    never to the kernel's (fund pools, loan receivables, income), and the
    trial balance shows them with the rest. A name declared twice by one
    plugin is a start-up error. Post with ``lendkit.ledger.post``
    (balanced, idempotent by key) and read balances with
    ``lendkit.ledger.balance``; plugins never import the kernel's clearing
    modules.
    """


@hookspec
def register_pages() -> list[Page]:
    """Return the pages this plugin adds to the staff console and to the borrower's site.

    Called: once when the web app is built, outside any transaction.

    Returns: pages of all plugins, each served at its ``path``
    (``/console/<plugin>/...`` for staff, ``/h5/<plugin>/...`` for borrowers)
    inside the kit's layout, with the area's menu.

    If it raises: the app is not built and start-up stops.

    Each :class:`~lendkit.types.Page` renders the plugin's template, holding
    the page's content only. The menu lists every page of the area whose
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

    Called: when the compliance package is generated, outside any
    transaction.

    Returns: items of all plugins, one row per item, so the package always
    lists what the tenant has enabled.

    If it raises: the compliance package is not generated.
    """


@hookspec
def register_jobs() -> list[Job]:
    """Return scheduled jobs for the worker (``lendkit worker``).

    Called: once when each worker starts (``lendkit worker``, ``lendkit
    serve --with-worker``), outside any transaction.

    Returns: jobs of all plugins; job names are unique across plugins.

    If it raises: the worker does not start. A *job* that raises is logged,
    recorded as failed, and tried in its next slot.

    Each job runs once per slot of ``job.every`` however many workers run:
    the worker that claims the slot in the database runs it, outside any
    request, one job at a time (``every_worker=True`` jobs run in every
    worker instead). ``job.run`` receives a :class:`~lendkit.types.JobContext`
    (session factories, settings, business date, hooks, logger), never the
    kernel's runtime. A job opens its own transactions and must be
    idempotent, because after a worker crashes another runs the slot again.
    """


@hookspec
def register_channels(settings: Settings) -> list[PaymentChannel]:
    """Return the payment channels (gateways) this plugin provides.

    Called: once per process, the first time the kernel needs a channel (the
    payment worker, the callback route, reconciliation), outside any
    transaction.

    Returns: channels of all plugins, combined; channel names are unique
    across the tenant (a duplicate is a start-up error).

    If it raises: the first use of payments fails, and no channel is known.

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

    :param settings: the tenant's settings; read your options from
        ``settings.plugins.options[<your plugin>]``.
    """


@hookspec
def seed_demo(session: Session, settings: Settings) -> None:
    """Add this plugin's demo data to a freshly created demo tenant.

    Called: once by the demo launcher (``lendkit-demo``, ``make demo``) when
    it creates the demo tenant, inside the seeding transaction; never on a
    real tenant.

    Returns: nothing; the transaction commits after every plugin returns.

    If it raises: the seeding transaction rolls back and the demo does not
    start.

    The kernel seeds nothing itself; the plugin that seeds the demo's people
    implements this hook with ``tryfirst=True`` so others can refer to them.

    :param session: the seeding transaction.
    :param settings: the demo tenant's settings.
    """


@hookspec(firstresult=True)
def key_wrapper(settings: Settings) -> KeyWrapper | None:
    """Return the wrapper of data keys: an external KMS or HSM.

    Called: once, when the tenant's key ring is first used, outside any
    transaction.

    Returns: the first non-None result wins; plugins are asked before the
    built-in local master key, which reads ``[keys]`` from the settings.

    If it raises: the key ring cannot open, and nothing encrypted can be
    read or written.

    Data keys are wrapped by it when created and unwrapped when loaded; its
    ``name`` is stored beside each wrapped key. Changing wrappers needs a
    key rotation.

    :param settings: the tenant's settings.
    """


# == Decision hooks: data for a decision, inside the caller's transaction ====


@hookspec(firstresult=True)
def verify_identity(
    claim: IdentityClaim, session: Session, settings: Settings
) -> IdentityVerdict | None:
    """Check a borrower's real-name claim with an identity vendor (实名核验).

    Called: when a borrower submits his real-name details, inside the
    request's transaction, after the kernel has validated their form and
    recorded the borrower's consent to the privacy policy; a plugin's own
    writes run in a savepoint.

    Returns: the first non-None :class:`~lendkit.types.IdentityVerdict` wins;
    return None when the claim is not yours to check (a vendor that only
    covers some cards, or is switched off).

    If it raises: its savepoint rolls back and the borrower goes to
    ``review`` (reason ``verifier_error``); with no answer at all, reason
    ``no_verifier``. Never ``verified``.

    Plugins are asked in turn: an ID-and-face vendor (公安身份核验, 人脸比对),
    a four-element bank-card check, a sandbox. The kernel records the
    verdict append-only in ``kyc_transition``, moves the borrower to
    ``verified``, ``rejected`` or ``review``, audits it and publishes
    ``borrower.verified``, ``borrower.rejected`` or ``borrower.review``. Set
    ``sandbox=True`` on a verdict that proves nothing.

    :param claim: name, resident ID number, bank card and the card's mobile
        number: personal data, send it only to the vendor, never log it.
    :param session: the request's transaction (keep your call records there).
    :param settings: the tenant's settings, with your options.
    """


# Credit assessment: asked in this order for each application by
# ``lendkit.lifecycle.credit``: credit_report, enrich_applicant,
# assess_application, propose_credit_limit. The kernel calls each plugin on
# its own, in a savepoint: one that raises, or answers something else than
# its hook promises, has its writes rolled back, is recorded with its error,
# and sends the application to manual review. Nothing a plugin does can make
# the kernel approve in its place.


@hookspec(firstresult=True)
def credit_report(
    applicant: Applicant, session: Session, settings: Settings
) -> CreditReport | None:
    """Fetch the borrower's credit report from a bureau (征信查询).

    Called: once per application, inside the submitting request's
    transaction, only after the kernel has found the borrower's active
    ``credit_query`` consent (征信业管理条例 Art. 29: without it no plugin is
    asked and the borrower gets 403 ``consent_required``).

    Returns: the first non-None :class:`~lendkit.types.CreditReport` wins;
    return None when this borrower is not yours to query (a bureau that is
    switched off, or covers only some borrowers). With no report the policy
    sends the application to manual review (``no_credit_report``).

    If it raises: the application goes to manual review with the error.

    Look the borrower up with :func:`lendkit.views.borrower` if your bureau
    needs his name and ID number, send them only to the bureau, and never
    log them or put them in the report or in an exception message. Set
    ``sandbox=True`` on a made-up report.

    :param applicant: ids and amounts, and in ``applicant.client`` the
        device and network facts the borrower's app sent
        (:class:`~lendkit.types.ClientContext`: personal, left out of ``repr``).
    :param session: the request's transaction; keep your query log there.
    :param settings: the tenant's settings, with your options.
    """


@hookspec
def enrich_applicant(
    applicant: Applicant, report: CreditReport | None, session: Session, settings: Settings
) -> Mapping[str, str] | None:
    """Add facts about the applicant for the hooks that follow (device, anti-fraud, income …).

    Called: once per application, after ``credit_report`` and before
    ``assess_application``, inside the request's transaction.

    Returns: all plugins' mappings of string keys to string values are
    combined into ``applicant.attributes`` for the later hooks; a key two
    plugins give keeps the first plugin's value. Return None to add nothing.

    If it raises: the application goes to manual review
    (``enrich_applicant_error``).

    Count by device with :func:`lendkit.views.borrowers_on_device`. The
    attributes are kept in the decision record, shown to staff: never put
    personal data in them (``applicant.client``'s device id, addresses and
    location are left out of the record for that reason).

    :param applicant: the application; ``applicant.client`` holds what the
        app sent (device fingerprint, claimed and seen IP address, coarse
        location, user agent, app version).
    :param report: the winning credit report, or None.
    :param session: the request's transaction.
    :param settings: the tenant's settings, with your options.
    """


@hookspec
def assess_application(
    applicant: Applicant, report: CreditReport | None, session: Session, settings: Settings
) -> RiskSignal | None:
    """Judge an application: a :class:`~lendkit.types.RiskSignal` of pass, review or reject.

    Called: once per application, after ``enrich_applicant`` (so
    ``applicant.attributes`` holds the enrichment), inside the request's
    transaction.

    Returns: every plugin is asked and every signal counts: one ``reject``
    rejects the application, one ``review`` sends it to a member of staff,
    ``pass`` changes nothing; the kernel's own policy (score, delinquencies,
    debt to income, the limit) applies besides. Return None to abstain.

    If it raises: (or returns anything but a ``RiskSignal``) the application
    goes to manual review (``assess_application_error``), never to approval.

    Give reason codes with ``review`` and ``reject``: they are stored with
    your plugin's name in the decision record.

    :param applicant: the application, with the enrichment's attributes.
    :param report: the winning credit report, or None.
    :param session: the request's transaction.
    :param settings: the tenant's settings, with your options.
    """


@hookspec
def propose_credit_limit(
    applicant: Applicant, report: CreditReport | None, session: Session, settings: Settings
) -> LimitProposal | None:
    """Propose the most this borrower may borrow: a :class:`~lendkit.types.LimitProposal`.

    Called: once per application, last of the credit hooks, inside the
    request's transaction.

    Returns: every plugin is asked and the least proposal wins (rounded down
    to the policy's step). Return None to abstain; with no proposal at all,
    a person decides (``no_limit_proposal``).

    If it raises: the application goes to manual review
    (``propose_credit_limit_error``).

    An amount within the limit may be approved automatically, one a little
    above it (the policy's review band) goes to a member of staff, and one
    further above it is rejected. A limit is a ``Decimal`` in CNY, zero or
    more.

    :param applicant: the application, with the enrichment's attributes.
    :param report: the winning credit report, or None.
    :param session: the request's transaction.
    :param settings: the tenant's settings, with your options.
    """


@hookspec
def adjust_offer(
    offer: OfferToAdjust, session: Session, settings: Settings
) -> OfferAdjustment | None:
    """Change an offer before the borrower sees it: a coupon, a campaign rate (优惠券、营销活动).

    Called: each time an application is approved (automatically at
    submission, or by a member of staff, who may approve less), inside that
    transaction, after the kernel has priced the product version the
    application was submitted on; each plugin in a savepoint.

    Returns: plugins are asked in turn and each sees the terms the one
    before it left; return an :class:`~lendkit.types.OfferAdjustment` with
    the whole new terms (``dataclasses.replace(offer.terms, ...)``), a reason
    code and a bilingual reason the borrower reads, or None to leave the
    offer alone (not your campaign, no coupon for this borrower).

    If it raises: (or breaks the rules below) the adjustment is dropped, its
    writes rolled back in the savepoint, and recorded in the offer's
    ``adjustment_errors``; the offer goes on without it.

    The kernel prices the offer again after every adjustment and enforces
    the tenant's rate cap on the final terms: above it, the approval is
    refused with 422 ``rate_above_cap`` naming the adjustments, and nothing
    is written. It also keeps the term and method, never lets the principal
    rise above the amount assessed nor fall below the product's minimum,
    and wants amounts at the fen, non-negative rates and fees and an upfront
    fee below the principal. Every adjustment is kept with the offer
    (``adjustments``: your plugin's name, the reason, the terms and all-in
    annualized rate before and after), shown in the loan agreement, and the
    loan is booked on the adjusted terms.

    :param offer: ids and amounts (``offer.terms``, ``offer.apr_irr``,
        ``offer.adjustments``), never personal data; keep personal data out
        of the reason and reference too.
    :param session: the approving transaction: mark a coupon used here, it
        commits with the offer or rolls back with it.
    :param settings: the tenant's settings, with your options.
    """


@hookspec(firstresult=True)
def parse_signature_callback(
    vendor: str, headers: Mapping[str, str], body: bytes, settings: Settings
) -> SignatureResult | None:
    """Verify and read an e-sign vendor's asynchronous result.

    Called: for every ``POST /api/contracts/esign/<vendor>/callback`` (a
    public route, whose caller is authenticated only by what this hook
    verifies), before the kernel's transaction touches the database.

    Returns: the first non-None :class:`~lendkit.types.SignatureResult`
    wins; return None unless ``vendor`` is yours, so the next plugin is
    asked. When nobody answers the vendor gets 404 ``unknown_esign_vendor``.

    If it raises: :class:`~lendkit.types.SignatureCallbackRejected` answers
    401 ``callback_rejected`` (``bad_signature``) or 400
    ``callback_malformed`` (``bad_format``), and nothing is written.

    Verify the vendor's signature over ``headers`` and ``body`` before
    reading anything else. The kernel then applies the result under the
    contract's row lock, checked against its history, so repeated, late or
    crossed results change nothing (the answer is 200 again, so the vendor
    stops retrying); every applied result is audited and published
    (``loan.contract_signed``, ``loan.contract_signature_failed``).

    :param vendor: the vendor name from the path.
    :param headers: the request's headers, lower-case names.
    :param body: the raw request body.
    :param settings: the tenant's settings, with your options.
    """


# == Delivery hooks: hand something to a vendor now; the first answer wins ===


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

    Called: synchronously while the kernel's transaction is open (not
    through the outbox: a one-time code must never be stored in clear to be
    sent later), and never retried: delivery is at most once, and the
    person asks again.

    Returns: plugins are asked in turn; the first non-None result (the
    vendor's message id, once you have handed the message over) wins;
    return None to let the next plugin try. When no plugin answers, the
    person gets 503 ``notification_failed`` and nothing is kept.

    If it raises: the caller's transaction rolls back and the person gets
    503 ``notification_failed``.

    The kernel has no sender of its own: a demo enables a stand-in sender
    plugin (``hookimpl(trylast=True)``) that keeps messages instead;
    ``lendkit.auth.notify.render`` gives a template's text.

    :param channel: ``"sms"``.
    :param to: an 11-digit mobile number: personal data, mask it in logs
        with ``lendkit.masking.mask_phone``.
    :param template: a kernel template name such as ``"otp_login"``, to map
        to your vendor's registered template.
    :param params: the template's values, which may be a one-time code:
        never log or store them in clear.
    :param session: the caller's transaction, for bookkeeping rows that
        commit with it.
    :param settings: the tenant's settings, with your options.
    """


@hookspec(firstresult=True)
def sign_contract(contract: ContractToSign, settings: Settings) -> SignatureTicket | None:
    """Have a loan agreement signed by its borrower with an e-sign vendor (电子签约).

    Called: when a borrower asks to sign (``POST
    /api/borrowers/me/loans/{loan_id}/contract/sign``), *after* the kernel
    has stored the rendered PDF and recorded the attempt (``requested``) in
    a transaction that has committed: outside any database transaction, so
    a slow vendor holds no lock (there is no session).

    Returns: plugins are asked in turn; the first non-None
    :class:`~lendkit.types.SignatureTicket` wins. Return None when the
    contract is not yours to sign.

    If it raises: (or no plugin answers) the borrower gets 503
    ``esign_unavailable``; the attempt stays open, so a late result still
    applies and the next request asks again.

    Usually the vendor only accepts the request (``status="pending"``) and
    reports the outcome later by an asynchronous callback to
    ``contract.callback_url(<your vendor name>)``, read by your
    ``parse_signature_callback``. The kernel records the ticket append-only
    in ``contract_signature`` (unless the callback was first). Be idempotent
    by ``contract.request_no``: while an attempt is open the kernel asks
    again with the same number; answer as before, never with a second
    signing. A signed PDF must begin with the exact bytes of
    ``contract.pdf`` (an incremental update, as a PAdES signature is);
    anything else is recorded as failed (``document_altered``) and never
    counts as signed. Only a signature record with the signed PDF's SM3
    digest lets the loan be disbursed.

    :param contract: the rendered agreement and its signer;
        ``contract.signer`` is personal data: send it to the vendor only,
        never log it.
    :param settings: the tenant's settings, with your options.
    """


@hookspec(firstresult=True)
def contact_borrower(contact: ContactRequest, settings: Settings) -> ContactReceipt | None:
    """Reach an overdue borrower by SMS or phone call for collections (催收短信、外呼).

    Called: when a member of staff with ``collections.work`` asks for a
    contact (``POST /api/collections/loans/{loan_id}/contacts/send``),
    *after* the kernel has checked the contact rules (at most three contacts
    a day per borrower, none from 21:00 to 08:00 China time: 429
    ``contact_limit_reached`` or 409 ``contact_quiet_hours``, and no plugin
    is asked) and logged the attempt in a transaction that has committed:
    outside any database transaction, so a slow vendor holds no lock (there
    is no session).

    Returns: plugins are asked in turn; the first non-None
    :class:`~lendkit.types.ContactReceipt` wins, logged append-only beside
    the attempt. Return None when the channel or the borrower is not yours
    (an SMS vendor asked for a call). For ``sms``, when no plugin answers,
    the kernel falls back to ``send_notification``.

    If it raises: (or nobody answers a call) the member of staff gets 503
    ``contact_unavailable``; the attempt still counts towards the day's
    limit, so retrying never becomes harassment.

    Be idempotent by ``contact.request_no``.

    :param contact: the attempt; ``contact.to`` is personal data: never log
        it.
    :param settings: the tenant's settings, with your options.
    """


# == Event hooks: delivered after commit from the outbox =====================


@hookspec
def on_loan_event(event: Event, session: Session) -> None:
    """React to a committed step of the borrower and loan lifecycle.

    Called: after commit, by the outbox dispatcher in the worker, inside the
    delivery's own transaction (a savepoint): rows you write there commit
    together with the delivery being marked done, so database effects
    happen exactly once.

    Returns: nothing. Each plugin's delivery is tracked on its own, so one
    failing plugin never delays or repeats another's.

    If it raises: your writes are rolled back and the delivery is retried
    with exponential back-off; after the last attempt it is dead-lettered
    (``lendkit outbox dead``).

    Topics look like ``borrower.registered``, ``application.approved``,
    ``loan.disbursed`` or ``product.updated`` (``product.created``,
    ``product.updated`` and ``product.retired`` carry the product's code,
    version, status and terms). ``loan.disbursed`` (the borrower has the
    money, the schedule runs) carries ``loan_id``, ``borrower_id``,
    ``product_code``, ``principal`` and ``net_disbursed`` (CNY as strings),
    ``business_date`` and the application's ``referral_code`` (or None), so
    a referral or marketing plugin needs nothing else; read more through
    :mod:`lendkit.views`. Side effects outside the database (an SMS, an
    upload) may repeat after a crash: make them idempotent with ``event.id``.
    A plugin that needs only some topics declares them as prefixes in a
    module-level ``EVENT_TOPICS`` tuple (e.g. ``("loan.overdue",
    "loan.cured")``) and gets deliveries of those only; without it, it gets
    every topic of the hook.

    :param event: the committed event; ``event.payload`` carries ids and
        amounts, never personal data.
    :param session: the delivery's own transaction.
    """


@hookspec
def on_payment_event(event: Event, session: Session) -> None:
    """React to a committed step of a payment order or of reconciliation.

    Called: after commit, by the outbox dispatcher, inside the delivery's
    own transaction, like ``on_loan_event``.

    Returns: nothing.

    If it raises: your writes are rolled back and the delivery is retried
    with back-off, then dead-lettered.

    Topics: ``payment.disbursed`` (the borrower has the money),
    ``payment.collected`` (a repayment reached the channel and sits in the
    borrower's suspense account: the loan lifecycle allocates it to the
    loan), ``payment.failed`` (the order failed, or reconciliation reversed
    it: ``status`` says which; a disbursement's funds are back in the
    pools) and ``payment.reconciled`` (one channel's statement for one
    business date was matched; the payload counts the exceptions).
    Deliveries are at least once: make side effects idempotent with
    ``event.id``.

    :param event: the committed event; ``event.payload`` carries the order
        number, loan id, kind, channel and amount as a string, never the
        payee's name or card.
    :param session: the delivery's own transaction.
    """


@hookspec
def on_end_of_day(business_date: date, event: Event, session: Session) -> None:
    """React to a business date that has closed: build daily files and reports.

    Called: after commit, by the outbox dispatcher, inside the delivery's
    own transaction, once the last chunk of end of day for
    ``business_date`` is done (topic ``eod.closed``): accrual, due dates,
    overdue, penalty and classification have all been applied and
    committed, so what you read for that date no longer changes.

    Returns: nothing.

    If it raises: your writes are rolled back and the delivery is retried
    with back-off, then dead-lettered.

    Raised exactly once per date: rerunning a finished day, or several
    workers finishing it together, raises nothing new. Deliveries are at
    least once: make files and uploads idempotent with ``event.id`` or the
    date.

    :param business_date: the date that closed.
    :param event: the ``eod.closed`` event; ``event.payload`` holds
        ``business_date`` (ISO), ``loans`` (how many running loans the day
        covered) and ``counts`` (how many loans moved, by kind:
        ``accrued``, ``overdue``, ...).
    :param session: the delivery's own transaction.
    """
