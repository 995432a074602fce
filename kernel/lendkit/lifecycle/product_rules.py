"""What a valid product is: its fields read from JSON or TOML, checked, and its worst case.

One reader for every way a product arrives (the products API, a tenant's
``[[products]]`` seeds), so the same mistake gets the same bilingual 422
wherever it is made. :func:`parse_spec` checks form and sense: positive
amounts at the fen with ``min_amount <= max_amount``, terms of 1 to 60
months each offered once, known repayment methods, rates and fees within
sane bounds, ``allocation_order`` a permutation of the kernel's five steps.
:func:`check_worst_case` then prices every term × method × end of the
amount range (and, with a fixed repayment day, the shortest and longest odd
first period) and refuses the product when the dearest of them is above the
tenant's cap (422 ``product_rate_above_cap``): no application on it could
ever be offered.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from lendkit.clearing.money import money, parse_amount
from lendkit.errors import ValidationFailed
from lendkit.lifecycle.pricing import AnnualizedRate, Quote, quote, rate_cap_breach
from lendkit.lifecycle.schedules import MAX_AMOUNT, METHODS
from lendkit.types import ALLOCATION_ORDER, ProductSpec

if TYPE_CHECKING:
    from lendkit.settings import Settings

__all__ = [
    "MAX_PRODUCT_TERM",
    "WorstCase",
    "check_worst_case",
    "parse_spec",
    "price",
    "spec_data",
    "worst_case",
]

MAX_PRODUCT_TERM: Final = 60  # months: five years is the longest a small loan runs
MAX_ANNUAL_RATE: Final = Decimal("1")  # the cap refuses far less; this refuses typos
MAX_UPFRONT_FEE_RATE: Final = Decimal("0.5")
MAX_PENALTY_MULTIPLIER: Final = Decimal("4")
MAX_GRACE_DAYS: Final = 30
RATE_DECIMALS: Final = 6  # the tables' Numeric(9, 6)
CODE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
FIELDS: Final = tuple(f.name for f in fields(ProductSpec))
REQUIRED: Final = (
    "code",
    "name",
    "min_amount",
    "max_amount",
    "terms_months",
    "annual_rate",
    "repayment_methods",
)
_METHOD_NAMES: Final = {
    "equal-installment": "等额本息",
    "equal-principal": "等额本金",
    "interest-first": "先息后本",
    "bullet": "到期一次还本付息",
    "draw-repay": "随借随还",
}


def _invalid(field: str, zh: str, en: str, code: str | None = None) -> ValidationFailed:
    return ValidationFailed(f"{zh} / {en}", code=code or f"invalid_{field}")


def _decimal(data: Mapping[str, Any], name: str) -> Decimal:
    value = data[name]
    # Floats are refused: money and rates are decimal strings, never binary fractions.
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        raise _invalid(
            name,
            f'{name} 须为数字字符串，如 "0.1090"',
            f'{name} must be a string of digits such as "0.1090"',
        )
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _invalid(name, f"{name} 不是数字", f"{name} is not a number") from None
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        raise _invalid(name, f"{name} 不是有效数字", f"{name} is not a usable number")
    return number


def _amount(data: Mapping[str, Any], name: str, *, positive: bool) -> Decimal:
    amount = parse_amount(
        data[name], name=name, label=name, code=f"invalid_{name}", allow_zero=not positive
    )
    if amount >= MAX_AMOUNT:
        raise _invalid(name, f"{name} 不是有效数字", f"{name} is not a usable number")
    return amount


def _rate(data: Mapping[str, Any], name: str, high: Decimal) -> Decimal:
    number = _decimal(data, name)
    if not 0 <= number < high:
        raise _invalid(
            name,
            f"{name} 须不小于 0 且小于 {high}",
            f"{name} must be at least 0 and less than {high}",
            code="product_rate_out_of_range",
        )
    if number != round(number, RATE_DECIMALS):
        raise _invalid(
            name,
            f"{name} 最多 {RATE_DECIMALS} 位小数",
            f"{name} has more than {RATE_DECIMALS} decimal places",
        )
    return number


def _text(data: Mapping[str, Any], name: str, longest: int, *, required: bool) -> str:
    value = data[name]
    if not isinstance(value, str) or len(value) > longest or (required and not value.strip()):
        raise _invalid(
            name,
            f"{name} 须为至多 {longest} 字的文本",
            f"{name} must be text of 1 to {longest} characters",
        )
    return value.strip()


def _whole(data: Mapping[str, Any], name: str, low: int, high: int) -> int:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(
            name,
            f"{name} 须为 {low} 至 {high} 的整数",
            f"{name} must be a whole number from {low} to {high}",
        )
    return value


def _strings(data: Mapping[str, Any], name: str) -> list[str]:
    value = data[name]
    if not isinstance(value, list | tuple) or not value or len(value) > 32:
        raise _invalid(name, f"{name} 须为非空列表", f"{name} must be a non-empty list")
    if not all(isinstance(v, str) for v in value):
        raise _invalid(name, f"{name} 须为文本列表", f"{name} must be a list of strings")
    return list(value)


# A list field that names something twice: (Chinese, English, code).
_REPEATED: Final = {
    "terms_months": (
        "每个期限只能列出一次",
        "each term may be listed only once",
        "product_terms_duplicated",
    ),
    "repayment_methods": (
        "每种还款方式只能列出一次",
        "each repayment method may be listed only once",
        "product_methods_duplicated",
    ),
}


def _listed_once(name: str, value: Sequence[object]) -> None:
    if len(set(value)) != len(value):
        zh, en, code = _REPEATED[name]
        raise _invalid(name, zh, en, code=code)


def _terms(data: Mapping[str, Any]) -> tuple[int, ...]:
    value = data["terms_months"]
    if not isinstance(value, list | tuple) or not value:
        raise _invalid(
            "terms_months",
            "terms_months 须为期限（月）的非空列表",
            "terms_months must be a non-empty list of terms in months",
        )
    if any(isinstance(t, bool) or not isinstance(t, int) for t in value):
        raise _invalid(
            "terms_months", "期限须为整数（月）", "each term must be a whole number of months"
        )
    outside = [t for t in value if not 1 <= t <= MAX_PRODUCT_TERM]
    if outside:
        raise _invalid(
            "terms_months",
            f"期限须在 1 至 {MAX_PRODUCT_TERM} 个月之间（{outside[0]} 不在其中）",
            f"terms must be 1 to {MAX_PRODUCT_TERM} months ({outside[0]} is not)",
            code="product_term_out_of_range",
        )
    _listed_once("terms_months", value)
    return tuple(sorted(value))


def _methods(data: Mapping[str, Any]) -> tuple[str, ...]:
    value = _strings(data, "repayment_methods")
    unknown = [m for m in value if m not in METHODS]
    if unknown:
        raise _invalid(
            "repayment_methods",
            f"未知的还款方式 “{unknown[0][:40]}”，可选 {', '.join(METHODS)}",
            f"unknown repayment method {unknown[0][:40]!r}; one of {', '.join(METHODS)}",
            code="product_method_unknown",
        )
    _listed_once("repayment_methods", value)
    return tuple(value)


def _allocation(data: Mapping[str, Any]) -> tuple[str, ...]:
    value = _strings(data, "allocation_order")
    if sorted(value) != sorted(ALLOCATION_ORDER):
        steps = ", ".join(ALLOCATION_ORDER)
        raise _invalid(
            "allocation_order",
            f"还款冲销顺序须恰好列出一次 {'、'.join(ALLOCATION_ORDER)}",
            f"allocation_order must list each of {steps} exactly once",
            code="product_allocation_order_invalid",
        )
    return tuple(value)


def parse_spec(data: Mapping[str, Any]) -> ProductSpec:
    """A :class:`ProductSpec` from JSON or TOML values, checked (422 on the first problem).

    Keys are the field names of ``ProductSpec``; amounts and rates are
    decimal strings (or whole numbers), lists stand for tuples, and fields
    left out take ``ProductSpec``'s defaults. Codes: ``invalid_<field>`` for
    a missing or wrongly typed field, ``product_amount_range_invalid``,
    ``product_term_out_of_range``, ``product_terms_duplicated``,
    ``product_method_unknown``, ``product_methods_duplicated``,
    ``product_rate_out_of_range`` and ``product_allocation_order_invalid``.
    """
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise _invalid(
            "product",
            f"产品没有字段 “{unknown[0][:40]}”",
            f"a product has no field {unknown[0][:40]!r}; its fields are {', '.join(FIELDS)}",
        )
    missing = [name for name in REQUIRED if data.get(name) is None]
    if missing:
        raise _invalid(missing[0], f"请填写 {missing[0]}", f"{missing[0]} is required")
    given = {**_DEFAULTS, **{k: v for k, v in data.items() if v is not None}}
    code = given["code"]
    if not isinstance(code, str) or not CODE.fullmatch(code):
        raise _invalid(
            "code",
            "产品代码须为 1 至 32 个小写字母、数字或 -，以字母或数字开头",
            "the product code must be 1 to 32 lower-case letters, digits or -, "
            "starting with a letter or digit",
        )
    low = _amount(given, "min_amount", positive=True)
    high = _amount(given, "max_amount", positive=True)
    if low > high:
        raise _invalid(
            "max_amount",
            f"最低金额 {low:,.2f} 元高于最高金额 {high:,.2f} 元",
            f"the minimum amount {low:,.2f} CNY is above the maximum {high:,.2f} CNY",
            code="product_amount_range_invalid",
        )
    instalment_fee = _amount(given, "instalment_fee", positive=False)
    day_count = given["day_count"]
    if day_count not in (360, 365) or isinstance(day_count, bool):
        raise _invalid("day_count", "day_count 须为 360 或 365", "day_count must be 360 or 365")
    repayment_day = given["repayment_day"]
    if repayment_day is not None:
        repayment_day = _whole(given, "repayment_day", 1, 28)
    shift = given["shift_holidays"]
    if not isinstance(shift, bool):
        raise _invalid(
            "shift_holidays",
            "shift_holidays 须为 true 或 false",
            "shift_holidays must be true or false",
        )
    return ProductSpec(
        code=code,
        name=_text(given, "name", 200, required=True),
        description=_text(given, "description", 2000, required=False),
        min_amount=low,
        max_amount=high,
        terms_months=_terms(given),
        annual_rate=_rate(given, "annual_rate", MAX_ANNUAL_RATE),
        repayment_methods=_methods(given),
        upfront_fee_rate=_rate(given, "upfront_fee_rate", MAX_UPFRONT_FEE_RATE),
        instalment_fee=instalment_fee,
        penalty_multiplier=_rate(given, "penalty_multiplier", MAX_PENALTY_MULTIPLIER),
        grace_days=_whole(given, "grace_days", 0, MAX_GRACE_DAYS),
        day_count=360 if day_count == 360 else 365,
        shift_holidays=shift,
        repayment_day=repayment_day,
        allocation_order=_allocation(given),
    )


def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def spec_data(spec: ProductSpec) -> dict[str, Any]:
    """``spec`` as JSON and TOML values: decimals as strings, tuples as lists."""
    return {name: _plain(getattr(spec, name)) for name in FIELDS}


_DEFAULTS: Final = {
    f.name: _plain(f.default) for f in fields(ProductSpec) if f.default is not MISSING
}


# -- Pricing a product -------------------------------------------------------------


def price(
    spec: ProductSpec,
    amount: Decimal,
    term: int,
    method: str,
    start: date,
    *,
    annual_rate: Decimal | None = None,
    upfront_fee: Decimal | None = None,
    instalment_fee: Decimal | None = None,
) -> Quote:
    """The product's schedule and annualized rate for one amount, term and method.

    The upfront fee is ``upfront_fee_rate`` of the amount at the fen; the
    keyword arguments override the product's rate and fees (an adjusted
    offer). No cap check: see :func:`~lendkit.lifecycle.pricing.check_rate_cap`.
    """
    return quote(
        amount,
        term,
        spec.annual_rate if annual_rate is None else annual_rate,
        method,
        start=start,
        upfront_fee=money(amount * spec.upfront_fee_rate) if upfront_fee is None else upfront_fee,
        instalment_fee=spec.instalment_fee if instalment_fee is None else instalment_fee,
        shift_holidays=spec.shift_holidays,
        day_count=spec.day_count,
        repayment_day=spec.repayment_day,
    )


@dataclass(frozen=True, slots=True)
class WorstCase:
    """The dearest way to borrow on a product: its terms and all-in annualized rate."""

    amount: Decimal
    term: int
    method: str
    start: date
    rate: AnnualizedRate

    def describe(self) -> tuple[str, str]:
        """(Chinese, English) words for it, e.g. ``3 个月、等额本息、1,000.00 元``."""
        zh_method = _METHOD_NAMES.get(self.method, self.method)
        return (
            f"{self.term} 个月、{zh_method}、{self.amount:,.2f} 元",
            f"{self.term} months, {self.method}, {self.amount:,.2f} CNY",
        )


def _starts(spec: ProductSpec, on: date) -> Iterator[date]:
    """Disbursement days to price from: ``on``, and with a fixed repayment day the
    days that make the odd first period shortest (a month's last day) and longest
    (the first day of the next month), where fixed fees weigh most and least."""
    yield on
    if spec.repayment_day is not None:
        last = on.replace(day=calendar.monthrange(on.year, on.month)[1])
        yield last
        yield last + timedelta(days=1)


def worst_case(spec: ProductSpec, on: date) -> WorstCase:
    """The highest all-in annualized rate over every term × method × end of the
    amount range (the upfront fee weighs most on the shortest term, a fixed
    instalment fee on the smallest amount), priced as if disbursed on ``on``."""
    worst: WorstCase | None = None
    for start in _starts(spec, on):
        for term in spec.terms_months:
            for method in spec.repayment_methods:
                for amount in dict.fromkeys((spec.min_amount, spec.max_amount)):
                    rate = price(spec, amount, term, method, start).rate
                    if worst is None or rate.apr_irr > worst.rate.apr_irr:
                        worst = WorstCase(amount, term, method, start, rate)
    assert worst is not None  # a parsed spec has a term, a method and an amount
    return worst


def check_worst_case(spec: ProductSpec, settings: Settings, on: date) -> WorstCase:
    """Refuse ``spec`` (422 ``product_rate_above_cap``) when its worst case is above the cap.

    The message names the worst case and its rate. A product that prices at
    all but leaves nothing to lend (an upfront fee as large as the amount)
    is ``product_unpriceable``. Returns the worst case otherwise.
    """
    try:
        worst = worst_case(spec, on)
    except ValidationFailed as exc:
        raise ValidationFailed(
            f"产品 {spec.code} 无法定价 / product {spec.code} cannot be priced: {exc.detail}",
            code="product_unpriceable",
        ) from None
    breach = rate_cap_breach(worst.rate, settings, on=on)
    if breach is not None:
        zh, en = breach
        where_zh, where_en = worst.describe()
        raise ValidationFailed(
            f"产品 {spec.code} 的最不利情形（{where_zh}）{zh} / "
            f"the worst case of product {spec.code} ({where_en}): {en}",
            code="product_rate_above_cap",
        )
    return worst
