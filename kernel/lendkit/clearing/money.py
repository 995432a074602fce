"""Money is ``Decimal`` at 0.01 CNY, with one rounding rule written down here.

* Every amount is quantized to the fen (0.01) with ROUND_HALF_UP — the
  convention of Chinese loan contracts and of the PBOC examples.
* Splitting an amount between parts (co-lending funders, components) uses
  the largest-remainder method at the fen: each part first gets its share
  rounded down, then the fens left over go one by one to the parts with the
  largest remainders (ties: the larger share first, then the earlier part).
  The parts always add up to the whole, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

__all__ = ["FEN", "ZERO", "money", "split"]

FEN = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal | int | str) -> Decimal:
    """``value`` as CNY at the fen, half-up. Floats are refused: they are not money."""
    if isinstance(value, float):
        raise TypeError("money is never a float; pass a Decimal, int or str")
    return Decimal(value).quantize(FEN, rounding=ROUND_HALF_UP)


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
