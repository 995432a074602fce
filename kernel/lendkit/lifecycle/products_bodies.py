"""The bodies of the product routes as the OpenAPI schema shows them (see ``web/routes.py``)."""

from __future__ import annotations

from typing import Final

from litestar.openapi.spec import OpenAPIType, Schema

from lendkit.lifecycle.product_rules import CODE, MAX_PRODUCT_TERM, REQUIRED
from lendkit.lifecycle.schedules import METHODS
from lendkit.types import ALLOCATION_ORDER
from lendkit.web.schema import amount, flag, nullable, obj_of, strings, text, whole

__all__ = ["PRODUCT", "PRODUCT_CHANGE"]

_METHODS = tuple(METHODS)

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
    required=REQUIRED,
)

PRODUCT_CHANGE: Final = obj_of(
    "The fields to change; the rest carry over into the next version",
    {
        "base_version": whole("The version you changed (409 if it is no longer current)", 1, 2**31),
        **{name: schema for name, schema in _PRODUCT_FIELDS.items() if name != "code"},
    },
)
