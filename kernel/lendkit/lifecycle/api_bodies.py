"""The request bodies of the lifecycle's routes, as the OpenAPI schema shows them.

These routes read their bodies by hand (``JSONBody[Any]``, checked field by
field for bilingual 422s); each schema here says what those checks accept,
and the route carries it with ``operation_class=described(...)``
(:mod:`lendkit.web.schema`). A test fails when a route's body is shown as
``{}``.
"""

from __future__ import annotations

from typing import Final

from litestar.openapi.spec import OpenAPIType, Schema

from lendkit.lifecycle import collection_cases, collection_contacts
from lendkit.lifecycle.product_rules import CODE, MAX_PRODUCT_TERM
from lendkit.lifecycle.schedules import MAX_TERM_MONTHS, METHODS
from lendkit.types import ALLOCATION_ORDER
from lendkit.web.schema import amount, flag, nullable, obj, obj_of, strings, text, whole

__all__ = [
    "APPLICATION",
    "APPROVAL",
    "ASSIGNMENT",
    "CONTACT",
    "DISBURSEMENT",
    "NOTE",
    "PRODUCT",
    "PRODUCT_CHANGE",
    "PROMISE",
    "REJECTION",
    "REPAYMENT",
    "SEND_CONTACT",
    "WRITE_OFF",
]

MAX_REASONS: Final = 10
_METHODS = tuple(METHODS)
_IDEMPOTENCY = (
    "Idempotency key (or the Idempotency-Key header): a retry with it returns the first result."
)


def _key(min_length: int, max_length: int, pattern: str | None = None) -> Schema:
    return text(
        _IDEMPOTENCY,
        min_length=min_length,
        max_length=max_length,
        pattern=pattern,
        example="app-7f3c9a21",
    )


CLIENT: Final = obj(
    "The app's device and network facts (all optional), kept encrypted beside the "
    "application and shown to the credit plugins; the address the server saw is added.",
    device_id=text("Device fingerprint id", max_length=128, pattern=r"^[A-Za-z0-9._:+/=-]{1,128}$"),
    ip=text("The device's own IP address (IPv4 or IPv6)", max_length=45, example="10.0.0.8"),
    user_agent=text("The app's user agent", max_length=512),
    location=text("Coarse location, e.g. a city", max_length=64, example="上海市"),
    app_version=text("The app's version", max_length=32, pattern=r"^[A-Za-z0-9._+-]{1,32}$"),
)

APPLICATION: Final = obj(
    "A credit application: the product, the terms asked for and the borrower's income",
    required=("product_code", "amount", "term", "method", "annual_income"),
    product_code=text("A product on offer (GET /api/products)", max_length=32, example="cash"),
    amount=amount("The amount asked for", "50000.00"),
    term=whole("Months; one of the product's terms", 1, MAX_TERM_MONTHS, 12),
    method=text("One of the product's repayment methods", enum=_METHODS),
    annual_income=amount("The borrower's yearly income", "180000.00"),
    idempotency_key=_key(1, 128, r"^[A-Za-z0-9._:-]{1,128}$"),
    referral_code=text(
        "The referral code the borrower was given (rides to the loan's events)",
        pattern=r"^[A-Za-z0-9_-]{1,32}$",
    ),
    client=CLIENT,
)

_REASONS_TEXT = f"Reason codes, at most {MAX_REASONS}"

APPROVAL: Final = obj(
    "Approve an application under review, optionally for less than was asked",
    reasons=strings(_REASONS_TEXT, max_items=MAX_REASONS),
    note=text("A note for the record"),
    amount=amount("A lower amount to offer (never more than was asked)", "30000.00"),
)

REJECTION: Final = obj(
    "Reject an application under review",
    required=("reasons",),
    reasons=strings(_REASONS_TEXT + " (at least one)", max_items=MAX_REASONS, min_items=1),
    note=text("A note for the record"),
)

REPAYMENT: Final = obj(
    "Pay from the borrower's verified card (a withholding order)",
    amount=amount("What to pay now (at most what the loan owes today); or send prepay", "1066.19"),
    prepay=flag("true: settle the whole loan today instead of paying amount"),
    idempotency_key=_key(8, 100),
    channel=text("The payment channel (needed only when more than one is enabled)"),
)

