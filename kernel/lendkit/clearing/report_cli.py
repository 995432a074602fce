"""The ``lendkit report`` commands: the daily fund-flow report and partner statements."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from lendkit.errors import LendkitError

__all__ = ["report_group"]


@click.group("report")
def report_group() -> None:
    """Daily reports."""


@report_group.command("fund-flow")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), required=True)
@click.option("--format", "form", type=click.Choice(["csv", "xlsx", "html"]), default="csv")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Default: stdout.")
def fund_flow_command(day: datetime, form: str, output: str | None) -> None:
    """资金流水报表: per funding source and channel, opening to closing."""
    from lendkit.clearing import reports
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
    from lendkit.clearing import settlement
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
