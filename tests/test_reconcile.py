"""Reconciliation: the sandbox gateway's statement ↔ payment orders ↔ ledger."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from lendkit.audit import AuditEntry
from lendkit.clearing import ledger, payments, reconcile
from lendkit.clearing.ledger import JournalEntry, Line
from lendkit.clearing.payments import Payee
from lendkit.clearing.reconcile import ReconException, ReconResolution, ReconRun
from lendkit.clearing.reconcile_cli import RESOLVE_ACTIONS, reconcile_group
from lendkit.clock import CHINA
from lendkit.errors import ConflictError, ValidationFailed
from lendkit.types import StatementLine
from lendkit_channel_sandbox.testing import wait_for
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

D = Decimal
_loans = itertools.count(5000)
_days = itertools.count(1)


def card(tail="3445"):
    return "62220202001122" + tail


@pytest.fixture
def tenant(sandbox_tenant):
    """The shared tenant, funded, its gateway settling on a day no other test uses."""
    runtime = sandbox_tenant.runtime
    with runtime.sessions.begin() as session:
        ledger.post(
            session,
            business_date=payments.business_today(),
            idempotency_key=f"capital:{uuid.uuid4()}",
            cause="funding:own",
            lines=[
                Line.debit("fund_pool:own", D("1000000.00")),
                Line.credit("funding_capital:own", D("1000000.00")),
            ],
        )
    sandbox_tenant.day = date(2026, 1, next(_days))
    sandbox_tenant.gateway.configure({"settle_date": sandbox_tenant.day.isoformat()})
    return sandbox_tenant


def pay(runtime, kind, amount, tail="3445"):
    request = payments.request_disbursement if kind == "disburse" else payments.request_collection
    with runtime.sessions.begin() as session:
        return request(
            session,
            runtime,
            idempotency_key=str(uuid.uuid4()),
            loan_id=next(_loans),
            amount=D(amount),
            channel="sandbox",
            payee=Payee("李四", card(tail)),
        ).order_no


def status(runtime, number):
    with runtime.sessions() as session:
        return payments.order_by_no(session, number).status


def run_all(runtime, *numbers):
    payments.instruct_due(runtime)
    for number in numbers:
        wait_for(
            lambda n=number: status(runtime, n) != "reserved" and status(runtime, n) != "created"
        )


def settle(runtime, *numbers):
    run_all(runtime, *numbers)
    for number in numbers:
        wait_for(lambda n=number: status(runtime, n) in payments.FINAL)


def queue(runtime, day):
    with runtime.sessions() as session:
        return {
            (e.kind, e.order_no): e
            for e in reconcile.exceptions(session, business_date=day, open_only=False)
        }


def test_a_statement_with_every_kind_of_mismatch(tenant):
    runtime, gateway, day = tenant.runtime, tenant.gateway, tenant.day
    paid = pay(runtime, "disburse", "5000.00")  # matched
    collected = pay(runtime, "collect", "812.40")  # matched
    refused = pay(runtime, "collect", "99.00", "0062")  # matched: failed on both sides
    omitted = pay(runtime, "disburse", "300.00")  # the channel's file leaves it out
    shorted = pay(runtime, "collect", "150.00")  # the file says 149.99
    flipped = pay(runtime, "disburse", "70.00")  # the file says FAIL
    stuck = pay(runtime, "collect", "33.30", "0099")  # the channel finished it, no callback yet
    settle(runtime, paid, collected, refused, omitted, shorted, flipped)
    run_all(runtime, stuck)
    gateway.complete(stuck, "SUCCESS", notify=False)
    gateway.add_faults(
        day,
        {
            "omit": [omitted],
            "amounts": {shorted: "149.99"},
            "statuses": {flipped: "FAIL"},
            "extra": [{"merchant_order_no": "C_UNKNOWN_1", "type": "WITHHOLD", "amount": "88.00"}],
        },
    )

    runs = reconcile.reconcile(runtime, day, "sandbox")

    run = runs["sandbox"]
    assert run is not None
    assert (run.lines, run.matched) == (7, 3)
    assert (run.missing_ours, run.missing_theirs) == (1, 1)
    assert (run.amount_mismatch, run.status_mismatch) == (1, 2)
    assert run.matched_total == D("5812.40")
    assert run.fees == D("1.00") + D("0.50") + D("0.50") + D("0.50")  # successes only
    found = queue(runtime, day)
    assert set(found) == {
        ("missing_ours", "C_UNKNOWN_1"),
        ("missing_theirs", omitted),
        ("amount_mismatch", shorted),
        ("status_mismatch", flipped),
        ("status_mismatch", stuck),
    }
    short = found[("amount_mismatch", shorted)]
    assert (short.statement_amount, short.order_amount, short.ledger_amount) == (
        D("149.99"),
        D("150.00"),
        D("150.00"),
    )
    assert found[("status_mismatch", stuck)].order_status == "in_transit"
    assert found[("missing_ours", "C_UNKNOWN_1")].payment_kind == "collect"
    with runtime.sessions() as session:
        [row] = reconcile.summary(session, day, "sandbox")
        assert row.open_exceptions == 5
        assert row.as_dict()["matched"] == 3

    # Rerunning queues nothing twice, and books the fees no second time.
    again = reconcile.reconcile(runtime, day, "sandbox")["sandbox"]
    assert again.id != run.id
    assert len(queue(runtime, day)) == 5
    with runtime.sessions() as session:
        assert reconcile.fees_booked(session, "sandbox", day) == (run.fees, 1)


def test_resolutions_are_audited_and_post_balanced_entries(tenant):
    runtime, gateway, day = tenant.runtime, tenant.gateway, tenant.day
    omitted = pay(runtime, "disburse", "300.00")
    shorted = pay(runtime, "collect", "150.00")
    flipped = pay(runtime, "disburse", "70.00")
    stuck = pay(runtime, "disburse", "33.30", "0099")
    settle(runtime, omitted, shorted, flipped)
    run_all(runtime, stuck)
    gateway.complete(stuck, "SUCCESS", notify=False)
    gateway.add_faults(
        day,
        {
            "omit": [omitted],
            "amounts": {shorted: "150.50"},
            "statuses": {flipped: "FAIL"},
            "extra": [{"merchant_order_no": "C_UNKNOWN_2", "type": "WITHHOLD", "amount": "88.00"}],
        },
    )
    reconcile.reconcile(runtime, day, "sandbox")
    found = {key: e.id for key, e in queue(runtime, day).items()}
    with runtime.sessions() as session:
        transit = ledger.balance(session, "channel_in_transit:sandbox")
        suspense = ledger.balance(session, "borrower_suspense")
        pool = ledger.balance(session, "fund_pool:own")

    def resolve(key, action, note="checked with the channel"):
        with runtime.sessions.begin() as session:
            resolution = reconcile.resolve(
                session, found[key], action, actor="staff:fin", note=note
            )
            return list(resolution.entry_ids)

    with pytest.raises(ValidationFailed) as wrong:
        resolve(("missing_ours", "C_UNKNOWN_2"), "reverse_order")
    assert wrong.value.code == "action_not_allowed"
    with pytest.raises(ValidationFailed) as silent:
        resolve(("missing_ours", "C_UNKNOWN_2"), "accept", note=" ")
    assert silent.value.code == "note_required"

    assert len(resolve(("missing_ours", "C_UNKNOWN_2"), "book_suspense")) == 1
    assert len(resolve(("amount_mismatch", shorted), "book_suspense")) == 1
    assert len(resolve(("missing_theirs", omitted), "reverse_order")) == 2
    assert len(resolve(("status_mismatch", stuck), "follow_statement")) == 1
    assert resolve(("status_mismatch", flipped), "accept", "the channel's file is wrong") == []
    with pytest.raises(ConflictError) as twice:
        resolve(("status_mismatch", flipped), "accept")
    assert twice.value.code == "already_resolved"

    with runtime.sessions() as session:
        # Collections that brought in more than booked: the borrower's suspense holds it.
        assert ledger.balance(session, "borrower_suspense") == suspense - D("88.00") - D("0.50")
        # In transit: +88.00 and +0.50 collected, -33.30 paid out; the reversed
        # disbursement's 300.00 went back from the borrower to the pool, not through here.
        assert ledger.balance(session, "channel_in_transit:sandbox") == (
            transit + D("88.00") + D("0.50") - D("33.30")
        )
        assert ledger.balance(session, "fund_pool:own") == pool + D("300.00")
        assert payments.order_by_no(session, omitted).status == "reversed"
        assert payments.order_by_no(session, stuck).status == "confirmed"
        assert ledger.trial_balance(session).balanced
        actions = session.scalars(
            select(AuditEntry.details).where(AuditEntry.action == "recon.resolve")
        ).all()
        assert {(d["order_no"], d["resolution"]) for d in actions} >= {
            ("C_UNKNOWN_2", "book_suspense"),
            (shorted, "book_suspense"),
            (omitted, "reverse_order"),
            (stuck, "follow_statement"),
            (flipped, "accept"),
        }
        assert not reconcile.exceptions(session, business_date=day)
    with pytest.raises(DBAPIError, match="append-only"), runtime.sessions.begin() as session:
        session.execute(text("UPDATE recon_resolution SET note = 'nothing happened'"))


def test_an_open_exception_that_a_later_run_no_longer_finds_is_closed_on_record(tenant):
    runtime, gateway, day = tenant.runtime, tenant.gateway, tenant.day
    stuck = pay(runtime, "collect", "45.00", "0099")
    run_all(runtime, stuck)
    gateway.complete(stuck, "SUCCESS", notify=False)
    reconcile.reconcile(runtime, day, "sandbox")
    [exception] = queue(runtime, day).values()
    assert exception.kind == "status_mismatch"

    gateway.notify(stuck)  # the late callback arrives
    wait_for(lambda: status(runtime, stuck) == "confirmed")
    run = reconcile.reconcile(runtime, day, "sandbox")["sandbox"]

    assert (run.matched, run.exceptions) == (1, 0)
    with runtime.sessions() as session:
        closed = session.get(ReconException, exception.id)
        resolution = session.scalar(
            select(ReconResolution).where(ReconResolution.exception_id == exception.id)
        )
        assert (closed.status, resolution.action, resolution.actor) == (
            "resolved",
            "cleared",
            "system",
        )


def test_a_day_without_a_statement_yet_is_skipped(tenant):
    runs = reconcile.reconcile(tenant.runtime, date(2099, 1, 1), "sandbox")
    assert runs == {"sandbox": None}
    with tenant.runtime.sessions() as session:
        assert not session.scalars(
            select(ReconRun).where(ReconRun.business_date == date(2099, 1, 1))
        ).all()


def test_a_ledger_that_disagrees_with_a_confirmed_order_is_an_amount_mismatch(tenant):
    """Three ways: the order and the statement agree, but its entry was reversed."""
    runtime, day = tenant.runtime, tenant.day
    number = pay(runtime, "collect", "60.00")
    settle(runtime, number)
    with runtime.sessions.begin() as session:
        entry = session.scalar(
            select(JournalEntry).where(JournalEntry.idempotency_key == f"payment:{number}:receive")
        )
        ledger.reverse(session, entry.id, business_date=day, reason="posted by mistake")

    reconcile.reconcile(runtime, day, "sandbox")

    [exception] = queue(runtime, day).values()
    assert (exception.kind, exception.ledger_amount, exception.statement_amount) == (
        "amount_mismatch",
        D("0.00"),
        D("60.00"),
    )


def test_given_lines_are_reconciled_and_malformed_ones_refused(tenant):
    runtime = tenant.runtime
    day = date(2025, 6, 30)
    good = StatementLine(day, "C_GIVEN_1", "R1", "collect", D("10.00"), "succeeded")

    run = reconcile.reconcile(runtime, day, "sandbox", lines=[good])["sandbox"]
    assert run.missing_ours == 1
    with pytest.raises(ValidationFailed) as refused:
        reconcile.reconcile(
            runtime,
            day,
            "sandbox",
            lines=[StatementLine(day, "C_GIVEN_2", "R2", "collect", D("-1.00"), "succeeded")],
        )
    assert refused.value.code == "statement_malformed"


def test_the_daily_job_reconciles_yesterday_once(tenant):
    runtime, day = tenant.runtime, tenant.day
    number = pay(runtime, "collect", "20.00")
    settle(runtime, number)
    next_morning = datetime.combine(day + timedelta(days=1), time(6, 0), CHINA)

    first = reconcile.reconcile_yesterday(runtime, next_morning)
    second = reconcile.reconcile_yesterday(runtime, next_morning)

    assert first["sandbox"].matched == 1
    assert second == {}


def test_cli_reconciles_lists_and_resolves(tenant, lendkit_cli):
    """The CLI over the API above; SQLite only, as the API is tested on both backends."""
    runtime, gateway, day = tenant.runtime, tenant.gateway, tenant.day
    if runtime.engine.dialect.name != "sqlite":
        pytest.skip("the CLI is the same on every backend: run once (it starts slowly)")
    number = pay(runtime, "disburse", "210.00")
    settle(runtime, number)
    gateway.add_faults(day, {"amounts": {number: "201.00"}})

    first = lendkit_cli("reconcile", "--date", day.isoformat(), env=tenant.env)

    assert first.returncode == 1, first.stderr
    assert "sandbox" in first.stdout
    assert "amount_mismatch" in first.stdout
    [exception] = queue(runtime, day).values()
    # The rest in-process (same commands, without another interpreter start-up).
    runner = CliRunner(env=tenant.env)
    settled = runner.invoke(
        reconcile_group,
        ["resolve", str(exception.id), "--action", "book_suspense", "--note", "short-paid"],
    )
    assert settled.exit_code == 0, settled.output
    assert "resolved by book_suspense" in settled.output
    again = runner.invoke(reconcile_group, ["--date", day.isoformat(), "--channel", "sandbox"])
    assert again.exit_code == 0, again.output
    listed = runner.invoke(reconcile_group, ["exceptions", "--all"])
    assert f"#{exception.id}" in listed.output
    with runtime.sessions() as session:
        assert session.scalar(
            select(AuditEntry.actor).where(AuditEntry.object == f"recon_exception:{exception.id}")
        ).startswith("cli:")


def test_the_resolve_command_offers_every_action_the_queue_knows():
    # The command spells the actions out (its help needs no ORM); they must not drift.
    assert set(RESOLVE_ACTIONS) == {a for actions in reconcile.ACTIONS.values() for a in actions}


def test_lines_of_one_order_merge_before_matching(tenant):
    """A doubled payment adds up; a failed attempt beside a success is the success."""
    runtime, day = tenant.runtime, tenant.day
    doubled, retried, late_fail = (pay(runtime, "collect", "40.00") for _ in range(3))
    settle(runtime, doubled, retried, late_fail)

    def line(number, status="succeeded"):
        return StatementLine(day, number, "R", "collect", D("40.00"), status, D("0.50"))

    run = reconcile.reconcile(
        runtime,
        day,
        "sandbox",
        lines=[
            line(doubled),
            line(retried, "failed"),
            line(late_fail),
            line(doubled),
            line(retried),
            line(late_fail, "failed"),
        ],
    )["sandbox"]

    assert (run.lines, run.matched, run.amount_mismatch, run.exceptions) == (6, 2, 1, 1)
    assert run.matched_total == D("80.00")
    [found] = queue(runtime, day).values()
    assert (found.kind, found.order_no, found.statement_amount, found.ledger_amount) == (
        "amount_mismatch",
        doubled,
        D("80.00"),
        D("40.00"),
    )
    assert found.detail == "channel moved 80.00, order is for 40.00"
