"""An application's fields checked for form, and against the product it asks for.

:func:`parse_submission` turns a request body into a :class:`Submission`
(422 ``invalid_<field>``); :func:`check_product` refuses an amount, term or
repayment method the product does not offer. Nothing here reads the database.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from lendkit.clearing.money import parse_amount
from lendkit.errors import ValidationFailed
from lendkit.lifecycle import client_context
from lendkit.lifecycle.schedules import MAX_AMOUNT, MAX_TERM_MONTHS
from lendkit.types import ClientContext, ProductSpec

__all__ = ["Submission", "check_product", "parse_amount_field", "parse_submission", "reason_codes"]

_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CODE = re.compile(r"[a-z0-9_]{1,40}")


@dataclass(frozen=True, slots=True)
class Submission:
    """What a borrower asks for, checked for form (amounts are CNY at the fen)."""

    product_code: str
    amount: Decimal
    term: int
    method: str
    annual_income: Decimal
    idempotency_key: str
    # What the app and the server saw (lendkit.lifecycle.client_context), and a referral.
    client: ClientContext | None = None
    referral_code: str | None = None


def _invalid(field: str, zh: str, en: str) -> ValidationFailed:
    return ValidationFailed(f"{zh} / {en}", code=f"invalid_{field}")


def parse_amount_field(data: Mapping[str, Any], name: str, label: str) -> Decimal:
    value = data.get(name)
    if value is None:
        raise _invalid(name, f"请填写{label}", f"{name} is required")
    amount = parse_amount(value, name=name, label=label, code=f"invalid_{name}")
    if amount >= MAX_AMOUNT:
        raise _invalid(name, f"{label}金额过大", f"{name} is too large")
    return amount


def parse_submission(
    data: Mapping[str, Any], idempotency_key: str | None = None, *, seen_ip: str | None = None
) -> Submission:
    """Check an application's fields for form (422 ``invalid_<field>``), not yet the product.

    The idempotency key comes from the body (``idempotency_key``) or, when
    the body has none, from the ``Idempotency-Key`` header. The optional
    ``client`` object and ``referral_code`` are checked by
    :func:`lendkit.lifecycle.client_context.parse`; ``seen_ip`` is the
    address the request came from.
    """
    key = data.get("idempotency_key") or idempotency_key
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise _invalid(
            "idempotency_key",
            "请提供幂等键（1 至 128 个字母、数字或 . _ : -）",
            "an idempotency key is required: 1 to 128 letters, digits or . _ : -",
        )
    code = data.get("product_code")
    if not isinstance(code, str) or not 1 <= len(code) <= 32:
        raise _invalid("product_code", "请选择产品", "product_code is required")
    term = data.get("term")
    if isinstance(term, bool) or not isinstance(term, int) or not 1 <= term <= MAX_TERM_MONTHS:
        raise _invalid(
            "term",
            f"期限须为 1 至 {MAX_TERM_MONTHS} 的整数（月）",
            f"term must be a whole number of months from 1 to {MAX_TERM_MONTHS}",
        )
    method = data.get("method")
    if not isinstance(method, str) or not 1 <= len(method) <= 24:
        raise _invalid("method", "请选择还款方式", "method (the repayment method) is required")
    extras = client_context.parse(data)
    client = extras.client
    if seen_ip is not None:
        client = replace(client or ClientContext(), seen_ip=seen_ip)
    return Submission(
        product_code=code,
        amount=parse_amount_field(data, "amount", "借款金额"),
        term=term,
        method=method,
        annual_income=parse_amount_field(data, "annual_income", "年收入"),
        idempotency_key=key,
        client=client,
        referral_code=extras.referral_code,
    )


def check_product(product: ProductSpec, amount: Decimal, term: int, method: str) -> None:
    if not product.min_amount <= amount <= product.max_amount:
        low, high = f"{product.min_amount:,.2f}", f"{product.max_amount:,.2f}"
        raise ValidationFailed(
            f"该产品的借款金额须在 {low} 至 {high} 元之间 / "
            f"the amount must be from {low} to {high} CNY for this product",
            code="amount_out_of_range",
        )
    if term not in product.terms_months:
        terms = ", ".join(str(t) for t in product.terms_months)
        raise ValidationFailed(
            f"该产品的期限可选 {terms} 个月 / this product's terms are {terms} months",
            code="term_not_offered",
        )
    if method not in product.repayment_methods:
        methods = ", ".join(product.repayment_methods)
        raise ValidationFailed(
            f"该产品的还款方式可选 {methods} / this product is repaid by {methods}",
            code="method_not_offered",
        )


def reason_codes(reasons: Sequence[str]) -> tuple[str, ...]:
    if any(not isinstance(c, str) or not _CODE.fullmatch(c) for c in reasons):
        raise ValidationFailed(
            "原因代码须为 1 至 40 个小写字母、数字或下划线 / "
            "reason codes are 1 to 40 lower-case letters, digits or underscores",
            code="reasons_invalid",
        )
    return tuple(reasons)
