"""Reconciliation: channel statement ↔ payment orders ↔ ledger, per channel and day.

For one channel and business date, each line of the channel's statement is
matched to our payment order by order number, and each order to its
journal entry (found by its idempotency key, not through the order's own
pointer, so the three sources are checked independently):

* **matched** — same amount, both sides final and agreeing, ledger posted;
* ``missing_ours`` — the channel moved money for an order we do not have;
* ``missing_theirs`` — we confirmed an order (result date = that day) the
  statement does not list;
* ``amount_mismatch`` — the statement's amount differs from the order's, or
  the ledger's booked amount differs from what the channel moved;
* ``status_mismatch`` — the channel says succeeded where we say failed or in
  transit, or failed where we say confirmed or in transit.

Every mismatch becomes a row in the exceptions queue (once per channel,
date, kind and order, however often reconciliation reruns). Resolving one is
an audited action (:func:`resolve`) that posts balanced entries when money
moves; an open exception that a later run no longer finds is closed by the
system, on record. Each run is kept with its counts: the summary per channel
per day is the latest run.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from lendkit import audit, outbox
from lendkit.clearing import ledger, payments
from lendkit.clearing.accounts import kind_of
from lendkit.clearing.ledger import Line
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.payments import PaymentOrder, Status
from lendkit.crypto.gm import sm3
from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.types import ChannelResult, StatementLine

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = [
    "ACTIONS",
    "KINDS",
    "ChannelStatement",
    "ChannelStatementLine",
    "ReconException",
    "ReconResolution",
    "ReconRun",
    "Summary",
    "exceptions",
    "import_statement",
    "match",
    "reconcile",
    "resolve",
    "summary",
]

log = logging.getLogger(__name__)
AMOUNT = Numeric(18, 2)

Kind = Literal["missing_ours", "missing_theirs", "amount_mismatch", "status_mismatch"]
KINDS: tuple[Kind, ...] = ("missing_ours", "missing_theirs", "amount_mismatch", "status_mismatch")
Action = Literal["accept", "book_suspense", "reverse_order", "follow_statement"]
ACTIONS: dict[str, frozenset[str]] = {
    # "accept": no money moves (a timing difference, a refused payment); a note says why.
    "missing_ours": frozenset({"accept", "book_suspense"}),
    "missing_theirs": frozenset({"accept", "reverse_order"}),
    "amount_mismatch": frozenset({"accept", "book_suspense"}),
    "status_mismatch": frozenset({"accept", "follow_statement"}),
}


class ChannelStatement(Base):
    """One imported statement file; a re-sent, different file is a new row."""

    __tablename__ = "channel_statement"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[date] = mapped_column(Date)
    digest: Mapped[str] = mapped_column(String(64))  # SM3 of the lines, canonical form
    line_count: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[Decimal] = mapped_column(AMOUNT)  # succeeded lines
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("channel", "business_date", "digest", name="uq_channel_statement_file"),
    )


class ChannelStatementLine(Base):
    __tablename__ = "channel_statement_line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("channel_statement.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    order_no: Mapped[str] = mapped_column(String(64))
    channel_ref: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)
    fee: Mapped[Decimal] = mapped_column(AMOUNT)
    status: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    settled_on: Mapped[date] = mapped_column(Date)

    __table_args__ = (Index("ix_channel_statement_line_order", "statement_id", "order_no"),)


class ReconRun(Base):
    """One reconciliation of one statement: what it found, counted."""

    __tablename__ = "recon_run"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[date] = mapped_column(Date)
    statement_id: Mapped[int] = mapped_column(ForeignKey("channel_statement.id"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lines: Mapped[int] = mapped_column(Integer)
    matched: Mapped[int] = mapped_column(Integer)
    missing_ours: Mapped[int] = mapped_column(Integer)
    missing_theirs: Mapped[int] = mapped_column(Integer)
    amount_mismatch: Mapped[int] = mapped_column(Integer)
    status_mismatch: Mapped[int] = mapped_column(Integer)
    statement_total: Mapped[Decimal] = mapped_column(AMOUNT)
    matched_total: Mapped[Decimal] = mapped_column(AMOUNT)
    fees: Mapped[Decimal] = mapped_column(AMOUNT)

    __table_args__ = (Index("ix_recon_run_day", "channel", "business_date"),)

    @property
    def exceptions(self) -> int:
        return self.missing_ours + self.missing_theirs + self.amount_mismatch + self.status_mismatch


class ReconException(Base):
    """One mismatch waiting for a person (or already settled, see its resolution)."""

    __tablename__ = "recon_exception"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    business_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(24))
    order_no: Mapped[str] = mapped_column(String(64))
    payment_kind: Mapped[str] = mapped_column(String(16))  # disburse | collect
    loan_id: Mapped[int | None] = mapped_column(BigId)
    statement_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    statement_status: Mapped[str | None] = mapped_column(String(16))
    order_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    order_status: Mapped[str | None] = mapped_column(String(16))
    ledger_amount: Mapped[Decimal | None] = mapped_column(AMOUNT)
    settled_on: Mapped[date | None] = mapped_column(Date)
    detail: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    run_id: Mapped[int] = mapped_column(ForeignKey("recon_run.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint(
            "channel", "business_date", "kind", "order_no", name="uq_recon_exception_key"
        ),
        Index("ix_recon_exception_open", "status", "business_date"),
    )


class ReconResolution(Base):
    """How an exception was settled, by whom; append-only."""

    __tablename__ = "recon_resolution"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    exception_id: Mapped[int] = mapped_column(ForeignKey("recon_exception.id"), unique=True)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(256))
    entry_ids: Mapped[list[int]] = mapped_column(Json)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# -- Import ----------------------------------------------------------------------


def _canonical(lines: Sequence[StatementLine]) -> bytes:
    rows = [
        "|".join(
            (
                line.settled_on.isoformat(),
                line.order_no,
                line.channel_ref,
                line.kind,
                str(money(line.amount)),
                str(money(line.fee)),
                line.status,
                line.code,
            )
        )
        for line in lines
    ]
    return "\n".join(rows).encode()


def import_statement(
    session: Session, channel: str, business_date: date, lines: Sequence[StatementLine]
) -> ChannelStatement:
    """Store a statement's lines (once per distinct content) and return it."""
    for line in lines:
        if line.kind not in ("disburse", "collect") or line.status not in ("succeeded", "failed"):
            raise ValidationFailed(
                f"statement line for {line.order_no!r}: bad kind or status",
                code="statement_malformed",
            )
        if money(line.amount) <= 0:
            raise ValidationFailed(
                f"statement line for {line.order_no!r}: amount must be positive",
                code="statement_malformed",
            )
    digest = sm3(_canonical(lines)).hex()
    existing = session.scalar(
        select(ChannelStatement).where(
            ChannelStatement.channel == channel,
            ChannelStatement.business_date == business_date,
            ChannelStatement.digest == digest,
        )
    )
    if existing is not None:
        return existing
    statement = ChannelStatement(
        channel=channel,
        business_date=business_date,
        digest=digest,
        line_count=len(lines),
        total_amount=sum(
            (money(line.amount) for line in lines if line.status == "succeeded"), ZERO
        ),
        imported_at=utcnow(),
    )
    session.add(statement)
    session.flush()
    session.add_all(
        ChannelStatementLine(
            statement_id=statement.id,
            line_no=number,
            order_no=line.order_no,
            channel_ref=line.channel_ref,
            kind=line.kind,
            amount=money(line.amount),
            fee=money(line.fee),
            status=line.status,
            code=line.code,
            settled_on=line.settled_on,
        )
        for number, line in enumerate(lines, start=1)
    )
    session.flush()
    return statement


