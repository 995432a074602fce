"""Payment orders against the real loopback sandbox gateway: state machines,
idempotency, time-outs, repeated and late callbacks, personal data."""

from __future__ import annotations

import itertools
import json
import logging
import threading
import uuid
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from lendkit.audit import AuditEntry
from lendkit.clearing import channels, funding, ledger, payments
from lendkit.clearing.colending import Funder
from lendkit.clearing.ledger import JournalEntry, Line
from lendkit.clearing.payments import Payee, PaymentOrder, PaymentOrderEvent
from lendkit.db import utcnow
from lendkit.errors import ConflictError, ValidationFailed
from lendkit.models import OutboxEvent
from lendkit.types import ChannelError, ChannelResult, PaymentInstruction
from lendkit_channel_sandbox import signing
from lendkit_channel_sandbox.testing import wait_for
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

D = Decimal
NAME = "张三丰"
_loans = itertools.count(1000)


def card(tail="3445"):
    return "62220202001122" + tail


def new_loan():
    return next(_loans)


def fund(runtime, amount="1000000.00", source="own"):
    with runtime.sessions.begin() as session:
        ledger.post(
            session,
            business_date=payments.business_today(),
            idempotency_key=f"capital:{uuid.uuid4()}",
            cause=f"funding:{source}",
            lines=[
                Line.debit(f"fund_pool:{source}", D(amount)),
                Line.credit(f"funding_capital:{source}", D(amount)),
            ],
        )


@pytest.fixture
def tenant(sandbox_tenant):
    fund(sandbox_tenant.runtime)
    return sandbox_tenant


def disburse(runtime, amount="5000.00", tail="3445", *, key=None, loan=None, funders=None):
    with runtime.sessions.begin() as session:
        order = payments.request_disbursement(
            session,
            runtime,
            idempotency_key=key or f"disburse:{uuid.uuid4()}",
            loan_id=loan or new_loan(),
            amount=D(amount),
            channel="sandbox",
            payee=Payee(NAME, card(tail)),
            funders=funders,
        )
        return order.order_no, order.status, order.failure_code


def collect(runtime, amount="812.40", tail="3445", *, key=None, loan=None):
    with runtime.sessions.begin() as session:
        order = payments.request_collection(
            session,
            runtime,
            idempotency_key=key or f"collect:{uuid.uuid4()}",
            loan_id=loan or new_loan(),
            amount=D(amount),
            channel="sandbox",
            payee=Payee(NAME, card(tail)),
        )
        return order.order_no


def order(runtime, order_no):
    with runtime.sessions() as session:
        return payments.order_by_no(session, order_no)


def steps(runtime, order_no):
    with runtime.sessions() as session:
        found = payments.order_by_no(session, order_no)
        return [(e.from_status, e.to_status, e.code) for e in payments.history(session, found)]


def settled(runtime, order_no):
    return wait_for(
        lambda: order(runtime, order_no).status in payments.FINAL and order(runtime, order_no)
    )


def entries(runtime, order_no):
    with runtime.sessions() as session:
        return session.scalars(
            select(JournalEntry.idempotency_key)
            .where(JournalEntry.cause == f"payment:{order_no}")
            .order_by(JournalEntry.id)
        ).all()


def balance(runtime, code):
    with runtime.sessions() as session:
        return ledger.balance(session, code)


def events(runtime, order_no):
    with runtime.sessions() as session:
        rows = session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        return [(e.topic, e.payload) for e in rows if e.payload.get("order_no") == order_no]


def balanced(runtime):
    with runtime.sessions() as session:
        return ledger.trial_balance(session).balanced


def callbacks(gateway, order_no):
    return [status for number, status in gateway.callback_log if number == order_no]


# -- Disbursement -------------------------------------------------------------------


