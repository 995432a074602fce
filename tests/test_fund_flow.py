"""The daily fund-flow report (资金流水报表): every figure ties to the journal."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
from click.testing import CliRunner
from lendkit.clearing import funding, ledger, postings, reconcile, reports, settlement
from lendkit.clearing.colending import Agreement, Funder, Repayment
from lendkit.clearing.ledger import Line
from lendkit.clearing.report_cli import report_group
from lendkit.types import StatementLine

D = Decimal
DAY = date(2026, 11, 24)
SPLIT = [Funder("own", D("0.3")), Funder("bank_a", D("0.7"))]
AGREEMENT = Agreement(penalty="share", fees="own")


def post(session, key, lines, day=DAY):
    return ledger.post(session, business_date=day, idempotency_key=key, cause=key, lines=lines)


def book_a_day(runtime):
    """Yesterday: capital, one reservation. Today: see the expectations below."""
    before = DAY - timedelta(days=1)
    with runtime.sessions.begin() as session:
        funding.add_source(session, "bank_a", "甲银行 <Bank A>")
        post(
            session,
            "cap:own",
            [
                Line.debit("fund_pool:own", D("1000000")),
                Line.credit("funding_capital:own", D("1000000")),
            ],
            before,
        )
        post(
            session,
            "cap:bank",
            [
                Line.debit("fund_pool:bank_a", D("500000")),
                Line.credit("funding_capital:bank_a", D("500000")),
            ],
            before,
        )
        post(
            session,
            "l1:reserve",
            postings.disbursement_instructed(D("1000"), SPLIT, "sandbox", 1),
            before,
        )
        # Today.
        post(session, "l1:confirm", postings.disbursement_confirmed(D("1000"), SPLIT, "sandbox", 1))
        post(
            session, "l2:reserve", postings.disbursement_instructed(D("2000"), SPLIT, "sandbox", 2)
        )
        post(session, "l2:confirm", postings.disbursement_confirmed(D("2000"), SPLIT, "sandbox", 2))
        failed = post(
            session,
            "l3:reserve",
            postings.disbursement_instructed(D("500"), [Funder("own", D(1))], "sandbox", 3),
        )
        ledger.reverse(session, failed.id, business_date=DAY, reason="card frozen")
        for receivable, amount, rule in (
            ("loan_interest", D("300"), "share"),
            ("loan_penalty", D("20"), "share"),
            ("loan_fees", D("10"), "own"),
        ):
            post(
                session,
                f"l2:accrue:{receivable}",
                postings.accrued(receivable, amount, SPLIT, 2, rule),
            )
        paid = Repayment(principal=D("500"), interest=D("300"), penalty=D("20"), fees=D("10"))
        post(session, "l2:received", postings.repayment_received(paid.total, "sandbox", 2))
        allocated, settled = postings.repayment(session, 2, paid, "sandbox")
        post(session, "l2:allocated", allocated)
        post(session, "l2:settled", settled)
        post(
            session,
            "bank:settle",
            [
                Line.debit("partner_payable:bank_a", D("210")),
                Line.credit("fund_pool:bank_a", D("210")),
            ],
        )
        post(
            session,
            "cap:own:2",
            [
                Line.debit("fund_pool:own", D("10000")),
                Line.credit("funding_capital:own", D("10000")),
            ],
        )


def test_the_report_splits_the_day_by_funder_and_channel_and_ties_to_the_ledger(runtime):
    book_a_day(runtime)

    with runtime.sessions() as session:
        report = reports.fund_flow(session, DAY)
        kept = dict(ledger.trial_balance(session, DAY).rows)

    own, bank = report.pools
    assert (own.source, bank.source, bank.name) == ("own", "bank_a", "甲银行 <Bank A>")
    assert (own.opening, own.disbursed, own.repaid, own.capital, own.closing) == (
        D("999700.00"),
        D("600.00"),
        D("256.00"),
        D("10000.00"),
        D("1009356.00"),
    )
    assert (own.principal, own.interest, own.penalty, own.fees) == (
        D("150.00"),
        D("90.00"),
        D("6.00"),
        D("10.00"),
    )
    assert (bank.opening, bank.disbursed, bank.repaid, bank.partner_settlements) == (
        D("499300.00"),
        D("1400.00"),
        D("574.00"),
        D("210.00"),
    )
    assert (bank.principal, bank.interest, bank.penalty, bank.fees) == (
        D("350.00"),
        D("210.00"),
        D("14.00"),
        D("0.00"),
    )
    [channel] = report.channels
    assert (channel.opening, channel.reserved, channel.paid_out) == (
        D("1000.00"),
        D("2000.00"),
        D("3000.00"),
    )
    assert (channel.collected, channel.settled, channel.other, channel.closing) == (
        D("830.00"),
        D("830.00"),
        D("0.00"),
        D("0.00"),
    )
    assert report.ties
    assert own.closing == kept["fund_pool:own"]
    assert bank.closing == kept["fund_pool:bank_a"]
    assert kept.get("channel_in_transit:sandbox", D("0.00")) == channel.closing

    text = reports.to_csv(report)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["business_date", "2026-11-24"]
    assert rows[2] == reports.POOL_COLUMNS
    assert rows[3][:4] == ["own", "自有资金 Own funds", "999700.00", "600.00"]
    assert rows[6] == reports.CHANNEL_COLUMNS
    assert rows[7] == [
        "sandbox",
        "1000.00",  # opening
        "2000.00",  # reserved
        "3000.00",  # paid out
        "830.00",  # collected
        "830.00",  # settled
        "0.00",  # fees booked
        "0.00",  # other
        "0.00",  # closing
        "0.00",  # fees on the statement
    ]

    book = openpyxl.load_workbook(io.BytesIO(reports.to_xlsx(report)))
    assert book.sheetnames == ["资金来源 Funding sources", "通道 Channels"]
    sheet = book["资金来源 Funding sources"]
    assert [c.value for c in sheet[1]] == reports.POOL_COLUMNS
    assert sheet["A2"].value == "own"
    assert D(str(sheet["C2"].value)) == own.opening
    assert sheet["C2"].number_format == "#,##0.00"
    assert len(sheet._charts) == 1  # the picture beside the numbers
    assert [c.value for c in book["通道 Channels"][2]][:2] == ["sandbox", D("1000.00")]

    page = reports.to_html(report, runtime)
    assert "资金流水报表" in page
    assert "<svg" in page
    assert "1,009,356.00" in page
    assert "<Bank A>" not in page
    assert "&lt;Bank A&gt;" in page


def test_channel_fees_booked_by_reconciliation_are_their_own_column_and_the_report_ties(runtime):
    book_a_day(runtime)
    statement = [
        StatementLine(DAY, "D_FF_1", "R1", "disburse", D("2000.00"), "succeeded", D("1.00")),
        StatementLine(DAY, "C_FF_2", "R2", "collect", D("830.00"), "succeeded", D("0.50")),
    ]
    reconcile.reconcile(runtime, DAY, "sandbox", lines=statement)
    # A corrected statement the same day: the difference is booked, the report follows.
    statement.append(
        StatementLine(DAY, "C_FF_3", "R3", "collect", D("10.00"), "succeeded", D("0.50"))
    )
    reconcile.reconcile(runtime, DAY, "sandbox", lines=statement)

    with runtime.sessions() as session:
        report = reports.fund_flow(session, DAY)
        kept = dict(ledger.trial_balance(session, DAY).rows)
        tomorrow = reports.fund_flow(session, DAY + timedelta(days=1))

    [channel] = report.channels
    assert (channel.fees_booked, channel.channel_fees) == (D("2.00"), D("2.00"))
    assert (channel.other, channel.closing) == (D("0.00"), D("-2.00"))
    assert report.ties
    assert kept["channel_in_transit:sandbox"] == channel.closing
    assert kept["channel_fee_expense"] == D("2.00")
    assert all(p.closing == kept[f"fund_pool:{p.source}"] for p in report.pools)
    [next_day] = tomorrow.channels
    assert (next_day.opening, next_day.fees_booked, next_day.channel_fees) == (
        D("-2.00"),
        D("0.00"),
        D("0.00"),
    )
    assert "2.00" in reports.to_html(report, runtime)


def test_a_tenant_lays_out_the_reports_with_its_own_templates(runtime):
    """The layouts are templates found tenant first (templates/reports/ beside
    lendkit.toml), then plugins, then the kit's."""
    book_a_day(runtime)
    folder = runtime.settings.path("templates") / "reports"
    folder.mkdir(parents=True)
    (folder / "fund_flow.html").write_text(
        "{{ day }}: {% for p in report.pools %}{{ p.source }} {{ p.closing }};{% endfor %}",
        encoding="utf-8",
    )
    (folder / "partner_settlement.html").write_text(
        "{{ day }}: {% for p in report.partners %}{{ p.source }} {{ money(p.due) }}{% endfor %}",
        encoding="utf-8",
    )
    with runtime.sessions() as session:
        flow = reports.fund_flow(session, DAY)
        statement = settlement.partner_settlement(session, DAY)
    assert reports.to_html(flow, runtime) == "2026-11-24: own 1009356.00;bank_a 498264.00;"
    assert settlement.to_html(statement, runtime) == "2026-11-24: bank_a 14.00"


