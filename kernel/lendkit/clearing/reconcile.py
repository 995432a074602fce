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
per day is the latest run, and it books the channel's fees for the day
(:func:`book_fees`).

A daily file may hold a million lines, so the work is set-based: the lines
are stored with one COPY (PostgreSQL), the file's SM3 digest is OpenSSL's
where available, and the database matches all lines in one query that
returns only the mismatches (bench/reconcile.py: 1,000,000 lines well
within 30 s, in little memory).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    Select,
    String,
    Subquery,
    UniqueConstraint,
    and_,
    case,
    distinct,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from lendkit import audit, outbox
from lendkit.clearing import ledger, payments
from lendkit.clearing.ledger import Line
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.payments import PaymentOrder, Status
from lendkit.crypto.sm3 import sm3
from lendkit.db import Base, BigId, Json, UTCDateTime, utcnow
from lendkit.errors import ConflictError, LendkitError, NotFoundError, ValidationFailed
from lendkit.types import ChannelError, ChannelResult, StatementLine

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = [
    "ACTIONS",
    "KINDS",
    "ChannelStatement",
    "ChannelStatementLine",
    "ChannelUnavailable",
    "ReconException",
    "ReconResolution",
    "ReconRun",
    "Summary",
    "book_fees",
    "exceptions",
    "fee_cause",
    "fees_booked",
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

LINE_COLUMNS = (
    "statement_id",
    "line_no",
    "order_no",
    "channel_ref",
    "kind",
    "amount",
    "fee",
    "status",
    "code",
    "settled_on",
)
INSERT_CHUNK = 10_000


class _Digest:
    """SM3 of the statement's canonical form, fed line by line.

    OpenSSL's SM3 (``hashlib``, where the build has it) digests a
    1,000,000-line file in well under a second; gmssl's pure-Python one
    takes minutes, so it is only the fallback. Both give the same digest.
    """

    def __init__(self) -> None:
        try:
            self._hasher: Any = hashlib.new("sm3")
        except ValueError:
            self._hasher = None
        self._parts: list[bytes] = []

    def update(self, data: bytes) -> None:
        if self._hasher is not None:
            self._hasher.update(data)
        else:
            self._parts.append(data)

    def hexdigest(self) -> str:
        if self._hasher is not None:
            return str(self._hasher.hexdigest())
        return sm3(b"".join(self._parts)).hex()


def _checked(lines: Sequence[StatementLine]) -> tuple[str, Decimal, bool]:
    """Validate every line; return the file's digest, its succeeded total, and
    whether every amount and fee was already at the fen.

    The digest is SM3 of the canonical form: one row per line,
    ``date|order|ref|kind|amount|fee|status|code``, rows joined by ``\\n``.
    """
    digest, total, at_fen = _Digest(), ZERO, True
    dates: dict[date, str] = {}
    separator = ""
    for line in lines:
        if line.kind not in ("disburse", "collect") or line.status not in ("succeeded", "failed"):
            raise ValidationFailed(
                f"statement line for {line.order_no!r}: bad kind or status",
                code="statement_malformed",
            )
        amount, fee = money(line.amount), money(line.fee)
        if amount <= 0:
            raise ValidationFailed(
                f"statement line for {line.order_no!r}: amount must be positive",
                code="statement_malformed",
            )
        if line.status == "succeeded":
            total += amount
        at_fen = at_fen and amount == line.amount and fee == line.fee
        day = dates.get(line.settled_on) or dates.setdefault(
            line.settled_on, line.settled_on.isoformat()
        )
        digest.update(
            f"{separator}{day}|{line.order_no}|{line.channel_ref}|{line.kind}|{amount}|{fee}"
            f"|{line.status}|{line.code}".encode()
        )
        separator = "\n"
    return digest.hexdigest(), total, at_fen


def _line_rows(
    statement_id: int, lines: Sequence[StatementLine], at_fen: bool
) -> Iterator[tuple[Any, ...]]:
    """The table's rows; amounts already at the fen (the usual case) go as they are."""
    for number, line in enumerate(lines, start=1):
        yield (
            statement_id,
            number,
            line.order_no,
            line.channel_ref,
            line.kind,
            line.amount if at_fen else money(line.amount),
            line.fee if at_fen else money(line.fee),
            line.status,
            line.code,
            line.settled_on,
        )


def _store_lines(
    session: Session, statement_id: int, lines: Sequence[StatementLine], at_fen: bool
) -> None:
    """Write the lines set-based: COPY on PostgreSQL, batched inserts elsewhere.

    A daily file can hold a million lines; ORM objects one by one would take
    minutes and gigabytes.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        assert raw is not None
        columns = ", ".join(LINE_COLUMNS)
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY channel_statement_line ({columns}) FROM STDIN") as copy,
        ):
            for row in _line_rows(statement_id, lines, at_fen):
                copy.write_row(row)
        return
    rows = _line_rows(statement_id, lines, at_fen)
    while chunk := [
        dict(zip(LINE_COLUMNS, row, strict=True)) for row in islice(rows, INSERT_CHUNK)
    ]:
        connection.execute(insert(ChannelStatementLine), chunk)


def import_statement(
    session: Session, channel: str, business_date: date, lines: Sequence[StatementLine]
) -> ChannelStatement:
    """Store a statement's lines (once per distinct content) and return it."""
    digest, total, at_fen = _checked(lines)
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
        total_amount=total,
        imported_at=utcnow(),
    )
    session.add(statement)
    session.flush()
    _store_lines(session, statement.id, lines, at_fen)
    return statement


