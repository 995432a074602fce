"""Hand-checked loan scenarios (``tests/golden/lifecycle/*.toml``, one per file):
the real lifecycle functions and end of day, on every backend, against the
figures worked out in each file's comments; the books balance after each step.

A scenario has a ``[loan]`` and ``[[steps]]``; a step is ``eod_through`` (run
end of day up to that date), ``repay``, ``prepay`` or ``prepay_part`` (an
amount collected ``on`` a date, allocated, used to settle, or paid early with
``mode`` ``reduce`` or ``shorten``), and ``expect``: the loan's ``status``,
``dpd``, ``bucket``, ``classification``; the journal's receivables
``loan_principal``, ``loan_interest``, ``loan_penalty``; the schedule's
``next_payment`` (what the next open instalment still asks) and
``instalments_left``; and for a payment its ``principal``, ``interest``,
``penalty`` and ``credit``.
"""

from __future__ import annotations

import tomllib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from lendkit.clearing import ledger
from lendkit.lifecycle import allocation, booking, eod, loans, prepayment
from lendkit.lifecycle.loan_models import Instalment, Loan
from lendkit.testing.factories import add_capital, borrower, disbursed_loan
from sqlalchemy import select

SCENARIOS = sorted((Path(__file__).parent / "golden" / "lifecycle").glob("*.toml"))
LOAN_FIELDS = ("status", "dpd", "bucket", "classification")
RECEIVABLES = ("loan_principal", "loan_interest", "loan_penalty")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario(runtime, path):
    scenario = tomllib.loads(path.read_text(encoding="utf-8"))
    spec = scenario["loan"]
    start = spec["start"]
    with runtime.sessions.begin() as session:
        add_capital(session, "own", Decimal("10000000"), start, "capital")
        loan_id = disbursed_loan(
            session,
            runtime,
            booking.Terms(
                borrower_id=borrower(session, 1),
                product_code="golden",
                principal=Decimal(spec["principal"]),
                term=spec["term"],
                method=spec["method"],
                annual_rate=Decimal(spec["annual_rate"]),
                grace_days=spec.get("grace_days", 0),
                day_count=spec.get("day_count", 360),
                repayment_day=spec.get("repayment_day"),
                **(
                    {"allocation_order": tuple(spec["allocation_order"])}
                    if "allocation_order" in spec
                    else {}
                ),
            ),
            channel="sandbox",
            key="golden",
            day=start,
        ).id
    day = start
    for n, step in enumerate(scenario["steps"]):
        paid = None
        if "eod_through" in step:
            while day < step["eod_through"]:
                day += timedelta(days=1)
                eod.run(runtime, day)
        else:
            kind = next(k for k in ("repay", "prepay", "prepay_part") if k in step)
            amount = Decimal(step[kind])
            with runtime.sessions.begin() as session:
                ledger.post(
                    session,
                    business_date=step["on"],
                    idempotency_key=f"collect-{n}",
                    cause="test",
                    lines=[
                        ledger.Line.debit("channel_in_transit:sandbox", amount, loan_id=loan_id),
                        ledger.Line.credit("borrower_suspense", amount, loan_id=loan_id),
                    ],
                )
                options = {"mode": step["mode"]} if kind == "prepay_part" else {}
                apply = {
                    "repay": allocation.allocate,
                    "prepay": prepayment.prepay,
                    "prepay_part": prepayment.prepay_part,
                }[kind]
                paid = apply(
                    session,
                    loan_id,
                    amount,
                    channel="sandbox",
                    idempotency_key=f"collect-{n}",
                    business_date=step["on"],
                    **options,
                )
        with runtime.read_sessions() as session:
            loan = session.get(Loan, loan_id)
            found = {field: getattr(loan, field) for field in LOAN_FIELDS}
            found |= {k: str(v) for k, v in loans.outstanding(session, loan_id).items()}
            open_rows = session.scalars(
                select(Instalment)
                .where(Instalment.loan_id == loan_id, Instalment.status.in_(loans.OPEN_ROWS))
                .order_by(Instalment.period)
            ).all()
            found["instalments_left"] = len(open_rows)
            found["next_payment"] = str(
                open_rows[0].principal
                + open_rows[0].interest
                + open_rows[0].fee
                - open_rows[0].paid_principal
                - open_rows[0].paid_interest
                - open_rows[0].paid_fee
                if open_rows
                else Decimal("0.00")
            )
            assert ledger.trial_balance(session).balanced
        if paid is not None:
            found |= {
                "principal": str(paid.repayment.principal),
                "interest": str(paid.repayment.interest),
                "penalty": str(paid.repayment.penalty),
                "credit": str(paid.credit),
            }
        expected = step["expect"]
        assert {k: found[k] for k in expected} == expected, f"step {n + 1} of {path.name}"


def test_every_kind_of_step_is_covered():
    steps = [s for p in SCENARIOS for s in tomllib.loads(p.read_text("utf-8"))["steps"]]
    assert {"eod_through", "repay", "prepay", "prepay_part"} <= {k for s in steps for k in s}