def test_cli_writes_csv_and_html(runtime, tmp_path):
    book_a_day(runtime)
    runner = CliRunner()

    printed = runner.invoke(report_group, ["fund-flow", "--date", DAY.isoformat()])
    written = runner.invoke(
        report_group,
        [
            "fund-flow",
            "--date",
            DAY.isoformat(),
            "--format",
            "html",
            "--output",
            str(tmp_path / "r.html"),
        ],
    )

    assert printed.exit_code == 0, printed.output
    assert "sandbox,1000.00,2000.00" in printed.output
    assert written.exit_code == 0, written.output
    assert "<svg" in (tmp_path / "r.html").read_text(encoding="utf-8")
    empty = runner.invoke(report_group, ["fund-flow", "--date", "2020-01-01"])
    assert empty.exit_code == 0
    assert "own,自有资金 Own funds,0.00" in empty.output


def test_cli_writes_xlsx_to_a_file_only(runtime, tmp_path):
    book_a_day(runtime)
    runner = CliRunner()
    target = tmp_path / "fund-flow.xlsx"
    written = runner.invoke(
        report_group,
        ["fund-flow", "--date", DAY.isoformat(), "--format", "xlsx", "--output", str(target)],
    )
    assert written.exit_code == 0, written.output
    assert openpyxl.load_workbook(target).sheetnames == [
        "资金来源 Funding sources",
        "通道 Channels",
    ]
    refused = runner.invoke(
        report_group, ["fund-flow", "--date", DAY.isoformat(), "--format", "xlsx"]
    )
    assert refused.exit_code == 2
    assert "give --output" in refused.output
