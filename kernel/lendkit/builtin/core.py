"""Built-in plugin: the kernel's compliance map and worker jobs (it ships no products)."""

from __future__ import annotations

from datetime import datetime, timedelta

import lendkit
from lendkit import job_runs, outbox
from lendkit.crypto.keys import load_master_key
from lendkit.runtime import runtime_of
from lendkit.settings import Settings
from lendkit.types import ComplianceItem, Job, JobContext, KeyWrapper

__all__: list[str] = []


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Loan lifecycle and annualized-rate disclosure",
            clauses=("网络小额贷款业务管理暂行办法 第十二条", "中国人民银行公告〔2021〕第3号"),
            description="Every offer shows the all-in annualized rate; caps are enforced in the kernel.",
        ),
        ComplianceItem(
            function="Event outbox",
            clauses=("网络小额贷款业务管理暂行办法 第三十条 (数据报送)",),
            description="Every state change reaches reporting plugins after commit, retried, never lost.",
        ),
    ]


def _dispatch_outbox(ctx: JobContext, now: datetime) -> object:
    runtime = runtime_of(ctx)  # fan-out asks the plugin manager who implements each hook
    return outbox.dispatch(runtime.sessions, runtime.pm, runtime.settings.outbox, now)


@lendkit.hookimpl(trylast=True)
def key_wrapper(settings: Settings) -> KeyWrapper:
    return load_master_key(settings)


def _prune_job_runs(ctx: JobContext, now: datetime) -> object:
    with ctx.sessions.begin() as session:
        return job_runs.prune(session, now)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [
        # Deliveries are claimed row by row, so every worker helps drain the outbox.
        Job(name="outbox", every=timedelta(seconds=1), run=_dispatch_outbox, every_worker=True),
        Job(name="job-runs-prune", every=timedelta(hours=1), run=_prune_job_runs),
    ]
