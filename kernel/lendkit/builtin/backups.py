"""Built-in plugin: scheduled backups (``lendkit backup`` takes one now: :mod:`lendkit.backup_cli`)."""

from __future__ import annotations

from datetime import datetime, timedelta

import lendkit
from lendkit.backup import backup_database, prune
from lendkit.types import Job, JobContext

__all__ = ["take_backup"]

# Hourly, as requirement R6 prefers; `keep` in [backup] sets the retention.
BACKUP_EVERY = timedelta(hours=1)


def take_backup(ctx: JobContext, now: datetime) -> object:
    """Back the database up into backup.dir and prune old copies; return the new path."""
    settings = ctx.settings
    directory = settings.path(settings.backup.dir)
    path = backup_database(settings.database_url, directory, now)
    prune(directory, settings.backup.keep)
    return path


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [Job(name="backup", every=BACKUP_EVERY, run=take_backup)]