DISBURSEMENT: Final = obj(
    "Pay a booked, signed loan out to the borrower's card",
    idempotency_key=_key(8, 100),
    channel=text("The payment channel (needed only when more than one is enabled)"),
)

_PRODUCT_FIELDS: Final = {
    "code": text(
        "Lower-case letters, digits and -", pattern=f"^{CODE.pattern}$", example="consumer-12"
    ),
    "name": text("Shown to borrowers", max_length=200),
    "description": text("Shown to borrowers", max_length=2000),
    "min_amount": amount("The least a borrower may ask for", "1000.00"),
    "max_amount": amount("The most a borrower may ask for", "200000.00"),
    "terms_months": Schema(
        type=OpenAPIType.ARRAY,
        description=f"The terms offered, in months (1 to {MAX_PRODUCT_TERM}, no repeats)",
        items=whole("Months", 1, MAX_PRODUCT_TERM),
        min_items=1,
    ),
    "annual_rate": text(
        "Nominal yearly rate as a fraction, e.g. 0.1090 (at most 6 decimals)", example="0.1090"
    ),
    "repayment_methods": strings(f"Some of {', '.join(_METHODS)}", max_items=len(_METHODS)),
    "upfront_fee_rate": text("Fee taken at disbursement, as a fraction of the principal"),
    "instalment_fee": amount("Fee on every instalment", "0.00"),
    "penalty_multiplier": text("Penalty rate = annual rate × this (e.g. 1.5)"),
    "grace_days": whole("Days after a due date before an instalment is overdue", 0, 30),
    "day_count": whole("The year of day-count interest: 360 or 365", 360, 365),
    "shift_holidays": flag("Move due dates off public holidays"),
    "repayment_day": nullable(whole("A fixed day of the month for due dates", 1, 28)),
    "allocation_order": strings(
        f"What a repayment pays first: each of {', '.join(ALLOCATION_ORDER)} once",
        max_items=len(ALLOCATION_ORDER),
    ),
}

PRODUCT: Final = obj_of(
    "A new loan product (amounts and rates as strings); its dearest case must be within "
    "the rate cap",
    _PRODUCT_FIELDS,
    required=(
        "code",
        "name",
        "min_amount",
        "max_amount",
        "terms_months",
        "annual_rate",
        "repayment_methods",
    ),
)

PRODUCT_CHANGE: Final = obj_of(
    "The fields to change; the rest carry over into the next version",
    {
        "base_version": whole("The version you changed (409 if it is no longer current)", 1, 2**31),
        **{name: schema for name, schema in _PRODUCT_FIELDS.items() if name != "code"},
    },
)

_NOTE = f"At most {collection_cases.MAX_TEXT} characters; masked before it is stored"

ASSIGNMENT: Final = obj(
    "Give the loan's case to a collector",
    collector=nullable(text("A staff username; null takes the case back")),
    note=text(_NOTE, max_length=collection_cases.MAX_TEXT),
)

NOTE: Final = obj(
    "A note on the loan's case (never changed or deleted)",
    required=("text",),
    text=text(_NOTE, max_length=collection_cases.MAX_TEXT),
)

CONTACT: Final = obj(
    "A contact made now, by hand",
    required=("channel", "outcome"),
    channel=text("How", enum=collection_contacts.CHANNELS),
    outcome=text("What came of it", enum=tuple(sorted(collection_contacts.OUTCOMES))),
    note=text(_NOTE, max_length=collection_cases.MAX_TEXT),
)

SEND_CONTACT: Final = obj(
    "Reach the borrower through an SMS or call plugin",
    required=("channel",),
    channel=text("How", enum=collection_contacts.PLUGIN_CHANNELS),
)

PROMISE: Final = obj(
    "The borrower's promise to pay",
    required=("amount", "date"),
    amount=amount("What the borrower promised (at most what the loan owes)", "500.00"),
    date=text("By when, YYYY-MM-DD", pattern=r"^\d{4}-\d{2}-\d{2}$", example="2026-03-01"),
)

WRITE_OFF: Final = obj(
    "Ask for the loan's write-off; someone else approves it",
    required=("reason",),
    reason=text(_NOTE, max_length=collection_cases.MAX_TEXT),
)
