"""Claiming a job's schedule slot, so each slot runs once however many workers run.

Time is cut into slots of the job's ``every``, counted from a midnight in
China: a daily job's slot is the business date, an hourly job's the hour. A
worker claims a slot by inserting ``(job, slot)`` into ``job_run``; the
primary key lets one insert in, and every other worker finds the row and
skips the slot. Inserts use ``ON CONFLICT DO NOTHING`` (SQLite and
PostgreSQL alike), so losing a claim is an ordinary answer, not an error in
the database's log.

While the job runs, its worker renews ``lease_until`` (:func:`holding`). A
worker that crashes stops renewing; once the lease has passed, the next
worker to look takes the unfinished slot over, guarded by the old holder's
id and start time so two workers cannot both take it. A finished slot, ok or
failed, is never run again: a failed job is tried in its next slot. A job
never overlaps itself: while a run of an earlier slot is alive, the next
slot waits for it.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased, sessionmaker

from lendkit.clock import CHINA
from lendkit.db import utcnow
from lendkit.masking import mask_text
from lendkit.models import JobRun

__all__ = [
    "LEASE",
    "RETENTION",
    "Claim",
    "Taken",
    "claim",
    "finish",
    "holding",
    "last_runs",
    "prune",
    "renew",
    "slot_of",
    "worker_id",
]

log = logging.getLogger(__name__)

# Long enough to ride out a slow database round trip, short enough that a
# crashed worker's slot (an hourly backup, say) is redone within a minute.
LEASE = timedelta(seconds=60)
# Finished slots kept for `lendkit jobs` and for looking back over a night.
RETENTION = timedelta(days=2)
ERROR_CHARS = 300

# Slots are counted from a midnight in China, so a daily slot is a business date.
_EPOCH = datetime(2000, 1, 1, tzinfo=CHINA)


@dataclass(frozen=True, slots=True)
class Claim:
    """This worker holds ``slot`` of ``job`` since ``started_at``."""

    job: str
    slot: datetime
    worker: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Taken:
    """Another worker has the slot: finished, or holding it until ``lease_until``."""

    worker: str
    finished: bool
    lease_until: datetime


def slot_of(every: timedelta, now: datetime) -> datetime:
    """The start (UTC) of the slot of length ``every`` that ``now`` falls in."""
    return (_EPOCH + (now - _EPOCH) // every * every).astimezone(UTC)


def worker_id() -> str:
    """Who holds a slot: host and process, plus a few random bytes for a reused pid."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _this(job: str, slot: datetime) -> Any:
    return (JobRun.job == job) & (JobRun.slot == slot)


def _held(claim: Claim) -> Any:
    return (
        _this(claim.job, claim.slot)
        & (JobRun.worker == claim.worker)
        & (JobRun.started_at == claim.started_at)
        & JobRun.finished_at.is_(None)
    )