def test_a_disbursement_reserves_then_is_sent_after_commit_and_confirmed_by_callback(tenant):
    runtime, gateway = tenant.runtime, tenant.gateway
    pool, transit = (
        balance(runtime, "fund_pool:own"),
        balance(runtime, "channel_in_transit:sandbox"),
    )

    number, status, _ = disburse(runtime, "5000.00")

    assert status == "reserved"
    assert balance(runtime, "fund_pool:own") == pool - D("5000.00")
    assert balance(runtime, "channel_in_transit:sandbox") == transit + D("5000.00")
    assert number not in gateway.orders  # nothing leaves before the worker runs
    assert payments.instruct_due(runtime) >= 1
    done = settled(runtime, number)
    assert done.status == "confirmed"
    assert (done.channel_ref or "").startswith("SBX")
    assert [to for _, to, _ in steps(runtime, number)] == [
        "created",
        "reserved",
        "in_transit",
        "confirmed",
    ]
    assert entries(runtime, number) == [f"payment:{number}:reserve", f"payment:{number}:confirm"]
    assert balance(runtime, "channel_in_transit:sandbox") == transit
    # The gateway calls back twice on purpose; the second changes nothing.
    wait_for(lambda: len(callbacks(gateway, number)) >= 2)
    assert callbacks(gateway, number)[:2] == [200, 200]
    assert entries(runtime, number) == [f"payment:{number}:reserve", f"payment:{number}:confirm"]
    assert [topic for topic, _ in events(runtime, number)] == ["payment.disbursed"]
    assert balanced(runtime)
    with runtime.sessions() as session:
        audited = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object == f"payment:{number}")
            .order_by(AuditEntry.id)
        ).all()
    assert audited == ["payment.reserved", "payment.confirmed"]  # money movement is audited


def test_a_retry_with_the_same_key_returns_the_first_order_and_other_terms_conflict(tenant):
    runtime = tenant.runtime
    loan = new_loan()
    first = disburse(runtime, "300.00", key="loan-x-disbursement", loan=loan)
    again = disburse(runtime, "300.00", key="loan-x-disbursement", loan=loan)

    assert again == first
    with pytest.raises(ConflictError) as refused:
        disburse(runtime, "300.01", key="loan-x-disbursement", loan=loan)
    assert refused.value.code == "idempotency_key_reused"
    assert entries(runtime, first[0]) == [f"payment:{first[0]}:reserve"]


@pytest.mark.parametrize(
    ("amount", "code"), [("0.00", "invalid_amount"), ("10.001", "invalid_amount")]
)
def test_amounts_must_be_positive_whole_fen(tenant, amount, code):
    with pytest.raises(ValidationFailed) as refused:
        disburse(tenant.runtime, amount)
    assert refused.value.code == code


def test_an_unknown_channel_is_refused(tenant):
    runtime = tenant.runtime
    with pytest.raises(ValidationFailed) as refused, runtime.sessions.begin() as session:
        payments.request_collection(
            session,
            runtime,
            idempotency_key=str(uuid.uuid4()),
            loan_id=new_loan(),
            amount=D("1.00"),
            channel="nowhere",
            payee=Payee(NAME, card()),
        )
    assert refused.value.code == "invalid_channel"


def test_a_collection_carries_its_purpose_and_a_key_keeps_it(tenant):
    runtime = tenant.runtime
    key, loan = f"collect:{uuid.uuid4()}", new_loan()
    common = {
        "idempotency_key": key,
        "loan_id": loan,
        "amount": D("300.00"),
        "channel": "sandbox",
        "payee": Payee(NAME, card()),
    }
    with runtime.sessions.begin() as session:
        first = payments.request_collection(
            session, runtime, **common, purpose="part_prepayment", reamortize="shorten"
        )
        assert (first.purpose, first.reamortize) == ("part_prepayment", "shorten")
    for purpose, reamortize, code in (
        ("repayment", None, "idempotency_key_reused"),  # the same key, another intent
        ("part_prepayment", None, "purpose_invalid"),
        ("repayment", "reduce", "purpose_invalid"),
        ("disbursement", None, "purpose_invalid"),
    ):
        with (
            pytest.raises((ConflictError, ValidationFailed)) as refused,
            runtime.sessions.begin() as session,
        ):
            payments.request_collection(
                session, runtime, **common, purpose=purpose, reamortize=reamortize
            )
        assert refused.value.code == code


