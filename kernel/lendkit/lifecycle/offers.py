"""Offer adjustments: coupons and campaigns change an offer through ``adjust_offer``.

When an application is approved (automatically or by a person) its offer is
priced on the product version it was submitted on, then every
``adjust_offer`` plugin is asked in turn, each seeing the terms the one
before it left. After each adjustment the offer is priced again and its
all-in annualized rate recomputed; the cap is enforced on the final terms
(422 ``rate_above_cap``, naming the adjustments: the approval is refused
and nothing is written). The adjustments are kept with the offer, each
with its plugin, reason, terms and rate before and after, and shown in the
loan agreement; the loan is booked on the adjusted terms.

The kernel enforces what no plugin may change: the term and method stay the
borrower's, the principal never rises above what was assessed (caps and
the credit limit were decided on it) nor falls below the product's
minimum, amounts are at the fen, rates and fees are not negative and the
upfront fee leaves something to lend. A plugin that raises, or answers
something else than a valid :class:`~lendkit.types.OfferAdjustment`, has its
writes rolled back (a savepoint) and its adjustment dropped, recorded in
the offer's ``adjustment_errors``: a broken coupon never blocks lending.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

import pluggy
from pluggy import HookImpl
from sqlalchemy.orm import Session

from lendkit.clearing.money import money
from lendkit.clock import china_today
from lendkit.errors import ValidationFailed
from lendkit.lifecycle.application_models import Application
from lendkit.lifecycle.pricing import Quote, check_rate_cap, rate_cap_breach
from lendkit.lifecycle.product_rules import RATE_DECIMALS, price
from lendkit.lifecycle.products import Product
from lendkit.masking import mask_text
from lendkit.row_values import from_fields
from lendkit.settings import Settings
from lendkit.types import OfferAdjustment, OfferTerms, OfferToAdjust

__all__ = [
    "Adjusted",
    "adjust",
    "make_offer",
    "offer_detail",
    "offer_ttl",
    "price_offer",
    "terms_json",
]

log = logging.getLogger(__name__)
_REASON_CODE: Final = re.compile(r"[a-z0-9_]{1,40}")
_MAX_REASON: Final = 200
_MAX_REFERENCE: Final = 64
_MAX_ERROR: Final = 300


@dataclass(frozen=True, slots=True)
class Adjusted:
    """The offer after every plugin: its terms, its quote, and what changed it."""

    terms: OfferTerms
    quote: Quote
    adjustments: list[dict[str, Any]]  # kept with the offer, shown in the contract
    errors: list[dict[str, str]]  # adjustments dropped: plugin and why


def _terms(quote: Quote) -> OfferTerms:
    return from_fields(OfferTerms, quote.schedule)


def terms_json(terms: OfferTerms) -> dict[str, Any]:
    """Terms as JSON values: amounts and rates as decimal strings."""
    return {
        f.name: str(getattr(terms, f.name))
        if isinstance(getattr(terms, f.name), Decimal)
        else getattr(terms, f.name)
        for f in fields(terms)
    }


def _fen(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value == money(value)


def _problem(answer: object, current: OfferTerms, ceiling: Decimal, product: Product) -> str | None:
    """Why ``answer`` is not an adjustment the kernel accepts, or None."""
    if not isinstance(answer, OfferAdjustment) or not isinstance(answer.terms, OfferTerms):
        return f"bad_result: adjust_offer cannot answer a {type(answer).__name__}"
    new = answer.terms
    if not isinstance(answer.reason_code, str) or not _REASON_CODE.fullmatch(answer.reason_code):
        return "bad_reason_code: 1 to 40 lower-case letters, digits or underscores"
    if not isinstance(answer.reason, str) or not 1 <= len(answer.reason.strip()) <= _MAX_REASON:
        return f"bad_reason: text of 1 to {_MAX_REASON} characters"
    if not isinstance(answer.reference, str) or len(answer.reference) > _MAX_REFERENCE:
        return f"bad_reference: text of at most {_MAX_REFERENCE} characters"
    if (new.term, new.method) != (current.term, current.method):
        return "term_or_method_changed: the term and method are the borrower's"
    if not all(_fen(v) for v in (new.principal, new.upfront_fee, new.instalment_fee)):
        return "bad_amount: the principal and fees must be Decimal CNY at the fen"
    if not product.spec.min_amount <= new.principal <= ceiling:
        return (
            f"principal_out_of_range: from {product.spec.min_amount} to {ceiling} "
            "(never above the amount assessed)"
        )
    if new.upfront_fee < 0 or new.instalment_fee < 0 or new.upfront_fee >= new.principal:
        return "bad_fee: fees are zero or more, the upfront fee less than the principal"
    rate = new.annual_rate
    if not (isinstance(rate, Decimal) and rate.is_finite() and 0 <= rate < 1):
        return "bad_rate: the annual rate is a Decimal fraction from 0 to less than 1"
    if rate != round(rate, RATE_DECIMALS):
        return f"bad_rate: at most {RATE_DECIMALS} decimal places"
    return None


def _reprice(product: Product, terms: OfferTerms, start: date) -> Quote:
    return price(
        product.spec,
        terms.principal,
        terms.term,
        terms.method,
        start,
        annual_rate=terms.annual_rate,
        upfront_fee=terms.upfront_fee,
        instalment_fee=terms.instalment_fee,
    )


def adjust(
    session: Session,
    pm: pluggy.PluginManager,
    settings: Settings,
    *,
    application_id: int,
    borrower_id: int,
    product: Product,
    priced: Quote,
) -> Adjusted:
    """Ask every ``adjust_offer`` plugin in turn, then enforce the cap on the result.

    ``priced`` is the product's own offer; its start date prices every
    adjusted offer. Raises 422 ``rate_above_cap`` when the adjusted offer is
    above the tenant's cap.
    """
    start = priced.schedule.start
    terms, quote = _terms(priced), priced
    ceiling = terms.principal
    made: list[OfferAdjustment] = []
    records: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for impl in reversed(pm.hook.adjust_offer.get_hookimpls()):
        if impl.wrapper or impl.hookwrapper:
            continue
        offer = OfferToAdjust(
            application_id=application_id,
            borrower_id=borrower_id,
            product_code=product.code,
            product_version=product.version,
            terms=terms,
            apr_irr=quote.rate.apr_irr,
            adjustments=tuple(made),
        )
        arguments = {"offer": offer, "session": session, "settings": settings}
        outcome = _ask(impl, session, arguments, terms, ceiling, product, start)
        if outcome is None:
            continue
        if isinstance(outcome, str):
            # Its writes were rolled back with the savepoint; the offer goes on without it.
            log.warning(
                "offer adjustment dropped",
                extra={"plugin": impl.plugin_name, "application_id": application_id},
            )
            errors.append({"source": impl.plugin_name, "error": outcome[:_MAX_ERROR]})
            continue
        answer, adjusted = outcome
        records.append(
            {
                "source": impl.plugin_name,
                "reason_code": answer.reason_code,
                "reason": answer.reason.strip(),
                "reference": answer.reference,
                "before": terms_json(terms),
                "after": terms_json(answer.terms),
                "apr_before": str(quote.rate.apr_irr),
                "apr_after": str(adjusted.rate.apr_irr),
            }
        )
        made.append(answer)
        terms, quote = answer.terms, adjusted
    if records:
        _check_cap(quote, records, settings, start)
    return Adjusted(terms=terms, quote=quote, adjustments=records, errors=errors)


class _Dropped(Exception):
    """An answer the kernel refuses: raised inside the savepoint to roll the plugin back."""


def _ask(
    impl: HookImpl,
    session: Session,
    arguments: Mapping[str, object],
    current: OfferTerms,
    ceiling: Decimal,
    product: Product,
    start: date,
) -> tuple[OfferAdjustment, Quote] | str | None:
    """One plugin's adjustment and the offer priced on it; why it was dropped; or None."""
    try:
        with session.begin_nested():
            answer = impl.function(
                *[arguments[name] for name in impl.argnames],
                **{k: arguments[k] for k in impl.kwargnames if k in arguments},
            )
            if answer is None:
                return None
            problem = _problem(answer, current, ceiling, product)
            if problem is not None:
                raise _Dropped(problem)
            assert isinstance(answer, OfferAdjustment)
            return answer, _reprice(product, answer.terms, start)
    except _Dropped as exc:
        return str(exc)
    except Exception as exc:
        return f"{type(exc).__name__}: {mask_text(str(exc))}"


