"""The ``lendkit eod`` command: end of day for one business date."""

from __future__ import annotations

from datetime import datetime

import click

from lendkit.errors import ConflictError

__all__ = ["eod_command"]


@click.command("eod")
@click.option(
    "--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True, help="Business date."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Parallel worker processes (PostgreSQL; SQLite runs one).",
)
@click.option("--chunk-size", type=click.IntRange(1, 100_000), default=5000, show_default=True)
def eod_command(day: datetime, workers: int, chunk_size: int) -> None:
    """End of day: accrual, due and overdue, penalty, DPD, classification, events.

    Idempotent per business date and resumable: after a crash, run it again.
    Days run one after another.
    """
    from lendkit.cli import open_checked_runtime, progress
    from lendkit.lifecycle import eod

    runtime = open_checked_runtime(migrated=True)
    with progress(f"end of day {day.date()}") as moved:
        try:
            summary = eod.run(
                runtime,
                day.date(),
                workers=workers,
                chunk_size=chunk_size,
                progress=moved,
            )
        except ConflictError as exc:
            raise click.ClickException(exc.detail) from None
    verb = "was already done" if summary.already_done else "done"
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()) if v)
    click.echo(f"end of day {summary.business_date} {verb}: {summary.loans} loans; {counts}")
