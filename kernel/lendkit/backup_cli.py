"""The ``lendkit backup`` command: a consistent backup now."""

from __future__ import annotations

from datetime import datetime

import click

__all__ = ["backup_command"]


@click.command("backup")
def backup_command() -> None:
    """Take a consistent backup now (the worker takes one every hour)."""
    from lendkit.builtin.backups import take_backup
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime()
    path = take_backup(runtime, datetime.now().astimezone())
    click.echo(f"backup written to {path}")
