"""The daily partner settlement statement (合作机构结算单) and paying partners:
real postings through co-lending and the ledger, every figure to the fen."""

from __future__ import annotations

import csv
import io
import threading
from datetime import date, timedelta
from decimal import Decimal

import openpyxl
import pytest
from click.testing import CliRunner
from lendkit.audit import AuditEntry
from lendkit.clearing import funding, ledger, partner_payouts, postings, reports, settlement
from lendkit.clearing.colending import Funder, Repayment
from lendkit.clearing.ledger import JournalEntry, Line
from lendkit.clearing.ledger_cli import ledger_group
from lendkit.clearing.payments import business_today
from lendkit.clearing.report_cli import report_group
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from sqlalchemy import func, select, text

D = Decimal
DAY0 = date(2026, 11, 23)
DAY = DAY0 + timedelta(days=1)
DAY2 = DAY + timedelta(days=1)
SPLIT_A = [Funder("own", D("0.3")), Funder("bank_a", D("0.7"))]
SPLIT_B = [Funder("own", D("0.4")), Funder("bank_b", D("0.6"))]


def post(session, key, lines, day=DAY):
    return ledger.post(session, business_date=day, idempotency_key=key, cause=key, lines=lines)


def capital(session, source, amount, day=DAY0):
    post(
        session,
        f"capital:{source}",
        [
            Line.debit(f"fund_pool:{source}", D(amount)),
            Line.credit(f"funding_capital:{source}", D(amount)),
        ],
        day,
    )


def disburse(session, loan, amount, split, day, *, fail_on=None):
    reserved = post(
        session,
        f"l{loan}:reserve",
        postings.disbursement_instructed(D(amount), split, "sandbox", loan),
        day,
    )
    if fail_on is not None:
        ledger.reverse(session, reserved.id, business_date=fail_on, reason="card frozen")
    else:
        post(
            session,
            f"l{loan}:confirm",
            postings.disbursement_confirmed(D(amount), split, "sandbox", loan),
            day,
        )


def accrue(session, loan, receivable, amount, split, rule, day):
    post(
        session,
        f"l{loan}:accrue:{receivable}:{day}",
        postings.accrued(receivable, D(amount), split, loan, rule),
        day,
    )


def repay(session, loan, paid, day):
    """As the lifecycle posts it: each component split by what each funder is owed."""
    allocated, settled = postings.repayment(session, loan, paid, "sandbox")
    post(
        session, f"l{loan}:received", postings.repayment_received(paid.total, "sandbox", loan), day
    )
    post(session, f"l{loan}:allocated", allocated, day)
    post(session, f"l{loan}:settled", settled, day)


def book(runtime):
    """Two partners with different agreements over three days.

    bank_a: penalty by share, fees to own funds. bank_b: penalty to own
    funds, fees by share.
    """
    with runtime.sessions.begin() as session:
        a = funding.add_source(session, "bank_a", "甲银行 <Bank A>").agreement
        b = funding.add_source(session, "bank_b", "乙信托", penalty="own", fees="share").agreement
        capital(session, "own", "1000000")
        capital(session, "bank_a", "500000")
        capital(session, "bank_b", "200000")
        # DAY0: loan 1 (bank_a 7000.01 of 10000.01), loan 2 (bank_b 3000.00 of 5000.00),
        # loan 5 reserved (bank_a 350.00) and reversed the next day.
        disburse(session, 1, "10000.01", SPLIT_A, DAY0)
        accrue(session, 1, "loan_interest", "100.01", SPLIT_A, "share", DAY0)
        disburse(session, 2, "5000.00", SPLIT_B, DAY0)
        accrue(session, 2, "loan_interest", "50.00", SPLIT_B, "share", DAY0)
        accrue(session, 2, "loan_fees", "10.00", SPLIT_B, b.fees, DAY0)
        accrue(session, 2, "loan_penalty", "5.00", SPLIT_B, b.penalty, DAY0)
        disburse(session, 5, "500.00", SPLIT_A, DAY0, fail_on=DAY)
        # DAY: loan 1 repaid in part, loan 3 disbursed, loan 4 failed the same day.
        accrue(session, 1, "loan_penalty", "3.33", SPLIT_A, a.penalty, DAY)
        accrue(session, 1, "loan_fees", "20.00", SPLIT_A, a.fees, DAY)
        repay(
            session,
            1,
            Repayment(D("1000.00"), D("100.01"), D("3.33"), D("20.00")),
            DAY,
        )
        disburse(session, 3, "2000.00", SPLIT_A, DAY)
        disburse(session, 4, "333.33", SPLIT_A, DAY, fail_on=DAY)
        repay(
            session,
            2,
            Repayment(D("500.00"), D("50.00"), D("5.00"), D("10.00")),
            DAY,
        )
        accrue(session, 2, "loan_interest", "10.00", SPLIT_B, "share", DAY)
        assert settlement.due(session, "bank_a", DAY0) == D("0.00")
        partner_payouts.settle_partner(
            session, "bank_a", DAY, D("50.00"), "wire-1", actor="finance"
        )