# -- Matching --------------------------------------------------------------------
#
# The match is set-based: the database merges each order's lines, joins them
# to the orders and to the journal, and classifies every order; only the
# mismatches come back as rows (the rest are counted), so a million-line file
# costs seconds and little memory.


@dataclass(frozen=True, slots=True)
class _Finding:
    kind: Kind
    order_no: str
    payment_kind: str
    detail: str
    statement_amount: Decimal | None = None
    statement_status: str | None = None
    settled_on: date | None = None
    order_amount: Decimal | None = None
    order_status: str | None = None
    loan_id: int | None = None
    ledger_amount: Decimal | None = None


def _transit_accounts(session: Session) -> list[int]:
    """Ids of every channel's in-transit account (the chart has few accounts)."""
    rows = session.execute(select(ledger.Account.id, ledger.Account.code))
    return [id_ for id_, code in rows if code.partition(":")[0] == "channel_in_transit"]


def _result_key(order: Any) -> ColumnElement[str]:
    """The idempotency key of the entry that posted an order's result (see payments)."""
    suffix = case((order.c.kind == "disburse", literal(":confirm")), else_=literal(":receive"))
    key: ColumnElement[str] = literal("payment:") + order.c.order_no + suffix
    return key


def _differs(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[bool]:
    # Rounded: SQLite keeps NUMERIC as binary floating point.
    return func.round(a - b, 2) != 0


def _merged_lines(statement_id: int) -> Subquery:
    """One row per order: duplicate lines add up.

    Lines of one order merge as they are read in order: succeeded lines add
    up (a doubled payout shows as an amount mismatch) and carry the last
    succeeded line's kind and date; an order with no succeeded line is its
    last line.
    """
    line = ChannelStatementLine.__table__
    succeeded = line.c.status == "succeeded"
    ranked = (
        select(
            line.c.order_no,
            line.c.kind,
            line.c.amount,
            line.c.status,
            line.c.settled_on,
            func.sum(case((succeeded, line.c.amount), else_=ZERO))
            .over(partition_by=line.c.order_no)
            .label("succeeded_amount"),
            func.row_number()
            .over(
                partition_by=line.c.order_no,
                order_by=(case((succeeded, 0), else_=1), line.c.line_no.desc()),
            )
            .label("rank"),
        )
        .where(line.c.statement_id == statement_id)
        .subquery("ranked")
    )
    return (
        select(
            ranked.c.order_no,
            ranked.c.kind,
            ranked.c.status,
            ranked.c.settled_on,
            case(
                (ranked.c.status == "succeeded", ranked.c.succeeded_amount),
                else_=ranked.c.amount,
            ).label("amount"),
        )
        .where(ranked.c.rank == 1)
        .subquery("merged")
    )


def _statement_side(statement: ChannelStatement, transit: list[int]) -> Select[Any]:
    """The statement's orders that do not match, each classified.

    One pass: merged lines (in order-number order, from the index) each look
    up their order, its result entry by key (unless reversed) and that
    entry's lines in a channel account; the per-order group sums those lines
    (the other columns are one value per order, hence ``max``).
    """
    merged = _merged_lines(statement.id)
    order = PaymentOrder.__table__
    entry = ledger.JournalEntry.__table__
    line = ledger.JournalLine.__table__
    reversal = entry.alias("reversal")
    per_order = (
        select(
            merged.c.order_no,
            func.max(merged.c.kind).label("line_kind"),
            func.max(merged.c.amount).label("line_amount"),
            func.max(merged.c.status).label("line_status"),
            func.max(merged.c.settled_on).label("settled_on"),
            func.max(order.c.order_no).label("our_no"),
            func.max(order.c.kind).label("our_kind"),
            func.max(order.c.amount).label("our_amount"),
            func.max(order.c.status).label("our_status"),
            func.max(order.c.loan_id).label("loan_id"),
            func.coalesce(func.sum(func.abs(line.c.amount)), ZERO).label("booked"),
        )
        .select_from(merged)
        .outerjoin(
            order, and_(order.c.order_no == merged.c.order_no, order.c.channel == statement.channel)
        )
        .outerjoin(
            entry,
            and_(
                entry.c.idempotency_key == _result_key(order),
                ~exists().where(reversal.c.reverses_id == entry.c.id),
            ),
        )
        .outerjoin(line, and_(line.c.entry_id == entry.c.id, line.c.account_id.in_(transit)))
        .group_by(merged.c.order_no)
        .subquery("per_order")
    )
    p = per_order.c
    ok_here, ok_there = p.our_status == Status.CONFIRMED, p.line_status == "succeeded"
    finding = case(
        (p.our_no.is_(None), "missing_ours"),
        (
            or_(
                p.our_status.not_in([str(s) for s in payments.FINAL]),
                and_(ok_here, ~ok_there),
                and_(~ok_here, ok_there),
            ),
            "status_mismatch",
        ),
        (and_(ok_there, _differs(p.line_amount, p.our_amount)), "amount_mismatch"),
        (and_(ok_there, _differs(p.line_amount, p.booked)), "amount_mismatch"),
        else_="matched",
    )
    classified = select(per_order, finding.label("finding")).subquery("classified")
    c = classified.c
    return select(
        c.finding,
        c.order_no,
        c.line_kind,
        c.line_amount,
        c.line_status,
        c.settled_on,
        c.our_kind,
        c.our_amount,
        c.our_status,
        c.loan_id,
        c.booked,
    ).where(c.finding != "matched")


def _missing_theirs(statement: ChannelStatement, transit: list[int]) -> Select[Any]:
    """Orders we confirmed with that result date which the statement does not list."""
    order = PaymentOrder.__table__
    entry = ledger.JournalEntry.__table__
    line = ledger.JournalLine.__table__
    reversal = entry.alias("reversal")
    listed = ChannelStatementLine.__table__
    booked = (
        select(func.coalesce(func.sum(func.abs(line.c.amount)), ZERO))
        .select_from(entry.join(line, line.c.entry_id == entry.c.id))
        .where(
            entry.c.idempotency_key == _result_key(order),
            line.c.account_id.in_(transit),
            ~exists().where(reversal.c.reverses_id == entry.c.id),
        )
        .scalar_subquery()
    )
    return select(
        order.c.order_no, order.c.kind, order.c.amount, order.c.status, order.c.loan_id, booked
    ).where(
        order.c.channel == statement.channel,
        order.c.result_date == statement.business_date,
        order.c.status == Status.CONFIRMED,
        ~exists().where(
            listed.c.statement_id == statement.id, listed.c.order_no == order.c.order_no
        ),
    )


def _amount(value: Any) -> Decimal | None:
    return None if value is None else money(Decimal(str(value)))


def _findings(session: Session, statement: ChannelStatement) -> tuple[list[_Finding], int, Decimal]:
    """The mismatches, how many orders matched and the succeeded amount they carry."""
    transit = _transit_accounts(session)
    findings: list[_Finding] = []
    for row in session.execute(_statement_side(statement, transit)):
        kind, number, line_kind, line_amount, line_status, settled_on = row[:6]
        our_kind, our_amount, our_status, loan_id, booked = row[6:]
        line_amount, our_amount, booked = _amount(line_amount), _amount(our_amount), _amount(booked)
        if kind == "missing_ours":
            detail, booked = "no such order here", None
        elif kind == "status_mismatch":
            detail = f"channel {line_status}, we {our_status}"
        elif line_amount != our_amount:
            detail = f"channel moved {line_amount}, order is for {our_amount}"
        else:
            detail = f"ledger booked {booked}, channel moved {line_amount}"
        findings.append(
            _Finding(
                kind,
                number,
                our_kind or line_kind,
                detail,
                statement_amount=line_amount,
                statement_status=line_status,
                settled_on=settled_on,
                order_amount=our_amount,
                order_status=our_status,
                loan_id=loan_id,
                ledger_amount=booked,
            )
        )
    # Every other order on the statement matched; the statement's succeeded
    # total is the sum of its orders' merged succeeded amounts.
    orders = session.scalar(
        select(func.count(distinct(ChannelStatementLine.order_no))).where(
            ChannelStatementLine.statement_id == statement.id
        )
    )
    matched = int(orders or 0) - len(findings)
    matched_total = statement.total_amount - sum(
        (f.statement_amount or ZERO for f in findings if f.statement_status == "succeeded"), ZERO
    )
    for number, our_kind, amount, status, loan_id, booked in session.execute(
        _missing_theirs(statement, transit)
    ):
        findings.append(
            _Finding(
                "missing_theirs",
                number,
                our_kind,
                "confirmed here, not on the channel's statement",
                settled_on=statement.business_date,
                order_amount=_amount(amount),
                order_status=status,
                loan_id=loan_id,
                ledger_amount=_amount(booked),
            )
        )
    findings.sort(key=lambda f: (KINDS.index(f.kind), f.order_no))
    return findings, matched, money(matched_total)


def match(session: Session, statement: ChannelStatement) -> ReconRun:
    """Match one imported statement against orders and ledger; queue the exceptions;
    book the channel's fees for the day (see :func:`book_fees`)."""
    started = utcnow()
    findings, matched, matched_total = _findings(session, statement)
    fees = session.scalar(
        select(func.coalesce(func.sum(ChannelStatementLine.fee), ZERO)).where(
            ChannelStatementLine.statement_id == statement.id
        )
    )
    counts = {kind: sum(1 for f in findings if f.kind == kind) for kind in KINDS}
    run = ReconRun(
        channel=statement.channel,
        business_date=statement.business_date,
        statement_id=statement.id,
        started_at=started,
        finished_at=utcnow(),
        lines=statement.line_count,
        matched=matched,
        statement_total=statement.total_amount,
        matched_total=matched_total,
        fees=money(Decimal(str(fees or 0))),
        **counts,
    )
    session.add(run)
    session.flush()
    _queue(session, run, findings)
    book_fees(session, statement.channel, statement.business_date, run.fees)
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
    found = {(f.kind, f.order_no) for f in findings}
    now = utcnow()
    new = [
        {
            "channel": run.channel,
            "business_date": run.business_date,
            "kind": f.kind,
            "order_no": f.order_no,
            "payment_kind": f.payment_kind,
            "loan_id": f.loan_id,
            "statement_amount": f.statement_amount,
            "statement_status": f.statement_status,
            "order_amount": f.order_amount,
            "order_status": f.order_status,
            "ledger_amount": f.ledger_amount,
            "settled_on": f.settled_on or run.business_date,
            "detail": f.detail[:256],
            "status": "open",
            "run_id": run.id,
            "created_at": now,
        }
        for f in findings
        if (f.kind, f.order_no) not in existing
    ]
    for start in range(0, len(new), INSERT_CHUNK):
        session.execute(insert(ReconException), new[start : start + INSERT_CHUNK])
    for seen, exception in existing.items():
        if seen not in found and exception.status == "open":
            _close(session, exception, "cleared", "system", f"not found again by run {run.id}", [])
    session.flush()


# -- Channel fees ----------------------------------------------------------------

FEE_ACCOUNT = "channel_fee_expense"


def fee_cause(channel: str, business_date: date) -> str:
    return f"channel_fee:{channel}:{business_date.isoformat()}"


def fees_booked(session: Session, channel: str, business_date: date) -> tuple[Decimal, int]:
    """The channel's fees booked for that day (net of reversals), and how many entries.

    The entries' keys are the cause, then ``<cause>:2``, ``:3``… so each is
    found by its unique key.
    """
    cause, total, count = fee_cause(channel, business_date), ZERO, 0
    while True:
        key = cause if count == 0 else f"{cause}:{count + 1}"
        entry = session.scalar(
            select(ledger.JournalEntry).where(ledger.JournalEntry.idempotency_key == key)
        )
        if entry is None:
            return total, count
        count += 1
        reversed_ = session.scalar(
            select(ledger.JournalEntry.id).where(ledger.JournalEntry.reverses_id == entry.id)
        )
        if reversed_ is None:
            total += sum((ln.amount for ln in entry.lines if ln.account.code == FEE_ACCOUNT), ZERO)


def book_fees(
    session: Session, channel: str, business_date: date, fees: Decimal
) -> ledger.JournalEntry | None:
    """Post the channel's fees for the day: Dr channel fees / Cr the channel's account.

    The channel pays the borrower, or takes from them, the full amount (the
    statement's amount is the order's) and charges its fee to us, out of the
    funds it holds for us: so the fee leaves ``channel_in_transit:<channel>``.
    The books follow the latest reconciled statement of the day: the first
    run posts its fees under the key ``channel_fee:<channel>:<date>``; a run
    over a changed statement posts only the difference (``…:2``, ``…:3``);
    a rerun of the same statement posts nothing. Dated the statement's
    business date, so the day's fund-flow report shows them beside the
    statement's fees.
    """
    booked, count = fees_booked(session, channel, business_date)
    delta = money(fees) - booked
    if delta == 0:
        return None
    cause = fee_cause(channel, business_date)
    return ledger.post(
        session,
        business_date=business_date,
        idempotency_key=cause if count == 0 else f"{cause}:{count + 1}",
        cause=cause,
        memo=f"channel fees {channel} {business_date.isoformat()}"
        + ("" if count == 0 else f": statement changed by {delta}"),
        lines=[Line(FEE_ACCOUNT, delta), Line(f"channel_in_transit:{channel}", -delta)],
    )


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


class ChannelUnavailable(LendkitError):
    status = 503
    code = "channel_unavailable"
    title = "Payment channel unavailable"


def _fetch(runtime: Runtime, name: str, business_date: date) -> list[StatementLine] | None:
    """The channel's statement of the day; 503 ``channel_unavailable`` when it cannot say."""
    from lendkit.clearing.channels import channel_of

    try:
        return channel_of(runtime, name).statement(business_date)
    except ChannelError as exc:
        url = getattr(channel_of(runtime, name), "url", None)
        where = f" at {url}" if url else ""
        raise ChannelUnavailable(
            f"支付通道 {name} 无应答，请启动其网关后重试 / payment channel {name!r} did not "
            f"answer{where} ({exc.code}: {exc.message}): start its gateway (the channel "
            "plugin's README says how) and run again"
        ) from None


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
    from lendkit.clearing.channels import channel_names

    names = [channel] if channel else channel_names(runtime)
    if lines is not None and len(names) != 1:
        raise ValidationFailed("statement lines need one channel", code="channel_required")
    runs: dict[str, ReconRun | None] = {}
    for name in names:
        got = lines if lines is not None else _fetch(runtime, name, business_date)
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
