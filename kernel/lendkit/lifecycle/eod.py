"""End of day (日终批处理): accrual, due and overdue, penalty, DPD, classification.

``run(runtime, day)`` plans the day once — every running loan, in chunks of
consecutive ids (``eod_chunk``) — and then works the chunks off. Each chunk
is one transaction: it locks its loans, posts one journal entry for the
chunk (key ``eod:<day>:<first>-<last>``; each loan's receivables on lines of
their own), updates the instalments and loans whose state changed, writes
history and events, and marks itself done. So:

* **idempotent** — a done chunk is never done again; rerunning a finished
  day changes nothing;
* **resumable** — a crash loses at most the chunks in flight, which roll
  back whole and are picked up by the next run;
* **parallel** — on PostgreSQL, workers claim chunks with
  ``FOR UPDATE SKIP LOCKED``; a loan is locked only while its own chunk runs,
  never for the length of the run, so repayments go on meanwhile.

Days run in order: a day is refused until the day before has finished (the
first day ever may start anywhere). Only the rows whose state changes are
written: instalments falling due or going overdue, loans whose period, DPD,
status, bucket or classification moves. Per loan, for business date ``D``:

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

import multiprocessing
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lendkit import outbox
from lendkit.clearing import colending
from lendkit.clearing.batch import bulk_update, post_lines
from lendkit.clearing.colending import Agreement, Funder
from lendkit.clearing.funding import FundingSource, LoanFunding
from lendkit.clearing.ledger import Line
from lendkit.clearing.money import ZERO
from lendkit.db import utcnow
from lendkit.errors import ConflictError
from lendkit.lifecycle import accrual, overdue
from lendkit.lifecycle.models import RUNNING, EodChunk, EodRun, Instalment, Loan, LoanEvent
from lendkit.models import OutboxEvent
from lendkit.settings import Lifecycle

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["Progress", "Summary", "plan", "process_chunk", "run"]

OWN_INCOME = frozenset(colending.INCOME.values())
CHUNK_SIZE = 5000
DEFAULT_RULES = Lifecycle()
ALL_OWN = (Funder(colending.OWN, Decimal(1)),)

Progress = Callable[[int, int], None]  # (chunks done, chunks in all)


@dataclass(frozen=True, slots=True)
class Summary:
    business_date: date
    loans: int
    chunks: int
    counts: dict[str, int]
    already_done: bool


# -- Planning ------------------------------------------------------------------


def _check_order(session: Session, day: date) -> EodRun | None:
    """The run of ``day`` if planned; refuses days out of order."""
    this = session.get(EodRun, day)
    if this is not None:
        return this
    unfinished = session.scalar(select(EodRun).where(EodRun.finished_at.is_(None)))
    if unfinished is not None:
        raise ConflictError(
            f"end of day {unfinished.business_date} is unfinished: run it again first",
            code="eod_unfinished",
        )
    last = session.scalar(select(func.max(EodRun.business_date)))
    if last is not None and day != last + timedelta(days=1):
        want = last + timedelta(days=1)
        raise ConflictError(
            f"end of day runs one day after another: the next is {want}, not {day}",
            code="eod_out_of_order",
        )
    return None


def plan(session: Session, day: date, chunk_size: int = CHUNK_SIZE) -> EodRun:
    """Create the day's run and its chunks (once; a second call returns the first)."""
    existing = _check_order(session, day)
    if existing is not None:
        return existing
    ids = session.scalars(
        select(Loan.id).where(Loan.status.in_(RUNNING), Loan.disbursed_on <= day).order_by(Loan.id)
    ).all()
    chunks = [ids[i : i + chunk_size] for i in range(0, len(ids), chunk_size)]
    run = EodRun(business_date=day, chunks=len(chunks), loans=len(ids), started_at=utcnow())
    session.add(run)
    session.flush()
    if chunks:
        session.execute(
            insert(EodChunk),
            [
                {
                    "business_date": day,
                    "chunk": n,
                    "first_loan_id": part[0],
                    "last_loan_id": part[-1],
                    "counts": {},
                }
                for n, part in enumerate(chunks)
            ],
        )
    return run