def test_co_lending_reserves_each_funders_share_and_enforces_the_minimum_own_share(tenant):
    runtime = tenant.runtime
    with runtime.sessions.begin() as session:
        funding.add_source(session, "bank_a", "甲银行 Bank A", penalty="share", fees="own")
    fund(runtime, "100000.00", source="bank_a")
    own, partner = balance(runtime, "fund_pool:own"), balance(runtime, "fund_pool:bank_a")

    with pytest.raises(ValidationFailed, match="at least 30%") as refused:
        disburse(runtime, "1000.00", funders=[Funder("own", D("0.2")), Funder("bank_a", D("0.8"))])
    assert refused.value.code == "invalid_funding"
    loan = new_loan()
    number, _, _ = disburse(
        runtime,
        "1000.01",
        loan=loan,
        funders=[Funder("own", D("0.3")), Funder("bank_a", D("0.7"))],
    )

    assert balance(runtime, "fund_pool:own") == own - D("300.00")
    assert balance(runtime, "fund_pool:bank_a") == partner - D("700.01")
    payments.instruct_due(runtime)
    assert settled(runtime, number).status == "confirmed"
    with runtime.sessions() as session:
        parts = dict(
            session.execute(
                select(ledger.JournalLine.source, ledger.JournalLine.amount)
                .join(ledger.Account)
                .where(ledger.JournalLine.loan_id == loan, ledger.Account.code == "loan_principal")
            ).all()
        )
        assert parts == {"own": D("300.00"), "bank_a": D("700.01")}
        assert funding.agreement_of(session, loan).fees == "own"
    with pytest.raises(ConflictError):
        disburse(runtime, "10.00", loan=loan, funders=[Funder("own", D(1))])


def test_a_pool_that_cannot_cover_its_part_fails_the_order_and_nothing_is_sent(tenant):
    runtime, gateway = tenant.runtime, tenant.gateway
    with runtime.sessions.begin() as session:
        funding.add_source(session, "bank_dry", "乙银行 (no funds)")

    number, status, code = disburse(
        runtime, "100.00", funders=[Funder("own", D("0.5")), Funder("bank_dry", D("0.5"))]
    )

    assert (status, code) == ("failed", "insufficient_funds")
    assert entries(runtime, number) == []
    payments.instruct_due(runtime)
    assert number not in gateway.orders
    assert [topic for topic, _ in events(runtime, number)] == ["payment.failed"]


@pytest.mark.parametrize(("tail", "code"), [("0062", "CARD_FROZEN"), ("0014", "INVALID_CARD")])
def test_a_failed_disbursement_gives_the_reservation_back(tenant, tail, code):
    """0062: fails by callback; 0014: refused at submission."""
    runtime = tenant.runtime
    pool = balance(runtime, "fund_pool:own")
    number, _, _ = disburse(runtime, "700.00", tail)

    payments.instruct_due(runtime)
    done = settled(runtime, number)

    assert (done.status, done.failure_code) == ("failed", code)
    assert balance(runtime, "fund_pool:own") == pool
    with runtime.sessions() as session:
        reserve = session.get(JournalEntry, done.reserve_entry_id)
        assert session.scalar(select(JournalEntry).where(JournalEntry.reverses_id == reserve.id))
    assert [topic for topic, _ in events(runtime, number)] == ["payment.failed"]
    assert balanced(runtime)


def test_an_unreachable_channel_keeps_the_order_reserved_and_retries(tenant):
    runtime = tenant.runtime
    channel = channels.channel_of(runtime, "sandbox")
    number, _, _ = disburse(runtime, "42.00")
    real = channel._base
    channel._base = "http://127.0.0.1:9"  # discard port: nothing listens
    try:
        payments.instruct_due(runtime)
    finally:
        channel._base = real
    waiting = order(runtime, number)
    assert (waiting.status, waiting.attempts) == ("reserved", 1)
    assert waiting.next_attempt_at > utcnow()

    payments.instruct_due(runtime)  # not due yet
    assert order(runtime, number).attempts == 1
    payments.instruct_due(runtime, now=utcnow() + timedelta(minutes=10))
    assert settled(runtime, number).status == "confirmed"


def _unreachable(runtime):
    """Every instruction and query to the sandbox fails until the context ends."""

    class Down:
        def __enter__(self):
            self.channel = channels.channel_of(runtime, "sandbox")
            self.real = self.channel._base
            self.channel._base = "http://127.0.0.1:9"  # discard port: nothing listens
            return self

        def __exit__(self, *_):
            self.channel._base = self.real

    return Down()


def _send_until_the_cap(runtime, number):
    """Run the instruct job, always past the back-off, until the order was sent
    ``max_instruct_attempts`` times; returns the time of the last run."""
    cap = runtime.settings.payments.max_instruct_attempts
    now = utcnow()
    while order(runtime, number).attempts < cap:
        now += timedelta(minutes=10)
        payments.instruct_due(runtime, now=now)
    return now


