"""Repayment schedules per second and the time to price an offer.

Targets (issue 5): at least 10,000 36-month schedules a second; the all-in
annualized rate of an offer in at most 1 ms. Baseline, in the same run: the
same 36-month equal-instalment schedule computed with floats and no
rounding rules — the cost of the arithmetic alone, which money must never
use but which shows what the exact Decimal rules cost on top.
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

from lendkit.lifecycle.pricing import annualized_rate
from lendkit.lifecycle.schedules import build_schedule

from bench.report import emit, median_seconds

START = date(2026, 1, 31)
PRINCIPAL, RATE = Decimal("100000.00"), Decimal("0.1440")


def _float_schedule(principal: float, rate: float, term: int) -> list[tuple[float, float]]:
    monthly = rate / 12
    payment = principal * monthly / (1 - (1 + monthly) ** -term)
    rows, balance = [], principal
    for _ in range(term):
        interest = balance * monthly
        rows.append((payment - interest, interest))
        balance -= payment - interest
    return rows


def main() -> None:
    figures: dict[str, object] = {}
    for method in ("equal-installment", "equal-principal"):
        count = 3000
        started = time.perf_counter()
        for _ in range(count):
            build_schedule(PRINCIPAL, 36, RATE, method, start=START)
        per_s = count / (time.perf_counter() - started)
        figures[f"schedules_36m_{method}_per_s"] = round(per_s)
    floats = median_seconds(lambda: _float_schedule(100000.0, 0.144, 36), repeat=5, inner=2000)
    figures["baseline_float_schedules_per_s"] = round(1 / floats)
    figures["ratio_to_float_baseline"] = round(
        figures["schedules_36m_equal-installment_per_s"] * floats,
        3,  # type: ignore[operator]
    )
    for term in (12, 36):
        schedule = build_schedule(
            PRINCIPAL, term, RATE, "equal-installment", start=START, upfront_fee=Decimal("1000")
        )
        seconds = median_seconds(lambda s=schedule: annualized_rate(s), repeat=7, inner=50)
        figures[f"apr_{term}m_ms"] = round(seconds * 1000, 3)
    figures["target_schedules_per_s"] = 10000
    figures["target_apr_ms"] = 1.0
    figures["meets_targets"] = (
        figures["schedules_36m_equal-installment_per_s"] >= 10000  # type: ignore[operator]
        and figures["apr_36m_ms"] <= 1.0  # type: ignore[operator]
    )
    emit("schedules", figures)


if __name__ == "__main__":
    main()
