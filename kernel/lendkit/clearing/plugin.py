"""Built-in plugin of funds clearing: worker jobs and the channel callback route.

Jobs: ``payments-instruct`` (send orders to their channel after commit),
``payments-timeouts`` (query orders in transit too long),
``reconcile-daily`` (yesterday's statements, once they are there). The
commands are in ``ledger_cli``, ``reconcile_cli`` and ``report_cli``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from litestar.types import ControllerRouterHandler

import lendkit
from lendkit.clearing import channels_api, payment_dispatch, reconcile
from lendkit.runtime import runtime_of
from lendkit.types import Job, JobContext

__all__: list[str] = []


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return list(channels_api.ROUTES)


# These jobs reach the channels through the plugin manager: the whole runtime.
def _instruct(ctx: JobContext, now: datetime) -> object:
    return payment_dispatch.instruct_due(runtime_of(ctx), now)


def _timeouts(ctx: JobContext, now: datetime) -> object:
    return payment_dispatch.query_overdue(runtime_of(ctx), now)


def _reconcile(ctx: JobContext, now: datetime) -> object:
    return reconcile.reconcile_yesterday(runtime_of(ctx), now)


JOBS = (
    # Orders are claimed with SKIP LOCKED, so every worker helps send them.
    Job(name="payments-instruct", every=timedelta(seconds=1), run=_instruct, every_worker=True),
    Job(name="payments-timeouts", every=timedelta(seconds=30), run=_timeouts),
    Job(name="reconcile-daily", every=timedelta(minutes=15), run=_reconcile),
)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return list(JOBS)
