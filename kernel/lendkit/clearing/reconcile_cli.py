"""The ``lendkit reconcile`` commands: match statements, list and resolve exceptions."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from lendkit.clearing.reconcile import ReconException, Summary

__all__ = ["RESOLVE_ACTIONS", "reconcile_group"]

# Every action of lendkit.clearing.reconcile.ACTIONS, written out so that the
# command's help needs no ORM; tests/test_reconcile.py keeps the two equal.
RESOLVE_ACTIONS = ("accept", "book_suspense", "follow_statement", "reverse_order")


@click.group("reconcile", invoke_without_command=True)
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="Business date to match.")
@click.option("--channel", help="One channel (default: every channel).")
@click.pass_context
def reconcile_group(ctx: click.Context, day: datetime | None, channel: str | None) -> None:
    """Match channel statements with payment orders and the ledger.

    With --date, fetch each channel's statement of that day, match it and
    print the summary; exits 1 when exceptions are open for that day.
    """
    if ctx.invoked_subcommand is not None:
        return
    if day is None:
        raise click.UsageError("--date is required (or use a subcommand)")
    from lendkit.clearing import reconcile
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    runs = reconcile.reconcile(runtime, day.date(), channel)
    for name, run in runs.items():
        if run is None:
            click.echo(f"{name}: no statement for {day.date()} yet")
    with runtime.read_sessions() as session:
        rows = reconcile.summary(session, day.date(), channel)
        _print_summary(rows)
        still_open = reconcile.exceptions(session, business_date=day.date(), channel=channel)
        _print_exceptions(still_open)
    if still_open:
        sys.exit(1)


def _print_summary(rows: list[Summary]) -> None:
    click.echo(
        f"{'channel':<12} {'date':<10} {'lines':>6} {'matched':>7} {'ours?':>6} "
        f"{'theirs?':>7} {'amount':>6} {'status':>6} {'open':>5} {'matched total':>16}"
    )
    for row in rows:
        run = row.run
        click.echo(
            f"{row.channel:<12} {row.business_date} {run.lines:>6} {run.matched:>7} "
            f"{run.missing_ours:>6} {run.missing_theirs:>7} {run.amount_mismatch:>6} "
            f"{run.status_mismatch:>6} {row.open_exceptions:>5} {run.matched_total:>16,.2f}"
        )


def _print_exceptions(rows: list[ReconException]) -> None:
    for e in rows:
        click.echo(
            f"#{e.id:<6} {e.status:<8} {e.kind:<16} {e.channel:<10} {e.order_no:<24} "
            f"statement={e.statement_amount or '-'}/{e.statement_status or '-'} "
            f"order={e.order_amount or '-'}/{e.order_status or '-'} "
            f"ledger={e.ledger_amount if e.ledger_amount is not None else '-'}  {e.detail}"
        )


@reconcile_group.command("exceptions")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]))
@click.option("--channel")
@click.option("--all", "show_all", is_flag=True, help="Resolved ones too.")
def exceptions_command(day: datetime | None, channel: str | None, show_all: bool) -> None:
    """The reconciliation exceptions queue (open ones unless --all)."""
    from lendkit.clearing import reconcile
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    with runtime.read_sessions() as session:
        rows = reconcile.exceptions(
            session,
            business_date=day.date() if day else None,
            channel=channel,
            open_only=not show_all,
        )
        _print_exceptions(rows)
    click.echo(f"{len(rows)} exceptions")


@reconcile_group.command("resolve")
@click.argument("exception_id", type=int)
@click.option(
    "--action",
    required=True,
    type=click.Choice(RESOLVE_ACTIONS),
)
@click.option("--note", required=True, help="Why; kept with the resolution and in the audit log.")
def resolve_command(exception_id: int, action: str, note: str) -> None:
    """Settle one exception; money-moving actions post balanced entries."""
    from lendkit.clearing import reconcile
    from lendkit.clearing.ledger_cli import actor
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions.begin() as session:
        resolution = reconcile.resolve(session, exception_id, action, actor=actor(), note=note)
        entries = list(resolution.entry_ids)
    click.echo(f"exception {exception_id} resolved by {action}; entries {entries or 'none'}")