# -- Matching --------------------------------------------------------------------


def _result_key(order_no: str, kind: str) -> str:
    return f"payment:{order_no}:{'confirm' if kind == 'disburse' else 'receive'}"


def _ledger_amounts(session: Session, orders: Sequence[PaymentOrder]) -> dict[str, Decimal]:
    """What the journal says moved through the channel for each order (0: nothing)."""
    keys = {_result_key(o.order_no, o.kind): o.order_no for o in orders}
    found: dict[str, Decimal] = dict.fromkeys(keys.values(), ZERO)
    if not keys:
        return found
    reversal = ledger.JournalEntry.__table__.alias("reversal")
    rows = session.execute(
        select(ledger.JournalEntry.idempotency_key, ledger.Account.code, ledger.JournalLine.amount)
        .join(ledger.JournalLine, ledger.JournalLine.entry_id == ledger.JournalEntry.id)
        .join(ledger.Account, ledger.Account.id == ledger.JournalLine.account_id)
        .outerjoin(reversal, reversal.c.reverses_id == ledger.JournalEntry.id)
        .where(ledger.JournalEntry.idempotency_key.in_(list(keys)), reversal.c.id.is_(None))
    )
    for key, code, amount in rows:
        if kind_of(code).code == "channel_in_transit":
            found[keys[key]] += abs(money(amount))
    return found