def test_an_order_the_channel_never_acknowledged_and_does_not_know_fails_after_the_cap(tenant):
    runtime, gateway = tenant.runtime, tenant.gateway
    number, _, _ = disburse(runtime, "77.00")
    cap = runtime.settings.payments.max_instruct_attempts
    assert cap == 10  # the default

    with _unreachable(runtime):
        last = _send_until_the_cap(runtime, number)
    assert order(runtime, number).status == "reserved"  # sent 10 times, never answered
    payments.instruct_due(runtime, now=last + timedelta(minutes=10))

    done = order(runtime, number)
    assert (done.status, done.failure_code, done.attempts) == ("failed", "not_acknowledged", cap)
    assert number not in gateway.orders  # never sent again: the query answered 404
    assert steps(runtime, number)[-1] == ("reserved", "failed", "not_acknowledged")
    assert entries(runtime, number) == [
        f"payment:{number}:reserve",
        f"reversal:{done.reserve_entry_id}",
    ]
    with runtime.sessions() as session:  # the reservation given back (other orders may move)
        reversal = session.scalar(
            select(JournalEntry).where(JournalEntry.reverses_id == done.reserve_entry_id)
        )
        assert [(line.account.code, line.amount) for line in reversal.lines] == [
            ("channel_in_transit:sandbox", D("-77.00")),
            ("fund_pool:own", D("77.00")),
        ]
    assert [topic for topic, _ in events(runtime, number)] == ["payment.failed"]
    payments.instruct_due(runtime, now=last + timedelta(hours=1))
    assert order(runtime, number).status == "failed"
    assert balanced(runtime)


def test_an_unacknowledged_order_stays_waiting_while_the_query_fails_too(tenant):
    runtime = tenant.runtime
    number, _, _ = disburse(runtime, "78.00")
    with _unreachable(runtime):
        last = _send_until_the_cap(runtime, number)
        for minutes in (10, 20):  # queried twice, both fail: one note, no failure
            payments.instruct_due(runtime, now=last + timedelta(minutes=minutes))
    waiting = order(runtime, number)
    assert (waiting.status, waiting.attempts) == ("reserved", 10)
    assert [s for s in steps(runtime, number) if s[2] == "query_failed"] == [
        ("reserved", "reserved", "query_failed")
    ]

    payments.instruct_due(runtime, now=last + timedelta(minutes=30))  # reachable again
    assert (order(runtime, number).status, order(runtime, number).failure_code) == (
        "failed",
        "not_acknowledged",
    )


@pytest.mark.parametrize("finished", [False, True])
def test_an_unacknowledged_order_the_channel_knows_takes_the_channels_word(
    tenant, monkeypatch, finished
):
    """The instruction arrived, the acknowledgements were lost: the query finds it."""
    runtime, gateway = tenant.runtime, tenant.gateway
    channel = channels.channel_of(runtime, "sandbox")
    real = channel.disburse

    def lost_answer(instruction):
        real(instruction)
        raise ChannelError("unavailable", "read timed out")

    number, _, _ = disburse(runtime, "79.00", "0099")  # the gateway keeps it PROCESSING
    monkeypatch.setattr(channel, "disburse", lost_answer)
    last = _send_until_the_cap(runtime, number)
    monkeypatch.undo()
    assert order(runtime, number).status == "reserved"
    if finished:
        gateway.complete(number, "SUCCESS", notify=False)

    payments.instruct_due(runtime, now=last + timedelta(minutes=10))

    if finished:
        assert order(runtime, number).status == "confirmed"
        assert entries(runtime, number) == [
            f"payment:{number}:reserve",
            f"payment:{number}:confirm",
        ]
    else:
        assert order(runtime, number).status == "in_transit"
        gateway.complete(number, "SUCCESS", notify=False)
        payments.query_overdue(runtime, now=utcnow() + timedelta(minutes=31))
        assert order(runtime, number).status == "confirmed"
    assert steps(runtime, number)[-1][:2] == ("in_transit", "confirmed")
    assert len([n for n in gateway.orders if n == number]) == 1
    assert balanced(runtime)


# -- Time-outs, late and repeated results ------------------------------------------------


