"""Built-in plugin: the kernel's compliance map and worker jobs (it ships no products)."""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from pathlib import Path

import lendkit
from lendkit import job_runs, outbox
from lendkit.crypto.keys import load_master_key
from lendkit.runtime import runtime_of
from lendkit.settings import Settings
from lendkit.types import ComplianceItem, Job, JobContext, KeyWrapper

__all__: list[str] = []

COMPLIANCE = Path(__file__).parent.parent / "compliance.toml"


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    """The kernel's rows of the compliance package, data in ``compliance.toml``."""
    with COMPLIANCE.open("rb") as file:
        items = tomllib.load(file)["item"]
    return [
        ComplianceItem(item["function"], tuple(item["clauses"]), item["description"])
        for item in items
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