# -- One chunk -----------------------------------------------------------------


@dataclass(slots=True)
class _Loan:
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
    rows: list[_Row]

    def standing(self) -> tuple[str, int, int, str, str]:
        return (self.status, self.next_period, self.dpd, self.bucket, self.classification)


def _funders(session: Session, first: int, last: int) -> dict[int, list[Funder]]:
    """The funders of the co-lent loans in ``first..last``; a loan not here is all own funds."""
    found: dict[int, list[Funder]] = defaultdict(list)
    for loan_id, source, share in session.connection().execute(
        select(LoanFunding.loan_id, LoanFunding.source, LoanFunding.share)
        .where(
            LoanFunding.loan_id.between(first, last),
            or_(LoanFunding.source != colending.OWN, LoanFunding.share != 1),
        )
        .order_by(LoanFunding.loan_id, LoanFunding.source != colending.OWN, LoanFunding.source)
    ).all():
        found[loan_id].append(Funder(source, Decimal(share)))
    return found


def _agreements(session: Session) -> dict[str, Agreement]:
    return {
        code: Agreement(penalty=rule, fees=fees)  # type: ignore[arg-type]
        for code, rule, fees in session.execute(
            select(FundingSource.code, FundingSource.penalty_rule, FundingSource.fees_rule)
        )
    }


def _agreement(funders: Sequence[Funder], rules: dict[str, Agreement]) -> Agreement:
    partners = [f.source for f in funders if f.source != colending.OWN]
    return rules.get(partners[0], Agreement()) if partners else Agreement()


_ROW_COLUMNS = (
    Instalment.loan_id,
    Instalment.period,
    Instalment.start_date,
    Instalment.due_date,
    Instalment.principal,
    Instalment.interest,
    Instalment.fee,
    Instalment.interest_accrued,
    Instalment.fee_accrued,
    Instalment.paid_principal,
    Instalment.status,
)


@dataclass(slots=True)
class _Row:
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