@dataclass(frozen=True, slots=True)
class _Line:
    order_no: str
    kind: str
    amount: Decimal
    status: str
    settled_on: date


@dataclass
class _Finding:
    kind: Kind
    order_no: str
    payment_kind: str
    detail: str
    line: _Line | None = None
    order: PaymentOrder | None = None
    ledger_amount: Decimal | None = None


def _compare(
    lines: Sequence[_Line],
    orders: dict[str, PaymentOrder],
    booked: dict[str, Decimal],
    confirmed_that_day: Sequence[PaymentOrder],
) -> tuple[list[_Finding], int, Decimal]:
    findings: list[_Finding] = []
    matched, matched_total = 0, ZERO
    for line in lines:
        order = orders.get(line.order_no)
        if order is None:
            findings.append(
                _Finding("missing_ours", line.order_no, line.kind, "no such order here", line)
            )
            continue
        ours_final = order.status in payments.FINAL
        ours_ok = order.status == Status.CONFIRMED
        theirs_ok = line.status == "succeeded"
        ledger_amount = booked.get(order.order_no, ZERO)
        if not ours_final or ours_ok != theirs_ok:
            findings.append(
                _Finding(
                    "status_mismatch",
                    line.order_no,
                    order.kind,
                    f"channel {line.status}, we {order.status}",
                    line,
                    order,
                    ledger_amount,
                )
            )
        elif theirs_ok and line.amount != order.amount:
            findings.append(
                _Finding(
                    "amount_mismatch",
                    line.order_no,
                    order.kind,
                    f"channel moved {line.amount}, order is for {order.amount}",
                    line,
                    order,
                    ledger_amount,
                )
            )
        elif theirs_ok and ledger_amount != line.amount:
            findings.append(
                _Finding(
                    "amount_mismatch",
                    line.order_no,
                    order.kind,
                    f"ledger booked {ledger_amount}, channel moved {line.amount}",
                    line,
                    order,
                    ledger_amount,
                )
            )
        else:
            matched += 1
            matched_total += line.amount if theirs_ok else ZERO
    listed = {line.order_no for line in lines}
    for order in confirmed_that_day:
        if order.order_no not in listed:
            findings.append(
                _Finding(
                    "missing_theirs",
                    order.order_no,
                    order.kind,
                    "confirmed here, not on the channel's statement",
                    None,
                    order,
                    booked.get(order.order_no, ZERO),
                )
            )
    return findings, matched, matched_total


