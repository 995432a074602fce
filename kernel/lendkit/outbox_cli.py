"""The ``lendkit outbox`` commands: inspect and requeue event deliveries."""

from __future__ import annotations

import click

__all__ = ["outbox_group"]


@click.group("outbox")
def outbox_group() -> None:
    """Inspect and requeue event deliveries."""


@outbox_group.command("dead")
def outbox_dead() -> None:
    """List dead-lettered deliveries (plugins that kept failing)."""
    from lendkit import outbox
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions.begin() as session:
        rows = outbox.dead_letters(session)
        for d in rows:
            click.echo(
                f"{d.id:>6} event {d.event_id:>6} {d.event.topic:<24} {d.subscriber:<16} "
                f"attempts {d.attempts}: {d.last_error}"
            )
        click.echo(f"{len(rows)} dead deliveries")


@outbox_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Requeue every dead delivery.")
def outbox_retry(ids: tuple[int, ...], retry_all: bool) -> None:
    """Requeue dead deliveries IDS (or --all) for a fresh set of attempts."""
    if not ids and not retry_all:
        raise click.UsageError("give delivery ids or --all")
    from lendkit import outbox
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions.begin() as session:
        count = outbox.requeue(session, None if retry_all else list(ids))
    click.echo(f"requeued {count} deliveries")