def process_chunk(
    session: Session, day: date, first: int, last: int, rules: Lifecycle = DEFAULT_RULES
) -> dict[str, int]:
    """End of day for the running loans with ids in ``first..last``, in this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # A chunk's queries are small: parallel query workers would only take
        # the cores the end-of-day workers run on.
        session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
    classes = overdue.classes_of(rules)
    before_today = accrual.previous_day(session, day)
    loans = {
        row.id: _Loan(*row, rows=[])
        for row in session.connection().execute(
            select(
                Loan.id,
                Loan.status,
                Loan.method,
                Loan.annual_rate,
                Loan.penalty_rate,
                Loan.day_count,
                Loan.grace_days,
                Loan.next_period,
                Loan.dpd,
                Loan.bucket,
                Loan.classification,
            )
            .where(
                Loan.id.between(first, last),
                Loan.status.in_(RUNNING),
                Loan.disbursed_on <= day,
            )
            .order_by(Loan.id)
            .with_for_update()
        ).all()
    }
    if not loans:
        return {"loans": 0}
    rows: list[_Row] = []
    for values in session.connection().execute(
        select(*_ROW_COLUMNS)
        .join(Loan, Loan.id == Instalment.loan_id)
        .where(
            Instalment.loan_id.between(first, last),
            # Said of both tables, or the planner hashes the whole loan table.
            Loan.id.between(first, last),
            or_(
                Instalment.status.in_(("due", "overdue")),
                and_(
                    Instalment.status == "pending",
                    # The current period, and any more that fell due since the
                    # last run (the first run of a tenant catches up on all).
                    or_(Instalment.period == Loan.next_period, Instalment.due_date <= day),
                ),
            ),
        )
        .order_by(Instalment.loan_id, Instalment.period)
    ).all():
        if values.loan_id in loans:
            row = _Row(*values)
            rows.append(row)
            loans[row.loan_id].rows.append(row)
    funders = _funders(session, first, last)
    agreements = _agreements(session)
    lines: list[Line] = []
    history: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    counts: dict[str, int] = defaultdict(int)
    before = {loan.id: loan.standing() for loan in loans.values()}
    rows_before = [row.state() for row in rows]
    for loan in loans.values():
        shares = funders.get(loan.id) or ALL_OWN
        lines += _day_of(
            loan,
            day,
            before_today,
            shares,
            _agreement(shares, agreements),
            rules.reminder_days,
            counts,
            events,
        )
        _standing(loan, day, classes, counts, history, events)
    counts["loans"] = len(loans)
    counts["lines"] = post_lines(
        session,
        business_date=day,
        idempotency_key=f"eod:{day}:{first}-{last}",
        cause=f"eod:{day}",
        memo=f"end of day {day}, loans {first}..{last}",
        lines=_income_summed(lines),
    )
    bulk_update(
        session,
        Loan.__table__,  # type: ignore[arg-type]
        ["id"],
        [
            {
                "id": loan.id,
                "status": loan.status,
                "next_period": loan.next_period,
                "dpd": loan.dpd,
                "bucket": loan.bucket,
                "classification": loan.classification,
            }
            for loan in loans.values()
            if loan.standing() != before[loan.id]
        ],
    )
    bulk_update(
        session,
        Instalment.__table__,  # type: ignore[arg-type]
        ["loan_id", "period"],
        [
            {
                "loan_id": row.loan_id,
                "period": row.period,
                "interest": row.interest,
                "interest_accrued": row.interest_accrued,
                "fee_accrued": row.fee_accrued,
                "status": row.status,
            }
            for row, before in zip(rows, rows_before, strict=True)
            if row.state() != before
        ],
    )
    if history:
        session.execute(insert(LoanEvent), history)
    if events:
        session.execute(insert(OutboxEvent), events)
    return dict(counts)


def _income_summed(lines: Sequence[Line]) -> list[Line]:
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


def _day_of(
    loan: _Loan,
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
                lines += colending.accrued("loan_interest", daily, funders, loan.id)
                row.interest += daily
                row.interest_accrued += daily
                counts["interest_accruals"] += 1
        elif row.status == "pending" and row.start_date < day:
            gained = accrual.recognised_interest(row, day) - accrual.recognised_interest(
                row, before_today
            )
            if gained > 0:
                lines += colending.accrued("loan_interest", gained, funders, loan.id)
                counts["interest_accruals"] += 1
        if row.status == "pending" and row.due_date <= day:
            row.status = "due"
            row.interest_accrued = row.interest  # complete: stored at the state change
            if row.fee > row.fee_accrued:
                lines += colending.accrued(
                    "loan_fees", row.fee - row.fee_accrued, funders, loan.id, agreement.fees
                )
                row.fee_accrued = row.fee
            loan.next_period = row.period + 1
            counts["fell_due"] += 1
        if row.status == "pending" and row.due_date == day + timedelta(days=reminder_days):
            events.append(_event("loan.due_soon", loan, day, period=row.period))
        if row.status == "due" and (day - row.due_date).days > loan.grace_days:
            row.status = "overdue"
            counts["went_overdue"] += 1
    late_principal = sum(
        (r.principal - r.paid_principal for r in loan.rows if r.status == "overdue"), ZERO
    )
    if late_principal > 0:
        penalty = accrual.daily_amount(late_principal, loan.penalty_rate, loan.day_count)
        if penalty:
            lines += colending.accrued("loan_penalty", penalty, funders, loan.id, agreement.penalty)
            counts["penalty_accruals"] += 1
    return lines


def _standing(
    loan: _Loan,
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
        events.append(_event(f"loan.{kind}", loan, day, **{attribute: value, "dpd": loan.dpd}))


def _event(topic: str, loan: _Loan, day: date, **detail: Any) -> dict[str, Any]:
    payload = {"loan_id": loan.id, "status": loan.status, "business_date": day.isoformat()}
    return {
        "topic": topic,
        "payload": payload | detail,
        "created_at": utcnow(),
        "fanned_out": False,
    }


# -- Running a day -------------------------------------------------------------


def _claim_and_process(runtime: Runtime, day: date) -> bool:
    """Process one undone chunk; False when none is left to claim."""
    with runtime.sessions.begin() as session:
        chunk = session.scalars(
            select(EodChunk)
            .where(EodChunk.business_date == day, EodChunk.done_at.is_(None))
            .order_by(EodChunk.chunk)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if chunk is None:
            return False
        chunk.counts = process_chunk(
            session, day, chunk.first_loan_id, chunk.last_loan_id, runtime.settings.lifecycle
        )
        chunk.done_at = utcnow()
    return True


def _worker(day: date) -> None:
    """A worker process: its own runtime (from LENDKIT_CONFIG), claiming until done."""
    from lendkit.runtime import open_runtime

    runtime = open_runtime()
    try:
        while _claim_and_process(runtime, day):
            pass
    finally:
        runtime.close()


def _done(runtime: Runtime, day: date) -> int:
    with runtime.read_sessions() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    and_(EodChunk.business_date == day, EodChunk.done_at.is_not(None))
                )
            )
            or 0
        )


def run(
    runtime: Runtime,
    day: date,
    *,
    workers: int = 1,
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
) -> Summary:
    """Run (or finish) end of day for ``day``; see the module's docstring."""
    try:
        with runtime.sessions.begin() as session:
            planned = plan(session, day, chunk_size)
            already = planned.finished_at is not None
            total = planned.chunks
    except IntegrityError:  # another process planned it at the same moment
        with runtime.sessions.begin() as session:
            planned = plan(session, day, chunk_size)
            already, total = planned.finished_at is not None, planned.chunks
    if not already:
        if workers > 1 and runtime.engine.dialect.name == "postgresql":
            # Spawned, not forked: a fork would share this process's connections.
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
                futures = [pool.submit(_worker, day) for _ in range(workers)]
                while wait(futures, timeout=0.5).not_done:
                    if progress:
                        progress(_done(runtime, day), total)
                for future in futures:
                    future.result()  # a worker's crash is the run's
        else:
            done = _done(runtime, day)
            while _claim_and_process(runtime, day):
                done += 1
                if progress:
                    progress(done, total)
        with runtime.sessions.begin() as session:
            left = session.scalar(
                select(func.count()).where(
                    EodChunk.business_date == day, EodChunk.done_at.is_(None)
                )
            )
            if not left:
                closed = session.execute(
                    update(EodRun)
                    .where(EodRun.business_date == day, EodRun.finished_at.is_(None))
                    .values(finished_at=utcnow())
                )
                # Only the transaction that closed the day announces it: once per date.
                if closed.rowcount == 1:  # type: ignore[attr-defined]
                    _announce_closed(session, day)
    if progress:
        progress(total, total)
    return _summary(runtime, day, already)


def _announce_closed(session: Session, day: date) -> None:
    """``eod.closed`` for the ``on_end_of_day`` hook, in the transaction that closes the day."""
    planned = session.get_one(EodRun, day)
    outbox.publish(
        session,
        "eod.closed",
        {
            "business_date": day.isoformat(),
            "loans": planned.loans,
            "chunks": planned.chunks,
            "counts": _counts(session, day),
        },
    )


def _counts(session: Session, day: date) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for chunk_counts in session.scalars(
        select(EodChunk.counts).where(EodChunk.business_date == day)
    ):
        for key, value in chunk_counts.items():
            counts[key] += value
    return dict(counts)


def _summary(runtime: Runtime, day: date, already: bool) -> Summary:
    with runtime.read_sessions() as session:
        planned = session.get(EodRun, day)
        assert planned is not None
        return Summary(day, planned.loans, planned.chunks, _counts(session, day), already)
