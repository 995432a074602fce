"""A day's reconciliation: fetch each channel's statement, import it, match it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from lendkit import outbox
from lendkit.clearing import payments
from lendkit.clearing.reconcile.matching import match
from lendkit.clearing.reconcile.models import ReconRun
from lendkit.clearing.reconcile.statements import import_statement
from lendkit.errors import LendkitError, ValidationFailed
from lendkit.types import ChannelError, StatementLine

if TYPE_CHECKING:
    from lendkit.runtime import Runtime


__all__ = ["ChannelUnavailable", "reconcile", "reconcile_yesterday"]

log = logging.getLogger(__name__)


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
