"""The bodies of the application routes as the OpenAPI schema shows them (see ``web/routes.py``)."""

from __future__ import annotations

from typing import Final

from lendkit.lifecycle.schedules import MAX_TERM_MONTHS, METHODS
from lendkit.web.schema import amount, idempotency_key, obj, strings, text, whole

__all__ = ["APPLICATION", "APPROVAL", "MAX_REASONS", "REJECTION"]

MAX_REASONS: Final = 10
_METHODS = tuple(METHODS)


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
    idempotency_key=idempotency_key(),
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
