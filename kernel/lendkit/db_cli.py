"""The ``lendkit db`` commands: upgrade and inspect the schema's migrations."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from lendkit.migrate import BranchStatus

__all__ = ["db"]


@click.group()
def db() -> None:
    """Database schema: upgrade and inspect migrations."""


def _print_status(statuses: list[BranchStatus]) -> None:
    for s in statuses:
        state = "current" if s.up_to_date else "behind" if s.current else "not installed"
        flag = "enabled" if s.enabled else "disabled"
        click.echo(f"{s.branch:<20} {s.current or '-':<12} head {s.head:<12} {state} ({flag})")


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the heads of the kernel and every enabled plugin."""
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime()
    _print_status(runtime.upgrade())


@db.command("current")
def db_current() -> None:
    """Show each branch's revision in the database and its head."""
    from lendkit import migrate
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime()
    _print_status(migrate.status(runtime.engine, runtime.settings.plugins.enabled))
