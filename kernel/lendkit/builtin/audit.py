"""Built-in plugin: the audit sealer jobs (``lendkit audit``: :mod:`lendkit.audit_cli`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import lendkit
from lendkit import audit
from lendkit.runtime import Runtime
from lendkit.types import Job

__all__: list[str] = []

CHECKPOINT_EVERY = timedelta(minutes=10)


def _seal(runtime: Runtime, now: datetime) -> object:
    with runtime.sessions.begin() as session:
        return audit.seal(session)


def _checkpoint(runtime: Runtime, now: datetime) -> object:
    with runtime.sessions.begin() as session:
        audit.seal(session)
        return audit.checkpoint(session)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [
        Job(name="audit-seal", every=timedelta(seconds=2), run=_seal),
        Job(name="audit-checkpoint", every=CHECKPOINT_EVERY, run=_checkpoint),
    ]
