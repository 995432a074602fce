"""Built-in plugin of funds clearing: worker jobs, the channel callback route, compliance.

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
from lendkit.types import ComplianceItem, Job, JobContext

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
COMPLIANCE = ComplianceItem(
    function="Funds clearing: double-entry ledger, payment orders, daily reconciliation",
    clauses=(
        "网络小额贷款业务管理暂行办法 第二十条 (资金管理)",
        "非银行支付机构网络支付业务管理办法 (对账)",
    ),
    description="Every movement of money is a balanced, append-only journal entry; "
    "payment orders keep an append-only history; channel statements are matched "
    "daily and every correction is audited.",
)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return list(JOBS)


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [COMPLIANCE]
