"""The demo's products: a consumer instalment loan and a business loan, as data.

Written with :class:`~lendkit.types.ProductSpec`'s field names, so they go
into the demo tenant's ``lendkit.toml`` as ``[[products]]`` tables, seeded
into the products table on the first start (the kernel ships none).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEMO_PRODUCTS", "as_settings"]

DEMO_PRODUCTS: tuple[dict[str, Any], ...] = (
    {
        "code": "consumer-12",
        "name": "消费贷 Consumer instalment loan",
        "min_amount": "1000.00",
        "max_amount": "200000.00",
        "terms_months": [3, 6, 12, 24],
        "annual_rate": "0.1090",
        "repayment_methods": ["equal-installment", "equal-principal"],
        "upfront_fee_rate": "0.0100",
        "description": "等额本息 / 等额本金, monthly instalments.",
    },
    {
        "code": "business-bullet",
        "name": "经营贷 Business loan, interest first",
        "min_amount": "10000.00",
        "max_amount": "300000.00",
        "terms_months": [6, 12],
        "annual_rate": "0.1440",
        "repayment_methods": ["interest-first", "bullet"],
        "description": "先息后本 or 到期一次还本付息.",
    },
)


def as_settings() -> list[dict[str, Any]]:
    """The products as ``[[products]]`` tables."""
    return [dict(product) for product in DEMO_PRODUCTS]
