"""The ``lendkit jobs`` command: the scheduled jobs and their last runs."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from lendkit.clock import CHINA

if TYPE_CHECKING:
    from lendkit.models import JobRun

__all__ = ["jobs"]


@click.command()
def jobs() -> None:
    """List the scheduled jobs: schedule, last run, outcome and next slot.

    One line per job; the times are China time. Exits 1 when the last run of
    any job failed, so a monitor can run it.
    """
    from lendkit import job_runs, registry
    from lendkit.cli import open_checked_runtime
    from lendkit.db import utcnow

    runtime = open_checked_runtime(migrated=True)
    now = utcnow()
    with runtime.read_sessions() as session:
        last = job_runs.last_runs(session)
    failed = False
    for job in registry.jobs(runtime.pm):
        every = f"every {_duration(job.every)}"
        if job.every_worker:
            click.echo(f"{job.name:<24} {every:<14} runs in every worker")
            continue
        run = last.get(job.name)
        slot = job_runs.slot_of(job.every, now)
        next_slot = slot + job.every if run is not None and run.slot >= slot else slot
        failed = failed or (run is not None and run.outcome == "failed")
        click.echo(
            f"{job.name:<24} {every:<14} last {_last_run(run, now):<40} "
            f"next {'now' if next_slot <= now else _china(next_slot)}"
        )
    if failed:
        sys.exit(1)


def _duration(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{every.total_seconds():g}s"


def _china(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")


def _last_run(run: JobRun | None, now: datetime) -> str:
    if run is None:
        return "-"
    when = _china(run.slot)
    if run.outcome == "failed":
        return f"{when} failed: {' '.join((run.error or '').split())}"
    if run.outcome is not None:
        return f"{when} {run.outcome}"
    if run.lease_until < now:
        return f"{when} stalled ({run.worker} stopped; the next worker takes over)"
    return f"{when} running ({run.worker})"
