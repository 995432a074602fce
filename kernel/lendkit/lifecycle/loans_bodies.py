"""The bodies of the loan routes as the OpenAPI schema shows them (see ``web/routes.py``)."""

from __future__ import annotations

from typing import Final

from lendkit.web.schema import amount, flag, idempotency_key, obj, text

__all__ = ["DISBURSEMENT", "REPAYMENT"]


REPAYMENT: Final = obj(
    "Pay from the borrower's verified card (a withholding order)",
    amount=amount("What to pay now (at most what the loan owes today); or send prepay", "1066.19"),
    prepay=flag("true: settle the whole loan today instead of paying amount"),
    idempotency_key=idempotency_key(),
    channel=text("The payment channel (needed only when more than one is enabled)"),
)

DISBURSEMENT: Final = obj(
    "Pay a booked, signed loan out to the borrower's card",
    idempotency_key=idempotency_key(),
    channel=text("The payment channel (needed only when more than one is enabled)"),
)
