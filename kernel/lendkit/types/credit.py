"""Credit assessment and offers (``credit_report`` … ``propose_credit_limit``, ``adjust_offer``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    pass

__all__ = [
    "Applicant",
    "ClientContext",
    "CreditReport",
    "LimitProposal",
    "OfferAdjustment",
    "OfferTerms",
    "OfferToAdjust",
    "RiskOutcome",
    "RiskSignal",
]


# -- Credit assessment (the credit_report, enrich_applicant, assess_application
#    and propose_credit_limit hooks) ------------------------------------------

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