def test_an_order_in_transit_too_long_is_queried_and_a_late_callback_changes_nothing(tenant):
    runtime, gateway = tenant.runtime, tenant.gateway
    number, _, _ = disburse(runtime, "900.00", "0099")  # the gateway keeps it PROCESSING
    payments.instruct_due(runtime)
    assert order(runtime, number).status == "in_transit"
    later = utcnow() + timedelta(minutes=31)

    assert payments.query_overdue(runtime) == 0  # not overdue yet
    assert payments.query_overdue(runtime, now=later) >= 1
    assert order(runtime, number).status == "in_transit"  # still processing there

    gateway.complete(number, "SUCCESS", notify=False)
    payments.query_overdue(runtime, now=later + timedelta(minutes=31))
    assert order(runtime, number).status == "confirmed"
    assert steps(runtime, number)[-1] == ("in_transit", "confirmed", "")
    with runtime.sessions() as session:
        assert session.scalars(
            select(PaymentOrderEvent.source)
            .where(PaymentOrderEvent.to_status == "confirmed")
            .join(PaymentOrder)
            .where(PaymentOrder.order_no == number)
        ).all() == ["query"]

    gateway.notify(number)  # the callback, late: after the time-out settled it
    wait_for(lambda: len(callbacks(gateway, number)) >= 2)
    assert callbacks(gateway, number)[:2] == [200, 200]
    assert entries(runtime, number) == [f"payment:{number}:reserve", f"payment:{number}:confirm"]
    assert balanced(runtime)


def test_the_same_result_applied_concurrently_posts_once(tenant):
    runtime = tenant.runtime
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is PostgreSQL's job; SQLite serializes writers")
    number, _, _ = disburse(runtime, "65.00", "0099")
    payments.instruct_due(runtime)
    result = ChannelResult(order_no=number, status="succeeded", amount=D("65.00"))
    outcomes, errors = [], []

    def apply():
        try:
            with runtime.sessions.begin() as session:
                outcomes.append(
                    payments.apply_result(session, "sandbox", result, source="callback")
                )
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=apply) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * 7
    assert entries(runtime, number) == [f"payment:{number}:reserve", f"payment:{number}:confirm"]


def test_a_result_contradicting_a_final_order_is_recorded_for_reconciliation_not_posted(tenant):
    runtime, gateway = tenant.runtime, tenant.gateway
    number, _, _ = disburse(runtime, "120.00")
    payments.instruct_due(runtime)
    assert settled(runtime, number).status == "confirmed"
    body = json.dumps(
        {"merchant_order_no": number, "status": "FAIL", "amount": "120.00", "error_code": "X"}
    ).encode()
    headers = signing.signed_headers(
        gateway.config.merchant_id, gateway.config.secret, "POST", signing.NOTIFY_PATH, body
    )

    for _ in range(2):
        response = httpx.post(
            f"{tenant.app_url}/api/channels/sandbox/callback", content=body, headers=headers
        )
        assert response.status_code == 200
        assert response.json()["outcome"] == "conflict"
        headers = signing.signed_headers(
            gateway.config.merchant_id, gateway.config.secret, "POST", signing.NOTIFY_PATH, body
        )

    assert order(runtime, number).status == "confirmed"
    assert [s for s in steps(runtime, number) if s[2] == "conflicting_result"] == [
        ("confirmed", "confirmed", "conflicting_result")
    ]
    assert entries(runtime, number) == [f"payment:{number}:reserve", f"payment:{number}:confirm"]


# -- Collection -------------------------------------------------------------------------


def test_a_collection_posts_to_suspense_when_confirmed_and_announces_it(tenant):
    runtime = tenant.runtime
    suspense = balance(runtime, "borrower_suspense")
    loan = new_loan()
    number = collect(runtime, "812.40", loan=loan)
    assert order(runtime, number).status == "created"
    assert entries(runtime, number) == []

    payments.instruct_due(runtime)
    assert settled(runtime, number).status == "confirmed"

    assert entries(runtime, number) == [f"payment:{number}:receive"]
    assert balance(runtime, "borrower_suspense") == suspense - D("812.40")
    [(topic, payload)] = events(runtime, number)
    assert topic == "payment.collected"
    assert payload["loan_id"] == loan
    assert payload["amount"] == "812.40"


def test_a_failed_collection_posts_nothing(tenant):
    runtime = tenant.runtime
    number = collect(runtime, "99.00", "0051")
    payments.instruct_due(runtime)
    done = settled(runtime, number)
    assert (done.status, done.failure_code) == ("failed", "INSUFFICIENT_BALANCE")
    assert entries(runtime, number) == []


