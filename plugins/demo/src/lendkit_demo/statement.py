"""The demo's reconciliation exceptions: yesterday's channel statement, with mismatches.

A handful of real payment orders go through the payment state machine for
the demo's running loans — withholdings, confirmed as the gateway's
callback would confirm them, settled yesterday — and the outbox delivers
them to the loans. Then the channel's statement for yesterday is imported
with four deliberate mistakes, and matched, so the exceptions queue shows
one of each kind: an order the channel does not list (``missing_theirs``),
a line we have no order for (``missing_ours``), a wrong amount
(``amount_mismatch``) and a failure we had confirmed (``status_mismatch``).

Reconciling that day again asks the gateway for its statement; the
gateway stand-in keeps its orders in memory, so each time the demo starts
it is told what its statement of that day said (:func:`planted_statements`,
given to its test desk as extra lines) and a rerun finds the same four
exceptions instead of closing them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from lendkit import outbox
from lendkit.clearing import payments, reconcile
from lendkit.lifecycle.loan_models import Loan
from lendkit.models import Borrower
from lendkit.types import ChannelResult, StatementLine
from sqlalchemy import select

from lendkit_demo.channel import demo_channel

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["REFERENCE_PREFIX", "planted_statements", "statement_with_mismatches"]

REFERENCE_PREFIX = "SBXDEMO"  # the channel references of the planted lines


def statement_with_mismatches(runtime: Runtime, yesterday: date) -> int:
    """Create yesterday's orders and statement; returns the exceptions queued."""
    channel = demo_channel(runtime)
    lines: list[StatementLine] = []
    with runtime.sessions.begin() as session:
        running = session.scalars(
            select(Loan).where(Loan.status == "active").order_by(Loan.id).limit(6)
        ).all()
        for n, loan in enumerate(running):
            person = session.get_one(Borrower, loan.borrower_id)
            order = payments.request_collection(
                session,
                runtime,
                idempotency_key=f"demo:recon:{loan.id}",
                loan_id=loan.id,
                amount=Decimal("200.00") + n,
                channel=channel,
                payee=payments.Payee(person.name or "", person.bank_card or ""),
            )
            reference = f"{REFERENCE_PREFIX}{n:04d}"
            payments.apply_result(
                session,
                channel,
                ChannelResult(
                    order.order_no, "succeeded", order.amount, reference, settled_on=yesterday
                ),
                source="callback",
            )
            lines.append(
                StatementLine(
                    yesterday, order.order_no, reference, "collect", order.amount, "succeeded"
                )
            )
    outbox.drain(runtime.sessions, runtime.pm, runtime.settings.outbox)
    missing, wrong, failed = lines[0], lines[1], lines[2]
    statement = [
        replace(wrong, amount=wrong.amount - Decimal("10.00")),
        replace(failed, status="failed", code="INSUFFICIENT_BALANCE"),
        *lines[3:],
        StatementLine(
            yesterday,
            "C20990101DEMO0000000",
            f"{REFERENCE_PREFIX}9999",
            "collect",
            Decimal("88.00"),
            "succeeded",
        ),
    ]
    assert missing not in statement  # the channel's file leaves it out
    with runtime.sessions.begin() as session:
        reconcile.match(session, reconcile.import_statement(session, channel, yesterday, statement))
        return len(reconcile.exceptions(session, business_date=yesterday, channel=channel))


def planted_statements(runtime: Runtime) -> dict[date, list[StatementLine]]:
    """The statements :func:`statement_with_mismatches` planted, by business date."""
    statement, line = reconcile.ChannelStatement, reconcile.ChannelStatementLine
    with runtime.read_sessions() as session:
        planted = session.scalars(
            select(statement)
            .where(
                statement.channel == demo_channel(runtime),
                statement.id.in_(
                    select(line.statement_id).where(line.channel_ref.startswith(REFERENCE_PREFIX))
                ),
            )
            .order_by(statement.id)
        ).all()
        found: dict[date, list[StatementLine]] = {}
        for each in planted:
            rows = session.scalars(
                select(line).where(line.statement_id == each.id).order_by(line.line_no)
            )
            found[each.business_date] = [
                StatementLine(
                    row.settled_on,
                    row.order_no,
                    row.channel_ref,
                    row.kind,  # type: ignore[arg-type]
                    row.amount,
                    row.status,  # type: ignore[arg-type]
                    row.fee,
                    row.code,
                )
                for row in rows
            ]
        return found