def _check_cap(quote: Quote, records: list[dict[str, Any]], settings: Settings, on: date) -> None:
    breach = rate_cap_breach(quote.rate, settings, on=on)
    if breach is not None:
        zh, en = breach
        by = ", ".join(f"{r['source']} ({r['reason_code']})" for r in records)
        raise ValidationFailed(
            f"经报价调整（{by}）后，{zh} / after the offer adjustments by {by}, {en}",
            code="rate_above_cap",
        )


# -- Making the offer ----------------------------------------------------------------


def offer_ttl(settings: Settings) -> timedelta:
    """How long an offer stays open: ``[lifecycle] offer_ttl_days`` (7 by default)."""
    return timedelta(days=settings.lifecycle.offer_ttl_days)


def price_offer(
    product: Product, amount: Decimal, term: int, method: str, settings: Settings, now: datetime
) -> Quote:
    """The product's own offer: schedule and annualized rate (422 ``rate_above_cap``)."""
    today = china_today(now)
    priced = price(product.spec, amount, term, method, today)
    check_rate_cap(priced.rate, settings, on=today)
    return priced


def make_offer(
    session: Session,
    pm: pluggy.PluginManager,
    app: Application,
    product: Product,
    priced: Quote,
    settings: Settings,
    now: datetime,
) -> None:
    """Adjust the product's offer through the plugins (the cap on the result) and keep it."""
    adjusted = adjust(
        session,
        pm,
        settings,
        application_id=app.id,
        borrower_id=app.borrower_id,
        product=product,
        priced=priced,
    )
    final = adjusted.quote
    schedule = final.schedule
    app.approved_amount = schedule.principal
    app.annual_rate = schedule.annual_rate
    app.upfront_fee = schedule.upfront_fee
    app.instalment_fee = schedule.instalment_fee
    app.apr_irr = final.rate.apr_irr
    app.apr_simple = final.rate.apr_simple
    app.offer = final.as_json() | {
        "product_version": product.version,
        "principal": str(schedule.principal),
        "term": schedule.term,
        "method": schedule.method,
        "annual_rate": str(schedule.annual_rate),
        "upfront_fee": str(schedule.upfront_fee),
        "instalment_fee": str(schedule.instalment_fee),
        "net_disbursed": str(schedule.net_disbursed),
        "start": schedule.start.isoformat(),
        "apr_simple_label": "单利 simple rate",
        # The product's own rate, then each plugin's change with the rate after it.
        "base_apr_irr": str(priced.rate.apr_irr),
        "adjustments": adjusted.adjustments,
        "adjustment_errors": adjusted.errors,
    }
    app.offered_at = now
    app.offer_expires_at = now + offer_ttl(settings)


def offer_detail(app: Application) -> dict[str, Any]:
    assert app.offer_expires_at is not None
    return {
        "approved_amount": str(app.approved_amount),
        "apr_irr": str(app.apr_irr),
        "offer_expires_at": app.offer_expires_at.isoformat(),
    }
