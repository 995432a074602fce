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
from lendkit.runtime import Runtime
from lendkit.types import Job

__all__: list[str] = []


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return list(channels_api.ROUTES)


def _instruct(runtime: Runtime, now: datetime) -> object:
    return payment_dispatch.instruct_due(runtime, now)


def _timeouts(runtime: Runtime, now: datetime) -> object:
    return payment_dispatch.query_overdue(runtime, now)


JOBS = (
    # Orders are claimed with SKIP LOCKED, so every worker helps send them.
    Job(name="payments-instruct", every=timedelta(seconds=1), run=_instruct, every_worker=True),
    Job(name="payments-timeouts", every=timedelta(seconds=30), run=_timeouts),
    Job(name="reconcile-daily", every=timedelta(minutes=15), run=reconcile.reconcile_yesterday),
)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return list(JOBS)
