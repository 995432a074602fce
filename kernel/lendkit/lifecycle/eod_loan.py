"""One loan's end of day for business date ``D``, in memory.

:mod:`lendkit.lifecycle.eod` reads a chunk's loans and rows, hands each loan
here, and writes what changed. The steps:

1. interest of the current period accrues to date: the day's increase of
   :func:`lendkit.lifecycle.accrual.recognised_interest` (the period's
   interest × days elapsed ÷ days in the period, rounded half-up) is posted
   to the journal, and the instalment row is not written — the figure is
   derived from the dates; a 随借随还 (``draw-repay``) loan accrues one day's
   interest on the principal still out, annual rate ÷ day count, rounded
   half-up, kept on its row;
2. an instalment whose due date is ``D`` falls due: its interest is complete
   (now stored on the row) and its fee is recognised;
3. a due instalment still unpaid more than the grace days after its due date
   is overdue;
4. overdue principal earns penalty interest for the day: principal ×
   penalty rate ÷ day count (360 or 365), rounded half-up (grace days are
   free);
5. DPD (days since the oldest overdue instalment's due date, so 0 within
   the grace days), bucket and classification are recomputed; changes go to the loan's
   history and out as events (``loan.overdue``, ``loan.cured`` is the
   repayment's, ``loan.bucket_changed``, ``loan.classified``), and the
   instalment falling due in ``[lifecycle] reminder_days`` days (3) raises
   ``loan.due_soon``. Classification thresholds are ``[lifecycle]`` settings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from lendkit.clearing import colending, postings
from lendkit.clearing.colending import Agreement, Funder
from lendkit.clearing.ledger import Line
from lendkit.clearing.money import ZERO
from lendkit.db import utcnow
from lendkit.lifecycle import accrual, overdue

__all__ = ["LoanDay", "RowDay", "day_of", "income_summed", "standing"]

OWN_INCOME = frozenset(postings.INCOME.values())


@dataclass(slots=True)
class RowDay:
    """The part of an instalment end of day reads and writes."""

    loan_id: int
    period: int
    start_date: date
    due_date: date
    principal: Decimal
    interest: Decimal
    fee: Decimal
    interest_accrued: Decimal
    fee_accrued: Decimal
    paid_principal: Decimal
    status: str

    def state(self) -> tuple[Decimal, Decimal, Decimal, str]:
        return (self.interest, self.interest_accrued, self.fee_accrued, self.status)


@dataclass(slots=True)
class LoanDay:
    """The part of a loan end of day reads and writes, with its open rows."""

    id: int
    status: str
    method: str
    annual_rate: Decimal
    penalty_rate: Decimal
    day_count: int
    grace_days: int
    next_period: int
    dpd: int
    bucket: str
    classification: str
    rows: list[RowDay]

    def standing(self) -> tuple[str, int, int, str, str]:
        return (self.status, self.next_period, self.dpd, self.bucket, self.classification)


def income_summed(lines: Sequence[Line]) -> list[Line]:
    """Receivables stay one line per loan and funder; the lender's own income is
    one line per account: it belongs to nobody's loan balance, and this halves
    the lines a day writes. A partner's part stays per loan (its statement
    lists loans)."""
    income: dict[str, Decimal] = defaultdict(lambda: ZERO)
    kept: list[Line] = []
    for line in lines:
        if line.account in OWN_INCOME:
            income[line.account] += line.amount
        else:
            kept.append(line)
    return kept + [
        Line(account, amount, source=colending.OWN) for account, amount in income.items() if amount
    ]


def day_of(
    loan: LoanDay,
    day: date,
    before_today: date | None,
    funders: Sequence[Funder],
    agreement: Agreement,
    reminder_days: int,
    counts: dict[str, int],
    events: list[dict[str, Any]],
) -> list[Line]:
    """Steps 1–4 for one loan; returns the day's journal lines.

    ``before_today`` is the day end of day last ran for (None on the first
    run ever): what was recognised by then is already in the journal.
    """
    lines: list[Line] = []
    for row in loan.rows:
        if loan.method == "draw-repay" and row.status == "pending" and row.start_date < day:
            # 随借随还: one day's interest on the principal still out.
            daily = accrual.daily_amount(
                row.principal - row.paid_principal, loan.annual_rate, loan.day_count
            )
            if daily:
                lines += postings.accrued("loan_interest", daily, funders, loan.id)
                row.interest += daily
                row.interest_accrued += daily
                counts["interest_accruals"] += 1
        elif row.status == "pending" and row.start_date < day:
            gained = accrual.recognised_interest(row, day) - accrual.recognised_interest(
                row, before_today
            )
            if gained > 0:
                lines += postings.accrued("loan_interest", gained, funders, loan.id)
                counts["interest_accruals"] += 1
        if row.status == "pending" and row.due_date <= day:
            row.status = "due"
            row.interest_accrued = row.interest  # complete: stored at the state change
            if row.fee > row.fee_accrued:
                lines += postings.accrued(
                    "loan_fees", row.fee - row.fee_accrued, funders, loan.id, agreement.fees
                )
                row.fee_accrued = row.fee
            loan.next_period = row.period + 1
            counts["fell_due"] += 1
        if row.status == "pending" and row.due_date == day + timedelta(days=reminder_days):
            events.append(event("loan.due_soon", loan, day, period=row.period))
        if row.status == "due" and (day - row.due_date).days > loan.grace_days:
            row.status = "overdue"
            counts["went_overdue"] += 1
    late_principal = sum(
        (r.principal - r.paid_principal for r in loan.rows if r.status == "overdue"), ZERO
    )
    if late_principal > 0:
        penalty = accrual.daily_amount(late_principal, loan.penalty_rate, loan.day_count)
        if penalty:
            lines += postings.accrued("loan_penalty", penalty, funders, loan.id, agreement.penalty)
            counts["penalty_accruals"] += 1
    return lines


def standing(
    loan: LoanDay,
    day: date,
    classes: Sequence[tuple[int, str]],
    counts: dict[str, int],
    history: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> None:
    """Step 5: DPD, status, bucket and classification, with history for every change."""
    # Within the grace days a due instalment is not yet past due: DPD stays 0.
    late = [r.due_date for r in loan.rows if r.status == "overdue"]
    loan.dpd = (day - min(late)).days if late else 0
    status = "overdue" if late else "active"
    changes = (
        ("overdue" if status == "overdue" else "active", "status", status),
        ("bucket_changed", "bucket", overdue.bucket_of(loan.dpd)),
        ("classified", "classification", overdue.classify(loan.dpd, classes)),
    )
    for kind, attribute, value in changes:
        before = getattr(loan, attribute)
        if value == before:
            continue
        setattr(loan, attribute, value)
        counts[kind] += 1
        history.append(
            {
                "loan_id": loan.id,
                "business_date": day,
                "kind": kind,
                "from_status": before if attribute == "status" else loan.status,
                "to_status": loan.status,
                "detail": {attribute: value, "was": before, "dpd": loan.dpd},
                "at": utcnow(),
            }
        )
        events.append(event(f"loan.{kind}", loan, day, **{attribute: value, "dpd": loan.dpd}))


def event(topic: str, loan: LoanDay, day: date, **detail: Any) -> dict[str, Any]:
    payload = {"loan_id": loan.id, "status": loan.status, "business_date": day.isoformat()}
    return {
        "topic": topic,
        "payload": payload | detail,
        "created_at": utcnow(),
        "fanned_out": False,
    }