def claim(
    sessions: sessionmaker[Session],
    job: str,
    slot: datetime,
    worker: str,
    now: datetime,
    lease: timedelta = LEASE,
) -> Claim | Taken:
    """Claim ``slot`` of ``job`` for ``worker``, or say who has it.

    An unfinished slot whose lease has passed is taken over. While the
    job's previous slot is still running, the answer is :class:`Taken` by
    that run's worker, to be asked again at once (``lease_until=now``).
    """
    mine = Claim(job, slot, worker, now)
    with sessions.begin() as session:
        # A job never overlaps itself: a run of an earlier slot that is still
        # going (its lease alive) keeps this slot waiting; look again soon.
        previous = session.execute(
            select(JobRun.worker, JobRun.finished_at, JobRun.lease_until)
            .where(JobRun.job == job, JobRun.slot < slot)
            .order_by(JobRun.slot.desc())
            .limit(1)
        ).first()
        if previous is not None and previous.finished_at is None and previous.lease_until >= now:
            return Taken(previous.worker, False, now)
        # RETURNING, not rowcount: psycopg reports no count for a skipped insert.
        inserted = session.execute(
            _insert(session)(JobRun)
            .values(job=job, slot=slot, worker=worker, started_at=now, lease_until=now + lease)
            .on_conflict_do_nothing(index_elements=["job", "slot"])
            .returning(JobRun.job)
        ).first()
        if inserted is not None:
            return mine
        held = session.execute(
            select(JobRun.worker, JobRun.started_at, JobRun.lease_until, JobRun.finished_at).where(
                _this(job, slot)
            )
        ).one()
        if held.finished_at is not None or held.lease_until >= now:
            return Taken(held.worker, held.finished_at is not None, held.lease_until)
        holder = Claim(job, slot, held.worker, held.started_at)
        took = (
            session.connection()
            .execute(
                update(JobRun)
                .where(_held(holder))
                .values(
                    worker=worker,
                    started_at=now,
                    lease_until=now + lease,
                    attempt=JobRun.attempt + 1,
                )
            )
            .rowcount
        )
        if not took:  # another worker took it over first
            now_held = session.execute(
                select(JobRun.worker, JobRun.lease_until).where(_this(job, slot))
            ).one()
            return Taken(now_held.worker, False, now_held.lease_until)
    log.warning(
        "took over a job slot whose worker stopped renewing its lease",
        extra={"job": job, "slot": slot.isoformat(), "previous_worker": held.worker},
    )
    return mine


def renew(
    sessions: sessionmaker[Session], claim: Claim, now: datetime, lease: timedelta = LEASE
) -> bool:
    """Extend the lease; False if the slot is no longer this claim's."""
    with sessions.begin() as session:
        result = session.connection().execute(
            update(JobRun).where(_held(claim)).values(lease_until=now + lease)
        )
        return bool(result.rowcount)


def finish(
    sessions: sessionmaker[Session],
    claim: Claim,
    now: datetime,
    error: BaseException | None = None,
) -> bool:
    """Record the outcome (``ok``, or ``failed`` with a short masked error).

    False if the slot was taken over meanwhile: the other worker records it.
    """
    failure = None if error is None else mask_text(f"{type(error).__name__}: {error}")
    with sessions.begin() as session:
        result = session.connection().execute(
            update(JobRun)
            .where(_held(claim))
            .values(
                finished_at=now,
                outcome="ok" if error is None else "failed",
                error=None if failure is None else failure[:ERROR_CHARS],
            )
        )
        return bool(result.rowcount)


@contextmanager
def holding(
    sessions: sessionmaker[Session], claim: Claim, lease: timedelta = LEASE
) -> Iterator[None]:
    """Renew ``claim``'s lease every third of ``lease`` while the block runs.

    A job that runs for an hour keeps its slot; a worker that dies stops
    renewing, and its slot can be taken over one lease later.
    """
    done = threading.Event()

    def keep_renewing() -> None:
        while not done.wait(lease.total_seconds() / 3):
            try:
                if not renew(sessions, claim, utcnow(), lease):
                    log.warning("job slot lost to another worker", extra={"job": claim.job})
                    return
            except Exception:  # the database may be back at the next renewal
                log.warning("could not renew a job lease", extra={"job": claim.job}, exc_info=True)

    renewer = threading.Thread(target=keep_renewing, name=f"lease:{claim.job}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join(timeout=lease.total_seconds())


def last_runs(session: Session) -> dict[str, JobRun]:
    """Each job's latest slot, by job name."""
    latest = aliased(JobRun)
    newest = select(func.max(latest.slot)).where(latest.job == JobRun.job).scalar_subquery()
    return {run.job: run for run in session.scalars(select(JobRun).where(JobRun.slot == newest))}


def prune(session: Session, now: datetime, keep: timedelta = RETENTION) -> int:
    """Delete slots older than ``keep``, except each job's latest (which keeps it claimed)."""
    latest = aliased(JobRun)
    newest = select(func.max(latest.slot)).where(latest.job == JobRun.job).scalar_subquery()
    result = session.connection().execute(
        delete(JobRun).where(JobRun.slot < now - keep, JobRun.slot < newest)
    )
    return int(result.rowcount)