# -- The callback route -------------------------------------------------------------------


def test_callbacks_that_do_not_verify_or_name_nothing_get_clear_errors(tenant):
    gateway, url = tenant.gateway, f"{tenant.app_url}/api/channels/sandbox/callback"
    body = json.dumps({"merchant_order_no": "D00000000NOPE", "status": "SUCCESS"}).encode()
    good = signing.signed_headers(
        gateway.config.merchant_id, gateway.config.secret, "POST", signing.NOTIFY_PATH, body
    )
    forged = signing.signed_headers(gateway.config.merchant_id, "wrong", "POST", "NOTIFY", body)
    garbage = signing.signed_headers(
        gateway.config.merchant_id, gateway.config.secret, "POST", "NOTIFY", b"not json"
    )

    cases = [
        (httpx.post(url, content=body), 401, "callback_rejected"),
        (httpx.post(url, content=body, headers=forged), 401, "callback_rejected"),
        (httpx.post(url, content=b"not json", headers=garbage), 400, "callback_malformed"),
        (httpx.post(url, content=body, headers=good), 404, "unknown_order"),
        (
            httpx.post(f"{tenant.app_url}/api/channels/nowhere/callback", content=body),
            404,
            "unknown_channel",
        ),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code)


# -- Personal data and history --------------------------------------------------------------


def test_personal_data_stays_in_the_instruction_and_encrypted_at_rest(tenant, caplog):
    runtime = tenant.runtime
    caplog.set_level(logging.DEBUG)
    instruction = PaymentInstruction(
        order_no="D1",
        kind="disburse",
        amount=D("1.00"),
        account_name=NAME,
        card_number=card(),
        callback_url="http://x",
    )
    assert NAME not in repr(instruction)
    assert card() not in repr(instruction)

    number, _, _ = disburse(runtime, "10.00")
    channel = channels.channel_of(runtime, "sandbox")
    real = channel._base
    channel._base = "http://127.0.0.1:9"
    try:
        payments.instruct_due(runtime)  # fails: the error is logged
    finally:
        channel._base = real
    payments.instruct_due(runtime, now=utcnow() + timedelta(minutes=10))
    settled(runtime, number)

    logged = caplog.text + " ".join(str(vars(r)) for r in caplog.records)
    assert card() not in logged
    assert NAME not in logged
    assert all(
        card() not in json.dumps(p) and NAME not in json.dumps(p, ensure_ascii=False)
        for _, p in events(runtime, number)
    )
    with runtime.sessions() as session:
        raw = session.execute(
            text("SELECT payee_name, payee_card FROM payment_order WHERE order_no = :n"),
            {"n": number},
        ).one()
        assert card().encode() not in bytes(raw.payee_card)
        assert NAME.encode() not in bytes(raw.payee_name)
    kept = repr([vars(o) for o in tenant.gateway.orders.values()])
    assert card() not in kept
    assert NAME not in kept


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE payment_order_event SET note = 'x'", "append-only"),
        ("DELETE FROM payment_order_event", "append-only"),
        ("UPDATE payment_order SET amount = amount + 1", "never change"),
        ("UPDATE payment_order SET loan_id = 1", "never change"),
    ],
)
def test_the_database_refuses_to_change_an_orders_history_or_terms(tenant, statement, refusal):
    disburse(tenant.runtime, "1.00")
    with pytest.raises(DBAPIError, match=refusal), tenant.runtime.sessions.begin() as session:
        session.execute(text(statement))
    with tenant.runtime.sessions.begin() as session:  # its state may move on
        session.execute(text("UPDATE payment_order SET attempts = attempts WHERE id = 1"))


def test_every_order_has_a_history_row_for_each_status_it_took(tenant):
    """Orders and histories read in one snapshot: callbacks may still be arriving."""
    runtime = tenant.runtime
    disburse(runtime, "2.00")
    collect(runtime, "3.00")
    payments.instruct_due(runtime)
    with runtime.engine.connect() as connection:
        if runtime.engine.dialect.name == "postgresql":
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
        with runtime.sessions(bind=connection) as session:
            for found in session.scalars(select(PaymentOrder)):
                rows = payments.history(session, found)
                assert rows[0].to_status == "created"
                moves = [r for r in rows if r.from_status != r.to_status]
                assert moves[-1].to_status == found.status
            assert session.scalar(select(func.count()).select_from(PaymentOrder)) > 0