def match(session: Session, statement: ChannelStatement) -> ReconRun:
    """Match one imported statement against orders and ledger; queue the exceptions."""
    started = utcnow()
    lines = list(
        session.scalars(
            select(ChannelStatementLine)
            .where(ChannelStatementLine.statement_id == statement.id)
            .order_by(ChannelStatementLine.line_no)
        )
    )
    # Duplicate lines of one order are added up: a doubled payment shows as an amount mismatch.
    merged: dict[str, _Line] = {}
    for row in lines:
        line = _Line(row.order_no, row.kind, row.amount, row.status, row.settled_on)
        seen = merged.get(line.order_no)
        if seen is None or seen.status == "failed":
            merged[line.order_no] = line
        elif line.status == "succeeded":
            merged[line.order_no] = _Line(
                line.order_no, line.kind, seen.amount + line.amount, "succeeded", line.settled_on
            )
    numbers = list(merged)
    orders = {
        o.order_no: o
        for o in session.scalars(
            select(PaymentOrder).where(
                PaymentOrder.order_no.in_(numbers), PaymentOrder.channel == statement.channel
            )
        )
    }
    confirmed_that_day = list(
        session.scalars(
            select(PaymentOrder).where(
                PaymentOrder.channel == statement.channel,
                PaymentOrder.result_date == statement.business_date,
                PaymentOrder.status == Status.CONFIRMED,
            )
        )
    )
    for order in confirmed_that_day:
        orders.setdefault(order.order_no, order)
    booked = _ledger_amounts(session, list(orders.values()))
    findings, matched, matched_total = _compare(
        list(merged.values()), orders, booked, confirmed_that_day
    )
    counts = {kind: sum(1 for f in findings if f.kind == kind) for kind in KINDS}
    run = ReconRun(
        channel=statement.channel,
        business_date=statement.business_date,
        statement_id=statement.id,
        started_at=started,
        finished_at=utcnow(),
        lines=len(lines),
        matched=matched,
        statement_total=statement.total_amount,
        matched_total=matched_total,
        fees=sum((line.fee for line in lines), ZERO),
        **counts,
    )
    session.add(run)
    session.flush()
    _queue(session, run, findings)
    return run


def _queue(session: Session, run: ReconRun, findings: Sequence[_Finding]) -> None:
    existing = {
        (e.kind, e.order_no): e
        for e in session.scalars(
            select(ReconException).where(
                ReconException.channel == run.channel,
                ReconException.business_date == run.business_date,
            )
        )
    }
    found: set[tuple[str, str]] = set()
    for finding in findings:
        key: tuple[str, str] = (finding.kind, finding.order_no)
        found.add(key)
        if key in existing:
            continue
        line, order = finding.line, finding.order
        session.add(
            ReconException(
                channel=run.channel,
                business_date=run.business_date,
                kind=finding.kind,
                order_no=finding.order_no,
                payment_kind=finding.payment_kind,
                loan_id=order.loan_id if order else None,
                statement_amount=line.amount if line else None,
                statement_status=line.status if line else None,
                order_amount=order.amount if order else None,
                order_status=order.status if order else None,
                ledger_amount=finding.ledger_amount,
                settled_on=line.settled_on if line else run.business_date,
                detail=finding.detail[:256],
                status="open",
                run_id=run.id,
                created_at=utcnow(),
            )
        )
    for seen, exception in existing.items():
        if seen not in found and exception.status == "open":
            _close(session, exception, "cleared", "system", f"not found again by run {run.id}", [])
    session.flush()


def _close(
    session: Session,
    exception: ReconException,
    action: str,
    actor: str,
    note: str,
    entry_ids: list[int],
) -> ReconResolution:
    exception.status = "resolved"
    exception.resolved_at = utcnow()
    resolution = ReconResolution(
        exception_id=exception.id,
        action=action,
        actor=actor,
        note=note[:256],
        entry_ids=entry_ids,
        at=utcnow(),
    )
    session.add(resolution)
    audit.record(
        session,
        actor,
        "recon.resolve",
        f"recon_exception:{exception.id}",
        resolution=action,
        kind=exception.kind,
        channel=exception.channel,
        business_date=exception.business_date.isoformat(),
        order_no=exception.order_no,
        entries=entry_ids,
        note=note[:256],
    )
    session.flush()
    return resolution


# -- Resolution ------------------------------------------------------------------


