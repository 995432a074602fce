"""The fake gateway and the sandbox channel, over real HTTP on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from lendkit.settings import Settings
from lendkit.types import ChannelError, PaymentInstruction
from lendkit_channel_sandbox import plugin, signing, statement
from lendkit_channel_sandbox.channel import SandboxChannel
from lendkit_channel_sandbox.testing import free_port, wait_for

D = Decimal
CARD = "6222020200112233445"


@pytest.fixture
def channel(sandbox_gateway):
    config = sandbox_gateway.config
    return SandboxChannel(sandbox_gateway.url, config.merchant_id, config.secret, timeout=5)


def instruction(number, url, kind="disburse", amount="100.00", card=CARD):
    return PaymentInstruction(
        order_no=number,
        kind=kind,
        amount=D(amount),
        account_name="王五",
        card_number=card,
        callback_url=url,
    )


def test_unsigned_forged_and_replayed_requests_are_refused(sandbox_gateway):
    config = sandbox_gateway.config
    url = f"{sandbox_gateway.url}/v1/payments/ANYORDER1"
    headers = signing.signed_headers(
        config.merchant_id, config.secret, "GET", "/v1/payments/ANYORDER1"
    )

    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={**headers, signing.SIGNATURE: "00" * 32}).status_code == 401
    assert httpx.get(url, headers=headers).status_code == 404  # signed: the order is unknown
    replay = httpx.get(url, headers=headers)
    assert (replay.status_code, replay.json()["code"]) == (401, "BAD_SIGNATURE")
    stale = {**headers, signing.TIMESTAMP: "1000", signing.NONCE: "n" * 16}
    assert httpx.get(url, headers=stale).status_code == 401


def test_a_payout_is_accepted_then_called_back_signed_with_a_duplicate(channel, callback_recorder):
    ack = channel.disburse(instruction("D0001AAAA", callback_recorder.url))

    assert ack.accepted
    assert ack.channel_ref.startswith("SBX")
    wait_for(lambda: len(callback_recorder.received) >= 2)
    (first_headers, first), (_, second) = callback_recorder.received[:2]
    assert json.loads(first) == json.loads(second)  # the same result, on purpose
    result = channel.parse_callback(first_headers, first)
    assert (result.order_no, result.status, result.amount) == (
        "D0001AAAA",
        "succeeded",
        D("100.00"),
    )
    assert result.channel_ref == ack.channel_ref
    assert result.settled_on is not None
    assert channel.query("D0001AAAA").status == "succeeded"


def test_submitting_an_order_again_returns_the_first_answer_and_moves_nothing(
    channel, callback_recorder, sandbox_gateway
):
    first = channel.collect(instruction("C0002BBBB", callback_recorder.url, "collect", "12.30"))
    again = channel.collect(instruction("C0002BBBB", callback_recorder.url, "collect", "12.30"))
    other = channel.collect(instruction("C0002BBBB", callback_recorder.url, "collect", "99.99"))

    assert again == first
    assert (other.accepted, other.code) == (False, "DUPLICATE_ORDER_NO")
    assert len(sandbox_gateway.orders) == 1


@pytest.mark.parametrize(
    ("tail", "accepted", "status", "code"),
    [
        ("0051", True, "failed", "INSUFFICIENT_BALANCE"),
        ("0062", True, "failed", "CARD_FROZEN"),
        ("0014", False, "failed", "INVALID_CARD"),
        ("0099", True, "pending", ""),
    ],
)
def test_magic_cards_choose_the_outcome(channel, callback_recorder, tail, accepted, status, code):
    number = f"D0003{tail}"
    ack = channel.disburse(instruction(number, callback_recorder.url, card=CARD[:-4] + tail))

    assert ack.accepted is accepted
    if not accepted:
        assert ack.code == code
        assert channel.query(number).status == "failed"
        return
    if status == "pending":
        assert channel.query(number).status == "pending"
        return
    wait_for(lambda: callback_recorder.received)
    result = channel.parse_callback(*callback_recorder.received[0])
    assert (result.status, result.code) == (status, code)


def test_callbacks_are_retried_until_the_merchant_answers(callback_recorder):
    from lendkit_channel_sandbox.gateway import GatewayConfig, SandboxGateway

    callback_recorder.refuse = 2
    config = GatewayConfig(
        secret="s3cret-for-test",
        callback_delay=0.01,
        callback_retry_interval=0.05,
        duplicate_callbacks=0,
    )
    with SandboxGateway(config) as gateway:
        channel = SandboxChannel(gateway.url, config.merchant_id, config.secret)
        channel.disburse(instruction("D0004CCCC", callback_recorder.url))
        wait_for(lambda: len(gateway.callback_log) >= 3)
        assert [status for _, status in gateway.callback_log] == [500, 500, 200]


def test_a_callback_with_a_bad_signature_or_body_is_refused(channel, callback_recorder):
    channel.disburse(instruction("D0005DDDD", callback_recorder.url))
    wait_for(lambda: callback_recorder.received)
    headers, body = callback_recorder.received[0]

    with pytest.raises(ChannelError) as tampered:
        channel.parse_callback(headers, body.replace(b"100.00", b"900.00"))
    assert tampered.value.code == "bad_signature"
    with pytest.raises(ChannelError) as unsigned:
        channel.parse_callback({}, body)
    assert unsigned.value.code == "bad_signature"
    garbage = signing.signed_headers(
        headers[signing.MERCHANT], channel._secret, "POST", signing.NOTIFY_PATH, b"[]"
    )
    with pytest.raises(ChannelError) as malformed:
        channel.parse_callback(garbage, b"[]")
    assert malformed.value.code == "bad_format"


def test_the_daily_statement_lists_finished_orders_in_the_documented_layout(
    channel, callback_recorder, sandbox_gateway
):
    day = date(2026, 3, 1)
    sandbox_gateway.configure({"settle_date": day.isoformat()})
    channel.disburse(instruction("D0006EEEE", callback_recorder.url, amount="5000.00"))
    channel.collect(
        instruction("C0006FFFF", callback_recorder.url, "collect", "80.00", CARD[:-4] + "0062")
    )
    channel.collect(
        instruction("C0006GGGG", callback_recorder.url, "collect", "1.00", CARD[:-4] + "0099")
    )
    wait_for(lambda: sum(o.status != "PROCESSING" for o in sandbox_gateway.orders.values()) == 2)
    sandbox_gateway.add_faults(day, {"duplicate": ["D0006EEEE"]})

    text = sandbox_gateway.statement(day)
    lines = text.splitlines()
    assert lines[0] == ",".join(statement.COLUMNS)
    assert lines[-1] == "#TOTAL,3,2,10000.00"
    parsed = channel.statement(day)
    assert sorted((x.order_no, x.kind, x.amount, x.fee, x.status, x.code) for x in parsed) == [
        ("C0006FFFF", "collect", D("80.00"), D("0.00"), "failed", "CARD_FROZEN"),
        ("D0006EEEE", "disburse", D("5000.00"), D("1.00"), "succeeded", ""),
        ("D0006EEEE", "disburse", D("5000.00"), D("1.00"), "succeeded", ""),  # doubled on purpose
    ]
    assert channel.statement(day + timedelta(days=1)) is None  # not ready


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("#TOTAL,1,1,5.00", "#TOTAL,1,1,50.00"), "trailer"),
        (lambda t: t.rsplit("#TOTAL", 1)[0], "trailer line is missing"),
        (lambda t: t.replace(",5.00,", ",5.001,"), "amount in fen"),
        (lambda t: t.replace("PAYOUT", "REFUND"), "bad type"),
    ],
)
def test_a_statement_file_that_breaks_the_layout_is_refused(change, message):
    row = statement.StatementRow(
        date(2026, 3, 2), "D1", "SBX1", "PAYOUT", D("5.00"), D("1.00"), "SUCCESS", "", "x"
    )
    good = statement.render([row])
    assert statement.parse(good) == [row]
    with pytest.raises(statement.StatementFormatError, match=message):
        statement.parse(change(good))


def test_the_plugin_registers_the_sandbox_channel_with_its_options():
    settings = Settings(
        plugins={"options": {"channel-sandbox": {"url": "http://127.0.0.1:1", "secret": "x"}}}
    )
    [channel] = plugin.register_channels(settings=settings)
    assert channel.name == "sandbox"
    assert channel._base == "http://127.0.0.1:1"
    with pytest.raises(ChannelError) as down:
        channel.query("D1")
    assert down.value.code == "unavailable"


def test_the_gateway_runs_standalone():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lendkit_channel_sandbox.gateway", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in process.stdout.readline()
        response = httpx.get(f"http://127.0.0.1:{port}/sandbox/orders")
        assert response.json() == {"orders": []}
    finally:
        process.terminate()
        process.wait(timeout=10)