def statement(runtime, day=DAY, source=None):
    with runtime.sessions() as session:
        return settlement.partner_settlement(session, day, source)


def test_the_statement_says_what_each_partner_is_owed_and_why_to_the_fen(runtime):
    book(runtime)

    report = statement(runtime)

    assert report.ties, report.problems
    bank_a, bank_b = report.partners
    assert (bank_a.source, bank_a.name, bank_b.source) == ("bank_a", "甲银行 <Bank A>", "bank_b")
    # bank_a: 7000.01 of loan 1 was its part (largest remainder); loan 3 + loan 4 - loan 5.
    assert (bank_a.disbursed, bank_a.principal, bank_a.interest, bank_a.penalty, bank_a.fees) == (
        D("1050.00"),
        D("700.00"),
        D("70.01"),
        D("2.33"),
        D("0.00"),
    )
    assert (bank_a.collected, bank_a.repaid, bank_a.income) == (
        D("772.34"),
        D("772.34"),
        D("72.34"),
    )
    assert (
        bank_a.payable_opening,
        bank_a.accrued,
        bank_a.paid,
        bank_a.payable_other,
        bank_a.payable_closing,
    ) == (D("70.01"), D("2.33"), D("50.00"), D("0.00"), D("22.34"))
    assert (bank_a.due_opening, bank_a.due, bank_a.uncollected) == (
        D("0.00"),
        D("22.34"),
        D("0.00"),
    )
    assert (
        bank_a.pool_opening,
        bank_a.capital,
        bank_a.pool_paid,
        bank_a.pool_other,
        bank_a.pool_closing,
    ) == (D("492649.99"), D("0.00"), D("50.00"), D("0.00"), D("492322.33"))
    assert [
        (d.loan_id, d.disbursed, d.principal, d.interest, d.penalty, d.repaid, d.accrued)
        for d in bank_a.loans
    ] == [
        (1, D("0.00"), D("700.00"), D("70.01"), D("2.33"), D("772.34"), D("2.33")),
        (3, D("1400.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00")),
        (4, D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00")),
        (5, D("-350.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00"), D("0.00")),
    ]
    # bank_b: fees by share (6.00 of 10.00), penalty all to own funds; 6.00 accrued unpaid.
    assert (bank_b.principal, bank_b.interest, bank_b.penalty, bank_b.fees, bank_b.repaid) == (
        D("300.00"),
        D("30.00"),
        D("0.00"),
        D("6.00"),
        D("336.00"),
    )
    assert (bank_b.payable_opening, bank_b.accrued, bank_b.paid, bank_b.payable_closing) == (
        D("36.00"),
        D("6.00"),
        D("0.00"),
        D("42.00"),
    )
    assert (bank_b.due, bank_b.uncollected) == (D("36.00"), D("6.00"))
    assert (bank_b.pool_opening, bank_b.pool_closing) == (D("197000.00"), D("197336.00"))
    assert [(d.loan_id, d.fees, d.accrued) for d in bank_b.loans] == [(2, D("6.00"), D("6.00"))]

    with runtime.sessions() as session:
        kept = dict(ledger.trial_balance(session, DAY).rows)
        flow = {p.source: p for p in reports.fund_flow(session, DAY).pools}
    assert bank_a.payable_closing == -kept["partner_payable:bank_a"] == bank_a.ledger_payable
    assert bank_a.pool_closing == kept["fund_pool:bank_a"] == bank_a.ledger_pool
    assert bank_b.payable_closing == -kept["partner_payable:bank_b"]
    # The fund-flow report sees the same day of the partner's pool.
    assert (flow["bank_a"].disbursed, flow["bank_a"].repaid) == (bank_a.disbursed, bank_a.repaid)
    assert flow["bank_a"].partner_settlements == bank_a.pool_paid
    assert flow["bank_a"].closing == bank_a.pool_closing

    only_b = statement(runtime, source="bank_b")
    assert [p.source for p in only_b.partners] == ["bank_b"]
    with pytest.raises(NotFoundError) as refused:
        statement(runtime, source="own")
    assert refused.value.code == "unknown_partner"


def test_the_next_day_opens_where_the_last_closed_and_payments_clear_what_is_due(runtime):
    book(runtime)
    with runtime.sessions.begin() as session:
        partner_payouts.settle_partner(session, "bank_b", DAY2, D("36.00"), "wire-b-1")

    before, after = statement(runtime, DAY), statement(runtime, DAY2)

    assert before.ties, before.problems
    assert after.ties, after.problems
    _, b_before = before.partners
    a_after, b_after = after.partners
    assert (b_after.payable_opening, b_after.due_opening) == (
        b_before.payable_closing,
        b_before.due,
    )
    assert (b_after.paid, b_after.pool_paid, b_after.payable_closing) == (
        D("36.00"),
        D("36.00"),
        D("6.00"),
    )
    assert (b_after.due, b_after.uncollected, b_after.loans) == (D("0.00"), D("6.00"), [])
    assert b_after.pool_closing == D("197300.00")
    assert (a_after.pool_opening, a_after.pool_closing) == (D("492322.33"), D("492322.33"))
    assert (a_after.due_opening, a_after.due) == (D("22.34"), D("22.34"))


def test_paying_a_partner_is_idempotent_limited_to_what_is_due_and_audited(runtime):
    book(runtime)
    with runtime.sessions() as session:
        pool = ledger.balance(session, "fund_pool:bank_a")

    with runtime.sessions.begin() as session:
        again = partner_payouts.settle_partner(session, "bank_a", DAY, D("50.00"), "wire-1")
        assert [(line.account.code, line.amount) for line in again.lines] == [
            ("partner_payable:bank_a", D("50.00")),
            ("fund_pool:bank_a", D("-50.00")),
        ]
    refusals = [
        (("bank_a", DAY, D("50.01"), "wire-1"), ConflictError, "idempotency_key_reused"),
        (("bank_a", DAY0, D("50.00"), "wire-1"), ConflictError, "idempotency_key_reused"),
        (("bank_a", DAY, D("22.35"), "wire-2"), ValidationFailed, "settlement_exceeds_due"),
        (("bank_a", DAY0, D("0.01"), "wire-3"), ValidationFailed, "settlement_exceeds_due"),
        (("bank_a", DAY, D("0"), "wire-4"), ValidationFailed, "invalid_amount"),
        (("bank_a", DAY, D("1.001"), "wire-5"), ValidationFailed, "invalid_amount"),
        (("own", DAY, D("1.00"), "wire-6"), NotFoundError, "unknown_partner"),
        (("bank_a", DAY, D("1.00"), ""), ValidationFailed, "idempotency_key_missing"),
        (
            ("bank_a", business_today() + timedelta(days=1), D("1.00"), "wire-7"),
            ValidationFailed,
            "invalid_business_date",
        ),
    ]
    for arguments, error, code in refusals:
        with pytest.raises(error) as refused, runtime.sessions.begin() as session:
            partner_payouts.settle_partner(session, *arguments)
        assert refused.value.code == code, arguments
    with runtime.sessions.begin() as session:
        partner_payouts.settle_partner(session, "bank_a", DAY, D("22.34"), "wire-2", note="rest")

    with runtime.sessions() as session:
        assert ledger.balance(session, "fund_pool:bank_a") == pool - D("22.34")
        assert ledger.balance(session, "partner_payable:bank_a") == D("0.00")
        assert settlement.due(session, "bank_a", DAY) == D("0.00")
        assert ledger.trial_balance(session).balanced
        settled = session.execute(
            select(AuditEntry.actor, AuditEntry.details)
            .where(AuditEntry.action == "partner.settled")
            .order_by(AuditEntry.id)
        ).all()
    assert [(actor, d["amount"], d["key"]) for actor, d in settled] == [
        ("finance", "50.00", "wire-1"),
        ("system", "22.34", "wire-2"),
    ]
    assert statement(runtime).partners[0].due == D("0.00")


def test_concurrent_payments_never_pay_more_than_is_due(runtime):
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is PostgreSQL's job; SQLite serializes writers")
    book(runtime)
    outcomes: list[str] = []

    def pay(key):
        try:
            with runtime.sessions.begin() as session:
                partner_payouts.settle_partner(session, "bank_a", DAY, D("15.00"), key)
            outcomes.append("paid")
        except ValidationFailed as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=pay, args=(f"race-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["paid"] + ["settlement_exceeds_due"] * 3
    with runtime.sessions() as session:
        assert settlement.due(session, "bank_a", DAY) == D("7.34")


def test_outputs_csv_xlsx_and_html(runtime):
    book(runtime)
    report = statement(runtime)

    text_ = settlement.to_csv(report)
    assert text_.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text_.lstrip("\ufeff"))))
    assert rows[0] == ["business_date", "2026-11-24"]
    assert rows[2] == settlement.SUMMARY_COLUMNS
    summary = dict(zip(rows[2], rows[3], strict=True))
    assert (summary["source"], summary["name"], summary["due"], summary["reconciled"]) == (
        "bank_a",
        "甲银行 <Bank A>",
        "22.34",
        "yes",
    )
    assert summary["pool_closing"] == "492322.33"
    assert rows[6] == settlement.LOAN_COLUMNS
    assert rows[7] == [
        "bank_a",
        "1",
        "0.00",
        "700.00",
        "70.01",
        "2.33",
        "0.00",
        "772.34",
        "772.34",
        "2.33",
    ]
    assert rows[-1][:2] == ["bank_b", "2"]

    book_ = openpyxl.load_workbook(io.BytesIO(settlement.to_xlsx(report)))
    assert book_.sheetnames == ["结算汇总 Summary", "贷款明细 Loans"]
    sheet = book_["结算汇总 Summary"]
    assert [c.value for c in sheet[1]] == settlement.SUMMARY_COLUMNS
    due_cell = sheet.cell(row=2, column=settlement.SUMMARY_COLUMNS.index("due") + 1)
    assert (D(str(due_cell.value)), due_cell.number_format) == (D("22.34"), "#,##0.00")
    assert [c.value for c in book_["贷款明细 Loans"][3]][:3] == ["bank_a", 3, D("1400.00")]

    page = settlement.to_html(report, runtime)
    assert "合作机构结算单" in page
    assert "22.34" in page
    assert "492,322.33" in page
    assert "<Bank A>" not in page
    assert "&lt;Bank A&gt;" in page


