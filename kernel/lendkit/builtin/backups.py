"""Built-in plugin: scheduled backups and ``lendkit backup``."""

from __future__ import annotations

from datetime import datetime, timedelta

import click

import lendkit
from lendkit.backup import backup_database, prune
from lendkit.runtime import Runtime
from lendkit.types import Job

__all__: list[str] = []

# Hourly, as requirement R6 prefers; `keep` in [backup] sets the retention.
BACKUP_EVERY = timedelta(hours=1)


def _run(runtime: Runtime, now: datetime) -> object:
    settings = runtime.settings
    directory = settings.path(settings.backup.dir)
    path = backup_database(settings.database_url, directory, now)
    prune(directory, settings.backup.keep)
    return path


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [Job(name="backup", every=BACKUP_EVERY, run=_run)]


@click.command("backup")
def backup_command() -> None:
    """Take a consistent backup now (the worker takes one every hour)."""
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime()
    path = _run(runtime, datetime.now().astimezone())
    click.echo(f"backup written to {path}")


@lendkit.hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(backup_command)
