"""The worker: runs every registered job on its schedule until told to stop."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from lendkit import registry
from lendkit.db import utcnow
from lendkit.runtime import Runtime

__all__ = ["run_worker"]

log = logging.getLogger(__name__)


def run_worker(runtime: Runtime, stop: threading.Event, tick: float = 0.25) -> None:
    """Run due jobs every ``tick`` seconds until ``stop`` is set."""
    jobs = registry.jobs(runtime.pm)
    next_run: dict[str, datetime] = {job.name: utcnow() for job in jobs}
    log.info("worker started", extra={"jobs": [job.name for job in jobs]})
    while not stop.is_set():
        for job in jobs:
            now = utcnow()
            if now < next_run[job.name]:
                continue
            try:
                job.run(runtime, now)
            except Exception:
                log.exception("job failed", extra={"job": job.name})
            next_run[job.name] = now + job.every
        stop.wait(tick)
    log.info("worker stopped")