def _suspense_lines(exception: ReconException, delta: Decimal) -> list[Line]:
    """The channel moved ``delta`` more than our books say, in the payment's direction.

    A collection that took more from the borrower owes it back (Cr suspense);
    a disbursement that paid more is owed by the borrower (Dr suspense).
    """
    transit = f"channel_in_transit:{exception.channel}"
    sign = 1 if exception.payment_kind == "collect" else -1
    delta = money(delta) * sign
    return [
        Line(transit, delta, loan_id=exception.loan_id),
        Line("borrower_suspense", -delta, loan_id=exception.loan_id),
    ]


def resolve(
    session: Session,
    exception_id: int,
    action: str,
    *,
    actor: str,
    note: str,
) -> ReconResolution:
    """Settle one exception by ``action``; audited; balanced entries where money moves.

    Raises :class:`NotFoundError` (``unknown_exception``),
    :class:`ConflictError` (``already_resolved``) and
    :class:`ValidationFailed` (``action_not_allowed``, ``note_required``,
    ``nothing_to_book``).
    """
    exception = session.scalar(
        select(ReconException).where(ReconException.id == exception_id).with_for_update()
    )
    if exception is None:
        raise NotFoundError(f"no reconciliation exception {exception_id}", code="unknown_exception")
    if exception.status != "open":
        raise ConflictError(
            f"exception {exception_id} is already resolved", code="already_resolved"
        )
    if action not in ACTIONS[exception.kind]:
        allowed = ", ".join(sorted(ACTIONS[exception.kind]))
        raise ValidationFailed(
            f"{exception.kind} is resolved by one of: {allowed}", code="action_not_allowed"
        )
    if not note.strip():
        raise ValidationFailed("say why in a note", code="note_required")
    entry_ids: list[int] = []
    today = payments.business_today()
    if action == "book_suspense":
        moved = exception.statement_amount if exception.statement_status == "succeeded" else None
        if moved is None:
            raise ValidationFailed("the channel moved no money here", code="nothing_to_book")
        delta = moved - (exception.ledger_amount or ZERO)
        if delta == 0:
            raise ValidationFailed("the ledger already shows that amount", code="nothing_to_book")
        entry = ledger.post(
            session,
            business_date=today,
            idempotency_key=f"recon:{exception.id}:book_suspense",
            cause=f"recon:{exception.id}",
            memo=f"reconciliation {exception.kind} {exception.order_no}",
            lines=_suspense_lines(exception, delta),
        )
        entry_ids.append(entry.id)
    elif action == "reverse_order":
        order = payments.order_by_no(session, exception.order_no)
        entry_ids += payments.force_reverse(session, order, note=f"recon:{exception.id}")
    elif action == "follow_statement":
        entry_ids += _follow_statement(session, exception)
    return _close(session, exception, action, actor, note, entry_ids)


def _follow_statement(session: Session, exception: ReconException) -> list[int]:
    order = payments.order_by_no(session, exception.order_no)
    succeeded = exception.statement_status == "succeeded"
    settled = exception.settled_on or exception.business_date
    before = {order.reserve_entry_id, order.result_entry_id}
    if order.status not in payments.FINAL:
        payments.apply_result(
            session,
            order.channel,
            ChannelResult(
                order_no=order.order_no,
                status="succeeded" if succeeded else "failed",
                amount=exception.statement_amount,
                settled_on=settled,
                code="" if succeeded else "statement_failed",
            ),
            source="reconcile",
        )
    elif succeeded and order.status == Status.FAILED:
        payments.force_confirm(session, order, settled_on=settled, note=f"recon:{exception.id}")
    elif not succeeded and order.status == Status.CONFIRMED:
        return payments.force_reverse(session, order, note=f"recon:{exception.id}")
    after = [order.reserve_entry_id, order.result_entry_id]
    return [entry for entry in after if entry is not None and entry not in before]


# -- Running and reading ----------------------------------------------------------


