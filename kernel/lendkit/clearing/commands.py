"""Built-in plugin of funds clearing: commands, worker jobs and the channel callback route.

Commands: ``lendkit ledger trial-balance|statement|settle-partner``,
``lendkit reconcile``, ``lendkit report fund-flow|partner-settlement``.
Jobs: ``payments-instruct`` (send orders to their channel after commit),
``payments-timeouts`` (query orders in transit too long),
``reconcile-daily`` (yesterday's statements, once they are there).
"""

from __future__ import annotations

import getpass
import sys
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from litestar.types import ControllerRouterHandler

import lendkit
from lendkit.clearing import channels, ledger, payments, reconcile, reports, settlement
from lendkit.clearing.accounts import describe
from lendkit.errors import LendkitError
from lendkit.runtime import Runtime
from lendkit.types import ComplianceItem, Job

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


def _actor() -> str:
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
    from lendkit.cli import open_checked_runtime

    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise click.BadParameter(f"{amount!r} is not an amount", param_hint="--amount") from None
    runtime = open_checked_runtime(migrated=True)
    try:
        with runtime.sessions.begin() as session:
            entry = settlement.settle_partner(
                session, source, day.date(), value, key, actor=_actor(), note=note
            )
            entry_id = entry.id
    except LendkitError as exc:
        click.echo(f"lendkit: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)
    click.echo(f"paid {value:,.2f} to {source} on {day.date()}: entry {entry_id}")


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


def _print_summary(rows: list[reconcile.Summary]) -> None:
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


def _print_exceptions(rows: list[reconcile.ReconException]) -> None:
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
    type=click.Choice(sorted({a for actions in reconcile.ACTIONS.values() for a in actions})),
)
@click.option("--note", required=True, help="Why; kept with the resolution and in the audit log.")
def resolve_command(exception_id: int, action: str, note: str) -> None:
    """Settle one exception; money-moving actions post balanced entries."""
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions.begin() as session:
        resolution = reconcile.resolve(session, exception_id, action, actor=_actor(), note=note)
        entries = list(resolution.entry_ids)
    click.echo(f"exception {exception_id} resolved by {action}; entries {entries or 'none'}")


@click.group("report")
def report_group() -> None:
    """Daily reports."""


@report_group.command("fund-flow")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--format", "form", type=click.Choice(["csv", "xlsx", "html"]), default="csv")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Default: stdout.")
def fund_flow_command(day: datetime, form: str, output: str | None) -> None:
    """资金流水报表: per funding source and channel, opening to closing."""
    from lendkit.cli import open_checked_runtime

    if form == "xlsx" and not output:
        raise click.UsageError("--format xlsx writes a file: give --output")
    runtime = open_checked_runtime(migrated=True)
    with runtime.read_sessions() as session:
        report = reports.fund_flow(session, day.date())
    if form == "xlsx":
        Path(output or "").write_bytes(reports.to_xlsx(report))
        click.echo(f"fund-flow report of {day.date()} written to {output}")
        text = None
    else:
        text = reports.to_csv(report) if form == "csv" else reports.to_html(report, runtime)
    if text is not None and output:
        Path(output).write_text(text, encoding="utf-8", newline="")
        click.echo(f"fund-flow report of {day.date()} written to {output}")
    elif text is not None:
        click.echo(text, nl=False)
    if not report.ties:
        click.echo("the report does not tie to the ledger", err=True)
        sys.exit(1)


@report_group.command("partner-settlement")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--source", help="One partner funding source (default: every partner).")
@click.option("--format", "form", type=click.Choice(["csv", "xlsx", "html"]), default="csv")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Default: stdout.")
def partner_settlement_command(
    day: datetime, source: str | None, form: str, output: str | None
) -> None:
    """合作机构结算单: per partner, what we owe it and why, loan by loan.

    Exits 1 when the statement does not reconcile with the ledger's balances
    of the partner's payable and fund pool for that date.
    """
    from lendkit.cli import open_checked_runtime

    if form == "xlsx" and not output:
        raise click.UsageError("--format xlsx writes a file: give --output")
    runtime = open_checked_runtime(migrated=True)
    with runtime.read_sessions() as session:
        try:
            report = settlement.partner_settlement(session, day.date(), source)
        except LendkitError as exc:
            raise click.BadParameter(exc.detail, param_hint="--source") from None
    written = f"partner settlement statement of {day.date()} written to {output}"
    if form == "xlsx":
        Path(output or "").write_bytes(settlement.to_xlsx(report))
        click.echo(written)
    else:
        text = settlement.to_csv(report) if form == "csv" else settlement.to_html(report, runtime)
        if output:
            Path(output).write_text(text, encoding="utf-8", newline="")
            click.echo(written)
        else:
            click.echo(text, nl=False)
    if not report.ties:
        for problem in report.problems:
            click.echo(f"does not reconcile: {problem}", err=True)
        sys.exit(1)


@lendkit.hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(ledger_group)
    cli.add_command(reconcile_group)
    cli.add_command(report_group)


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return list(channels.ROUTES)


def _instruct(runtime: Runtime, now: datetime) -> object:
    return payments.instruct_due(runtime, now)


def _timeouts(runtime: Runtime, now: datetime) -> object:
    return payments.query_overdue(runtime, now)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [
        # Orders are claimed with SKIP LOCKED, so every worker helps send them.
        Job(name="payments-instruct", every=timedelta(seconds=1), run=_instruct, every_worker=True),
        Job(name="payments-timeouts", every=timedelta(seconds=30), run=_timeouts),
        Job(name="reconcile-daily", every=timedelta(minutes=15), run=reconcile.reconcile_yesterday),
    ]


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Funds clearing: double-entry ledger, payment orders, daily reconciliation",
            clauses=(
                "网络小额贷款业务管理暂行办法 第二十条 (资金管理)",
                "非银行支付机构网络支付业务管理办法 (对账)",
            ),
            description="Every movement of money is a balanced, append-only journal entry; "
            "payment orders keep an append-only history; channel statements are matched "
            "daily and every correction is audited.",
        )
    ]
