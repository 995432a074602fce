"""One background thread running delayed jobs in time order: a fake vendor's clock.

A real vendor answers "accepted" and calls back later; a fake one does the
same by scheduling the callback (and its retries) here. Jobs run one at a
time, in the order of their due time (then of scheduling), so a test sees
the same sequence every run; a job that raises is logged and the thread
goes on.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)


class Scheduler:
    """Runs ``job()`` ``delay`` seconds after :meth:`later`, on its own daemon thread."""

    def __init__(self, name: str = "delayed-jobs") -> None:
        self._jobs: list[tuple[float, int, Callable[[], object]]] = []
        self._counter = itertools.count()  # ties keep their scheduling order
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def later(self, delay: float, job: Callable[[], object]) -> None:
        with self._wake:
            heapq.heappush(self._jobs, (time.monotonic() + delay, next(self._counter), job))
            self._wake.notify()

    def stop(self) -> None:
        """Stop after the running job; jobs not yet due are dropped."""
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._jobs or self._jobs[0][0] > time.monotonic()):
                    timeout = self._jobs[0][0] - time.monotonic() if self._jobs else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, job = heapq.heappop(self._jobs)
            try:
                job()
            except Exception:
                log.exception("delayed job failed")
