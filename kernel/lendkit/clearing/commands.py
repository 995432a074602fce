"""Built-in plugin: ``lendkit ledger trial-balance`` and ``lendkit ledger statement``."""

from __future__ import annotations

import sys
from datetime import date

import click

import lendkit
from lendkit.clearing import ledger
from lendkit.clearing.accounts import kind_of

__all__: list[str] = []


@click.group("ledger")
def ledger_group() -> None:
    """The double-entry journal: trial balance and account statements."""


@ledger_group.command("trial-balance")
@click.option(
    "--date", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Business date (default: now)."
)
def trial_balance_command(as_of: object) -> None:
    """Every account's balance from the journal; exits 1 when anything is out of balance."""
    from lendkit.cli import open_checked_runtime

    day = as_of.date() if as_of is not None else None  # type: ignore[attr-defined]
    runtime = open_checked_runtime(migrated=True)
    with runtime.read_sessions() as session:
        result = ledger.trial_balance(session, day)
    click.echo(f"{'account':<32} {'debit':>16} {'credit':>16}  {'名称'}")
    for code, amount in result.rows:
        debit, credit = (f"{amount:,.2f}", "") if amount >= 0 else ("", f"{-amount:,.2f}")
        click.echo(f"{code:<32} {debit:>16} {credit:>16}  {kind_of(code).name_zh}")
    debits = sum((a for _, a in result.rows if a > 0), start=ledger.ZERO)
    click.echo(f"{'total':<32} {debits:>16,.2f} {debits - result.total:>16,.2f}")
    if not result.balanced:
        problems = [f"off by {result.total}"] if result.total else []
        problems += [f"{code}: kept balance differs from its lines" for code in result.mismatched]
        click.echo("OUT OF BALANCE: " + "; ".join(problems), err=True)
        sys.exit(1)
    click.echo(f"balanced{' as of ' + day.isoformat() if day else ''}")


@ledger_group.command("statement")
@click.argument("account")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), required=True)
def statement_command(account: str, start: object, end: object) -> None:
    """The entries of ACCOUNT (e.g. fund_pool:own) between two business dates."""
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    first: date = start.date()  # type: ignore[attr-defined]
    last: date = end.date()  # type: ignore[attr-defined]
    with runtime.read_sessions() as session:
        rows = ledger.statement(session, account, first, last)
        for entry, amount, running in rows:
            click.echo(
                f"{entry.business_date}  #{entry.id:<8} {amount:>14,.2f} {running:>16,.2f}  {entry.memo or entry.cause}"
            )
    click.echo(f"{len(rows)} lines")


@lendkit.hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(ledger_group)
