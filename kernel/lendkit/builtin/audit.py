"""Built-in plugin: the audit sealer jobs (``lendkit audit``: :mod:`lendkit.audit_cli`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import lendkit
from lendkit import audit
from lendkit.types import Job, JobContext

__all__: list[str] = []

CHECKPOINT_EVERY = timedelta(minutes=10)


def _seal(ctx: JobContext, now: datetime) -> object:
    with ctx.sessions.begin() as session:
        return audit.seal(session)


def _checkpoint(ctx: JobContext, now: datetime) -> object:
    with ctx.sessions.begin() as session:
        audit.seal(session)
        return audit.checkpoint(session)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [
        Job(name="audit-seal", every=timedelta(seconds=2), run=_seal),
        Job(name="audit-checkpoint", every=CHECKPOINT_EVERY, run=_checkpoint),
    ]
