"""Money is ``Decimal`` at 0.01 CNY, with one rounding rule written down here.

* Every amount is quantized to the fen (0.01) with ROUND_HALF_UP — the
  convention of Chinese loan contracts and of the PBOC examples.
* Splitting an amount between parts (co-lending funders, components) uses
  the largest-remainder method at the fen: each part first gets its share
  rounded down, then the fens left over go one by one to the parts with the
  largest remainders (ties: the larger share first, then the earlier part).
  The parts always add up to the whole, exactly.

Amounts that come from outside (an API body, a form) go through
:func:`parse_amount`, which refuses anything that is not plainly an amount —
floats, ``NaN``, exponents (``"1e309"``), more than :data:`MAX_DIGITS`
digits before the point or more than two after it — with a 422 before any
arithmetic could overflow the decimal context.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from lendkit.errors import ValidationFailed

__all__ = ["FEN", "MAX_DIGITS", "ZERO", "money", "parse_amount", "split"]

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
# Digits before the point: up to 999 999 999 999 999.99 CNY, far above any loan
# and well inside the 28 digits of the default decimal context.
MAX_DIGITS = 15
_PLAIN = re.compile(rf"-?[0-9]{{1,{MAX_DIGITS}}}(?:\.[0-9]{{1,2}})?")
_LIMIT = Decimal(10) ** MAX_DIGITS


def money(value: Decimal | int | str) -> Decimal:
    """``value`` as CNY at the fen, half-up. Floats are refused: they are not money."""
    if isinstance(value, float):
        raise TypeError("money is never a float; pass a Decimal, int or str")
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


def parse_amount(
    value: object,
    *,
    name: str = "amount",
    label: str = "金额",
    code: str = "invalid_amount",
    allow_zero: bool = False,
) -> Decimal:
    """``value`` from outside as an amount in CNY: a string such as ``"1066.19"``,
    an int or a Decimal; more than zero (or zero too, with ``allow_zero``).

    Refused with 422 ``code`` (bilingual, naming ``name`` and its Chinese
    ``label``): floats and booleans, non-finite numbers, exponent forms, more
    than :data:`MAX_DIGITS` digits before the point or two after it. A
    string is checked by its form before it becomes a number, so a megabyte
    of digits costs no more than a short one.
    """
    example = '"1066.19"'
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_DIGITS + 4 or not _PLAIN.fullmatch(text):
            raise ValidationFailed(
                f"{label}须为至多 {MAX_DIGITS} 位整数、两位小数的数字字符串，如 {example}"
                f"（不用科学计数法） / {name} must be a plain number with at most {MAX_DIGITS} "
                f"digits and two decimals, such as {example} (no exponent)",
                code=code,
            )
        amount = Decimal(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        amount = Decimal(value) if abs(value) < 10**MAX_DIGITS else _LIMIT
    elif isinstance(value, Decimal):
        amount = value
    else:
        raise ValidationFailed(
            f"{label}须为数字字符串，如 {example} / {name} must be a string of digits "
            f"such as {example} (never a float)",
            code=code,
        )
    if not amount.is_finite() or abs(amount) >= _LIMIT:
        raise ValidationFailed(
            f"{label}过大或不是有限数 / {name} is too large or not a finite number", code=code
        )
    if amount < 0 or (amount == 0 and not allow_zero):
        wanted = ("不能为负", "zero or more") if allow_zero else ("须大于零", "more than zero")
        raise ValidationFailed(f"{label}{wanted[0]} / {name} must be {wanted[1]}", code=code)
    if amount != amount.quantize(FEN, rounding=ROUND_DOWN):
        raise ValidationFailed(
            f"{label}最多两位小数 / {name} must be a whole number of fen (0.01)", code=code
        )
    return money(amount)


def split(amount: Decimal, shares: Sequence[Decimal]) -> list[Decimal]:
    """Split ``amount`` by ``shares`` (summing to 1) so the parts sum to ``amount``."""
    if not shares:
        raise ValueError("nothing to split between")
    if any(s < 0 for s in shares) or sum(shares) != 1:
        raise ValueError(f"shares must be non-negative and sum to 1, got {list(shares)}")
    amount = money(amount)
    sign = -1 if amount < 0 else 1
    whole = abs(amount)
    exact = [whole * share for share in shares]
    parts = [e.quantize(FEN, rounding=ROUND_DOWN) for e in exact]
    left = int((whole - sum(parts)) / FEN)
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - parts[i]), -shares[i], i))
    for i in order[:left]:
        parts[i] += FEN
    return [sign * p for p in parts]
