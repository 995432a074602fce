"""What reconciliation found: the latest run per channel and day, the open exceptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit.clearing.reconcile.models import KINDS, ReconException, ReconRun

__all__ = ["Summary", "exceptions", "summary"]


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
