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
status, bucket or classification moves. The steps of one loan's day are
:mod:`lendkit.lifecycle.eod_loan`'s.
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
from lendkit.db import utcnow
from lendkit.errors import ConflictError
from lendkit.lifecycle import accrual, eod_loan, overdue
from lendkit.lifecycle.loan_models import RUNNING, EodChunk, EodRun, Instalment, Loan, LoanEvent
from lendkit.models import OutboxEvent
from lendkit.settings import Lifecycle

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["Progress", "Summary", "plan", "process_chunk", "run"]

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


def _funders(session: Session, first: int, last: int) -> dict[int, list[Funder]]:
    """The funders of the co-lent loans in ``first..last``; a loan not here is all own funds."""
    found: dict[int, list[Funder]] = defaultdict(list)
    for loan_id, source, share in (
        session.connection()
        .execute(
            select(LoanFunding.loan_id, LoanFunding.source, LoanFunding.share)
            .where(
                LoanFunding.loan_id.between(first, last),
                or_(LoanFunding.source != colending.OWN, LoanFunding.share != 1),
            )
            .order_by(LoanFunding.loan_id, LoanFunding.source != colending.OWN, LoanFunding.source)
        )
        .all()
    ):
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
        row.id: eod_loan.LoanDay(*row, rows=[])
        for row in session.connection()
        .execute(
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
        )
        .all()
    }
    if not loans:
        return {"loans": 0}
    rows: list[eod_loan.RowDay] = []
    for values in (
        session.connection()
        .execute(
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
        )
        .all()
    ):
        if values.loan_id in loans:
            row = eod_loan.RowDay(*values)
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
        lines += eod_loan.day_of(
            loan,
            day,
            before_today,
            shares,
            _agreement(shares, agreements),
            rules.reminder_days,
            counts,
            events,
        )
        eod_loan.standing(loan, day, classes, counts, history, events)
    counts["loans"] = len(loans)
    counts["lines"] = post_lines(
        session,
        business_date=day,
        idempotency_key=f"eod:{day}:{first}-{last}",
        cause=f"eod:{day}",
        memo=f"end of day {day}, loans {first}..{last}",
        lines=eod_loan.income_summed(lines),
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