def reconcile(
    runtime: Runtime,
    business_date: date,
    channel: str | None = None,
    *,
    lines: Sequence[StatementLine] | None = None,
) -> dict[str, ReconRun | None]:
    """Fetch, import and match the statements of ``business_date``.

    Returns each channel's run, or None when the channel has no statement
    for that day yet. ``lines`` replaces the fetch (one channel only).
    """
    from lendkit.clearing.channels import channel_names, channel_of

    names = [channel] if channel else channel_names(runtime)
    if lines is not None and len(names) != 1:
        raise ValidationFailed("statement lines need one channel", code="channel_required")
    runs: dict[str, ReconRun | None] = {}
    for name in names:
        got = lines if lines is not None else channel_of(runtime, name).statement(business_date)
        if got is None:
            runs[name] = None
            continue
        with runtime.sessions.begin() as session:
            statement = import_statement(session, name, business_date, got)
            run = match(session, statement)
            outbox.publish(
                session,
                "payment.reconciled",
                {
                    "channel": name,
                    "business_date": business_date.isoformat(),
                    "run_id": run.id,
                    "matched": run.matched,
                    "exceptions": run.exceptions,
                },
            )
        log.info(
            "reconciled",
            extra={
                "channel": name,
                "business_date": business_date.isoformat(),
                "matched": run.matched,
                "exceptions": run.exceptions,
            },
        )
        runs[name] = run
    return runs


def reconcile_yesterday(runtime: Runtime, now: datetime) -> object:
    """Job ``reconcile-daily``: yesterday's statements, once each channel has one."""
    from lendkit.clearing.channels import channel_names

    day = payments.business_today(now) - timedelta(days=1)
    with runtime.read_sessions() as session:
        done = set(session.scalars(select(ReconRun.channel).where(ReconRun.business_date == day)))
    runs: dict[str, ReconRun | None] = {}
    for name in channel_names(runtime):
        if name in done:
            continue
        try:
            runs[name] = reconcile(runtime, day, name)[name]
        except Exception as exc:  # one channel's trouble must not stop the others
            log.warning(
                "reconciliation failed; will retry",
                extra={"channel": name, "business_date": day.isoformat(), "error": str(exc)[:300]},
            )
    return runs


@dataclass(frozen=True, slots=True)
class Summary:
    channel: str
    business_date: date
    run: ReconRun
    open_exceptions: int

    def as_dict(self) -> dict[str, Any]:
        run = self.run
        return {
            "channel": self.channel,
            "business_date": self.business_date.isoformat(),
            "run_id": run.id,
            "lines": run.lines,
            "matched": run.matched,
            **{kind: getattr(run, kind) for kind in KINDS},
            "statement_total": str(run.statement_total),
            "matched_total": str(run.matched_total),
            "fees": str(run.fees),
            "open_exceptions": self.open_exceptions,
        }


def summary(session: Session, business_date: date, channel: str | None = None) -> list[Summary]:
    """The latest run per channel for the day, with the exceptions still open."""
    latest = (
        select(func.max(ReconRun.id))
        .where(ReconRun.business_date == business_date)
        .group_by(ReconRun.channel)
    )
    query = select(ReconRun).where(ReconRun.id.in_(latest)).order_by(ReconRun.channel)
    if channel:
        query = query.where(ReconRun.channel == channel)
    result = []
    for run in session.scalars(query):
        open_count = session.scalar(
            select(func.count())
            .select_from(ReconException)
            .where(
                ReconException.channel == run.channel,
                ReconException.business_date == business_date,
                ReconException.status == "open",
            )
        )
        result.append(Summary(run.channel, business_date, run, int(open_count or 0)))
    return result


def exceptions(
    session: Session,
    *,
    business_date: date | None = None,
    channel: str | None = None,
    open_only: bool = True,
) -> list[ReconException]:
    query = select(ReconException).order_by(ReconException.id)
    if business_date is not None:
        query = query.where(ReconException.business_date == business_date)
    if channel:
        query = query.where(ReconException.channel == channel)
    if open_only:
        query = query.where(ReconException.status == "open")
    return list(session.scalars(query))
