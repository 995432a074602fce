"""The worker: runs every registered job on its schedule until told to stop.

Any number of workers may run (``lendkit worker``, ``lendkit serve
--with-worker``, on one machine or several): each slot of a job runs in the
one worker that claims it in the database (:mod:`lendkit.job_runs`). Jobs
marked ``every_worker`` share their queue through row locks instead and run
in every worker.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from lendkit import job_runs, registry
from lendkit.db import utcnow
from lendkit.runtime import Runtime
from lendkit.types import Job

__all__ = ["Worker", "run_worker"]

log = logging.getLogger(__name__)


class Worker:
    """One worker's view of the schedule; :meth:`step` runs what is due at ``now``."""

    def __init__(self, runtime: Runtime, jobs: list[Job] | None = None) -> None:
        self.runtime = runtime
        self.jobs = registry.jobs(runtime.pm) if jobs is None else jobs
        self.id = job_runs.worker_id()
        # every_worker jobs: when each is next due in this worker.
        self._due: dict[str, datetime] = {}
        # Scheduled jobs: the slot last settled here (run, or found finished
        # elsewhere) and, for a slot another worker holds, when to look again.
        self._settled: dict[str, datetime] = {}
        self._look_again: dict[str, tuple[datetime, datetime]] = {}

    def step(self, now: datetime | None = None) -> list[str]:
        """Run every job due at ``now`` (the clock, read before each job, if not
        given); the names of those that ran here."""
        ran = []
        for job in self.jobs:
            try:
                if self._step(job, now or utcnow()):
                    ran.append(job.name)
            except Exception:  # the database may be away; the next tick tries again
                log.exception("worker could not schedule a job", extra={"job": job.name})
        return ran

    def _step(self, job: Job, now: datetime) -> bool:
        if job.every_worker:
            if now < self._due.get(job.name, now):
                return False
            self._due[job.name] = now + job.every
            self._run(job, now)
            return True
        slot = job_runs.slot_of(job.every, now)
        if self._settled.get(job.name) == slot:
            return False
        waiting = self._look_again.get(job.name)
        if waiting is not None and waiting[0] == slot and now < waiting[1]:
            return False
        answer = job_runs.claim(self.runtime.sessions, job.name, slot, self.id, now)
        if isinstance(answer, job_runs.Taken):
            if answer.finished:
                self._settled[job.name] = slot
            else:  # look again when its lease runs out, in case its worker died
                self._look_again[job.name] = (slot, answer.lease_until)
            return False
        self._settled[job.name] = slot
        with job_runs.holding(self.runtime.sessions, answer):
            error = self._run(job, now)
        if not job_runs.finish(self.runtime.sessions, answer, utcnow(), error):
            log.warning("job slot was taken over while it ran", extra={"job": job.name})
        return True

    def _run(self, job: Job, now: datetime) -> Exception | None:
        try:
            job.run(self.runtime, now)
        except Exception as exc:
            log.exception("job failed", extra={"job": job.name})
            return exc
        return None


def run_worker(runtime: Runtime, stop: threading.Event, tick: float = 0.25) -> None:
    """Run due jobs every ``tick`` seconds until ``stop`` is set."""
    worker = Worker(runtime)
    log.info(
        "worker started", extra={"jobs": [job.name for job in worker.jobs], "worker": worker.id}
    )
    while not stop.is_set():
        worker.step()
        stop.wait(tick)
    log.info("worker stopped")