def test_cli_prints_writes_filters_and_pays(runtime, tmp_path):
    book(runtime)
    runner = CliRunner()

    printed = runner.invoke(report_group, ["partner-settlement", "--date", DAY.isoformat()])
    assert printed.exit_code == 0, printed.output
    assert "bank_a,甲银行 <Bank A>,1050.00" in printed.output
    one = runner.invoke(
        report_group,
        ["partner-settlement", "--date", DAY.isoformat(), "--source", "bank_b"],
    )
    assert one.exit_code == 0, one.output
    assert "bank_a" not in one.output
    unknown = runner.invoke(
        report_group,
        ["partner-settlement", "--date", DAY.isoformat(), "--source", "own"],
    )
    assert unknown.exit_code == 2
    assert "no partner funding source 'own'" in unknown.output
    for form in ("html", "xlsx"):
        target = tmp_path / f"statement.{form}"
        written = runner.invoke(
            report_group,
            [
                "partner-settlement",
                "--date",
                DAY.isoformat(),
                "--format",
                form,
                "--output",
                str(target),
            ],
        )
        assert written.exit_code == 0, written.output
        assert target.stat().st_size > 0
    refused = runner.invoke(
        report_group,
        ["partner-settlement", "--date", DAY.isoformat(), "--format", "xlsx"],
    )
    assert refused.exit_code == 2

    pay = ["settle-partner", "bank_a", "--date", DAY.isoformat(), "--key", "cli-wire"]
    paid = runner.invoke(ledger_group, [*pay, "--amount", "22.34", "--note", "rest"])
    assert paid.exit_code == 0, paid.output
    assert "paid 22.34 to bank_a" in paid.output
    too_much = runner.invoke(ledger_group, [*pay[:-1], "cli-wire-2", "--amount", "0.01"])
    assert too_much.exit_code == 1
    assert "settlement_exceeds_due" in too_much.output
    with runtime.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(JournalEntry)
                .where(JournalEntry.idempotency_key.like("partner-settlement:%"))
            )
            == 2
        )


def test_a_statement_that_disagrees_with_the_kept_balances_exits_1(runtime):
    book(runtime)
    with runtime.sessions.begin() as session:
        # Tamper with the kept balance of bank_b's payable (the journal lines cannot change).
        session.execute(
            text(
                "UPDATE account_balance SET balance = balance - 1 WHERE bucket = "
                "(SELECT MIN(bucket) FROM account_balance b JOIN ledger_account a "
                "ON a.id = b.account_id WHERE a.code = 'partner_payable:bank_b') "
                "AND account_id = (SELECT id FROM ledger_account "
                "WHERE code = 'partner_payable:bank_b')"
            )
        )

    report = statement(runtime)
    result = CliRunner().invoke(report_group, ["partner-settlement", "--date", DAY.isoformat()])

    assert report.problems == [
        "bank_b: partner_payable:bank_b: the statement closes at 42.00, kept balance is 43.00"
    ]
    assert result.exit_code == 1
    assert "does not reconcile: bank_b: partner_payable:bank_b" in result.output
