"""Repayment schedules per second and the time to price an offer.

Targets: at least 10,000 36-month schedules a second and the all-in
annualized rate of an offer in at most 1 ms (issue 5); a 36-month schedule
at least 0.2 × the speed of the float baseline (issue 10, item 7). The
baseline, sampled in turn with the schedules: the same 36-month
equal-instalment schedule computed with floats and no rounding rules — the
cost of the arithmetic alone, which money must never use but which shows
what the exact Decimal rows cost on top.

A schedule keeps its amounts as integers of fen and makes ``Decimal`` rows
when they are first read; a quote reads totals and payments only, so the
target is on building. The "rows read" figure also reads every row, as
booking a loan or rendering a contract does.

The schedules repeat one loan, as a day's quotes of a product do, so the
per-product caches (due dates of a start, the annuity divisor of a rate and
term) are warm; the "cold" figure gives every call its own start date and
rate, so they miss.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from itertools import cycle

from lendkit.lifecycle.pricing import annualized_rate
from lendkit.lifecycle.schedules import build_schedule

from bench.report import emit, median_ratio, sample_cpu, target

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
    baseline = partial(_float_schedule, 100000.0, 0.144, 36)
    starts = [START + timedelta(days=day) for day in range(1000)]
    rates = [RATE + Decimal(step).scaleb(-6) for step in range(1, 1001)]
    cold = cycle(zip(starts, rates, strict=True))
    functions: dict[str, Callable[[], object]] = {
        "float": baseline,
        "equal-installment": partial(
            build_schedule, PRINCIPAL, 36, RATE, "equal-installment", start=START
        ),
        "equal-principal": partial(
            build_schedule, PRINCIPAL, 36, RATE, "equal-principal", start=START
        ),
        "cold": lambda: _cold_schedule(*next(cold)),
        "rows read": lambda: _read_rows(),
    }
    samples = sample_cpu(
        functions,
        rounds=300,
        inner={
            "float": 40,
            "equal-installment": 8,
            "equal-principal": 8,
            "cold": 8,
            "rows read": 8,
        },
    )
    floats = samples["float"]
    ratios = {name: round(median_ratio(floats, samples[name]), 3) for name in functions}
    per_s = round(1 / samples["equal-installment"].cpu_median)
    figures["baseline_float_36m_us"] = round(floats.cpu_median * 1e6, 2)
    for name in ("equal-installment", "equal-principal", "cold", "rows read"):
        figures[f"schedules_36m_{name}_us"] = round(samples[name].cpu_median * 1e6, 2)
        figures[f"schedules_36m_{name}_per_s"] = round(1 / samples[name].cpu_median)
        figures[f"ratio_{name}_to_float"] = ratios[name]
    figures["schedules_36m_wall_us"] = round(samples["equal-installment"].wall_median * 1e6, 2)
    apr_ms = {}
    for term in (12, 36):
        schedule = build_schedule(
            PRINCIPAL, term, RATE, "equal-installment", start=START, upfront_fee=Decimal("1000")
        )
        apr = sample_cpu({"apr": partial(annualized_rate, schedule)}, rounds=31, inner=10)["apr"]
        apr_ms[term] = figures[f"apr_{term}m_ms"] = round(apr.cpu_median * 1000, 3)
    figures["target_ratio_to_float"] = 0.2
    figures["target_schedules_per_s"] = 10000
    figures["target_apr_ms"] = 1.0
    print("targets (CPU time of this thread, medians of batches):")
    met = [
        target("schedules 36m 等额本息 × float baseline", ratios["equal-installment"], "≥", 0.2),
        target("schedules 36m 等额本金 × float baseline", ratios["equal-principal"], "≥", 0.2),
        target("schedules 36m a second", per_s, "≥", 10000),
        target("annualized rate of a 36m offer", apr_ms[36], "≤", 1.0, " ms"),
    ]
    print(f"  (cold caches, a new start and rate each call: {ratios['cold']} × float baseline)")
    print(f"  (every row also read as Decimal, as a booking does: {ratios['rows read']} ×)")
    figures["meets_targets"] = all(met)
    emit("schedules", figures)


def _read_rows() -> object:
    return build_schedule(PRINCIPAL, 36, RATE, "equal-installment", start=START).rows


def _cold_schedule(start: date, rate: Decimal) -> object:
    return build_schedule(PRINCIPAL, 36, rate, "equal-installment", start=start)


if __name__ == "__main__":
    main()
