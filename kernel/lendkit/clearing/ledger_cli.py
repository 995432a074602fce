"""The ``lendkit ledger`` commands: trial balance, statements, paying a partner."""

from __future__ import annotations

import sys
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

import click

from lendkit.errors import LendkitError

__all__ = ["actor", "ledger_group"]


@click.group("ledger")
def ledger_group() -> None:
    """The double-entry journal: trial balance and account statements."""


@ledger_group.command("trial-balance")
@click.option(
    "--date", "as_of", type=click.DateTime(["%Y-%m-%d"]), help="Business date (default: now)."
)
def trial_balance_command(as_of: object) -> None:
    """Every account's balance from the journal; exits 1 when anything is out of balance."""
    from lendkit.clearing import ledger
    from lendkit.clearing.accounts import describe
    from lendkit.cli import open_checked_runtime

    day = as_of.date() if as_of is not None else None  # type: ignore[attr-defined]
    runtime = open_checked_runtime(migrated=True)
    with runtime.read_sessions() as session:
        result = ledger.trial_balance(session, day)
    click.echo(f"{'account':<32} {'debit':>16} {'credit':>16}  {'名称'}")
    for code, amount in result.rows:
        debit, credit = (f"{amount:,.2f}", "") if amount >= 0 else ("", f"{-amount:,.2f}")
        kind = describe(code)  # a disabled plugin's account: still counted, not named
        click.echo(f"{code:<32} {debit:>16} {credit:>16}  {kind.name_zh if kind else ''}")
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
    from lendkit.clearing import ledger
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


def actor() -> str:
    """Who the journal and the audit log name for a command run at this terminal."""
    import getpass

    return f"cli:{getpass.getuser()}"


@ledger_group.command("settle-partner")
@click.argument("source")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--amount", required=True, help="CNY paid to the partner, e.g. 1234.56.")
@click.option("--key", required=True, help="Idempotency key: the bank transfer's reference, say.")
@click.option("--note", default="", help="Kept in the memo and the audit log.")
def settle_partner_command(source: str, day: datetime, amount: str, key: str, note: str) -> None:
    """Record a payment to partner SOURCE of its due income (Dr payable / Cr its pool).

    At most what `lendkit report partner-settlement` shows as due; the same
    --key again posts nothing new. Audited.
    """
    from lendkit.clearing.partner_payouts import settle_partner
    from lendkit.cli import open_checked_runtime

    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise click.BadParameter(f"{amount!r} is not an amount", param_hint="--amount") from None
    runtime = open_checked_runtime(migrated=True)
    try:
        with runtime.sessions.begin() as session:
            entry = settle_partner(
                session, source, day.date(), value, key, actor=actor(), note=note
            )
            entry_id = entry.id
    except LendkitError as exc:
        click.echo(f"lendkit: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"paid {value:,.2f} to {source} on {day.date()}: entry {entry_id}")
