"""The vendor kit (lendkit.vendorkit): signatures, replay protection, callbacks, loopback.

Vectors are the vendors' own self-check values (docs VENDORS.md) or the
standard's; servers are real HTTP on loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gmssl import func, sm3
from lendkit.testing import free_port, wait_for
from lendkit.vendorkit.callbacks import json_object, verify_callback
from lendkit.vendorkit.errors import (
    MalformedCallback,
    MissingSignature,
    ReplayedNonce,
    SignatureError,
    SignatureMismatch,
    StaleTimestamp,
    UnknownMerchant,
)
from lendkit.vendorkit.fake import (
    FakeConfig,
    FakeVendor,
    FakeVendorHandler,
    parse_command_line,
    post,
    quick_config,
)
from lendkit.vendorkit.headers import HeaderNames, HeaderScheme, Message, request_lines
from lendkit.vendorkit.loopback import JsonHandler, LoopbackServer
from lendkit.vendorkit.nonces import NonceCache, check_timestamp, now_ms
from lendkit.vendorkit.recorder import Recorder
from lendkit.vendorkit.scheduler import Scheduler
from lendkit.vendorkit.signing import (
    b64,
    canonical,
    constant_time_equal,
    hmac_sha256,
    hmac_sm3,
    rsa_sha256_sign,
    rsa_sha256_verify,
    sha256_hex,
    sm3_hex,
    sorted_pairs,
)

SCHEME = HeaderScheme(HeaderNames.prefixed("X-Acme-"), request_lines(sm3_hex), mac=hmac_sm3)
SECRET = "acme-secret"
BODY = b'{"order":"A0001","amount":"12.30"}'


def signed(body: bytes = BODY, **overrides: str) -> dict[str, str]:
    return SCHEME.headers("ACME-1", SECRET, "POST", "/v1/orders", body, **overrides)


def verify(headers: dict[str, str], body: bytes = BODY, **options: Any) -> None:
    SCHEME.verify(SECRET, headers, "POST", "/v1/orders", body, merchant="ACME-1", **options)


# -- signing primitives ------------------------------------------------------------


def test_sm3_is_the_standards_and_gmssls():
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3_hex(BODY) == sm3.sm3_hash(func.bytes_to_list(BODY))


def test_hmac_sm3_agrees_with_hmac_built_on_gmssls_sm3():
    key, message = b"k" * 20, b"string to sign"
    block = key.ljust(64, b"\0")
    inner = bytes.fromhex(
        sm3.sm3_hash(func.bytes_to_list(bytes(b ^ 0x36 for b in block) + message))
    )
    outer = sm3.sm3_hash(func.bytes_to_list(bytes(b ^ 0x5C for b in block) + inner))
    assert hmac_sm3(key, message).hex() == outer


def test_hmac_sha256_gives_the_esign_callback_self_check_vector():
    body = '{"action":"SIGN_FLOW_COMPLETE","signFlowId":"abc","signFlowStatus":"2"}'
    mac = hmac_sha256("test-secret", "1729489875363" + "pinjie001" + body)
    assert mac.hex() == "894ca62fa74bfadfcc62065c9b15b14d98bb9a514d50ea09d863edfdaec4ba84"


def test_sorted_pairs_and_two_step_hmac_give_the_fasc_token_vector():
    headers = {
        "X-FASC-App-Id": "00000000",
        "X-FASC-Sign-Type": "HMAC-SHA256",
        "X-FASC-Timestamp": "1757570000000",
        "X-FASC-Nonce": "a" * 32,
        "X-FASC-Api-SubVersion": "5.1",
        "X-FASC-Grant-Type": "client_credential",
        "X-FASC-AccessToken": "",  # blank: left out
    }
    key = hmac_sha256("dummysecret", "1757570000000")
    sign = hmac_sha256(key, sha256_hex(sorted_pairs(headers).encode())).hex()
    assert sign == "8515a7229226082f550f76103f1ab90c70f4cd7773b1af5d2cff4d79b43e9de1"
    assert sorted_pairs({"b": "2", "a": "", "C": "3"}, skip_blank=False) == "C=3&a=&b=2"


def test_canonical_keeps_a_separator_for_every_empty_part():
    assert canonical("GET", "", "", "/x") == b"GET\n\n\n/x"
    assert canonical("a", "b", sep="&") == b"a&b"
    assert b64(b"\xff\x00") == "/wA="


def test_rsa_sha256_signs_and_refuses_another_message_or_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = rsa_sha256_sign(pem, b"message")

    assert signature == rsa_sha256_sign(key, b"message")  # PKCS #1 v1.5 is deterministic
    assert rsa_sha256_verify(public, b"message", signature)
    assert rsa_sha256_verify(key.public_key(), b"message", signature)
    assert not rsa_sha256_verify(public, b"messagE", signature)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    assert not rsa_sha256_verify(other, b"message", signature)


def test_constant_time_equal_compares_text_and_bytes():
    assert constant_time_equal("abc", b"abc")
    assert not constant_time_equal("abc", "abd")
    assert not constant_time_equal("签名", "签")


# -- the four-header scheme -----------------------------------------------------------


def test_a_signed_request_verifies_and_the_string_to_sign_is_the_documented_one():
    headers = signed(timestamp="1700000000000", nonce="n" * 16)

    verify(headers, now=1700000000000)
    message = Message("post", "/v1/orders", "1700000000000", "n" * 16, BODY)
    expected = f"POST\n/v1/orders\n1700000000000\n{'n' * 16}\n{sm3_hex(BODY)}".encode()
    assert request_lines(sm3_hex)(message) == expected
    assert headers["X-Acme-Signature"] == hmac_sm3(SECRET, expected).hex()
    assert set(headers) == {
        "X-Acme-Merchant",
        "X-Acme-Timestamp",
        "X-Acme-Nonce",
        "X-Acme-Signature",
    }


def test_header_names_are_matched_without_regard_to_case():
    verify({key.upper(): value for key, value in signed().items()})


def test_a_replayed_nonce_is_refused_once_the_signature_checks():
    nonces = NonceCache()
    headers = signed()
    verify(headers, nonces=nonces)

    with pytest.raises(ReplayedNonce, match="nonce already used") as replay:
        verify(headers, nonces=nonces)
    assert (replay.value.code, replay.value.reason) == ("bad_signature", "replayed_nonce")
    fresh = signed()
    with pytest.raises(SignatureMismatch):
        verify({**fresh, "X-Acme-Signature": "00" * 32}, nonces=nonces)
    verify(fresh, nonces=nonces)  # the forgery burned no nonce


def test_a_stale_or_future_timestamp_is_refused():
    headers = signed(timestamp=str(now_ms() - 301_000))
    with pytest.raises(StaleTimestamp, match="timestamp too far from now"):
        verify(headers)
    with pytest.raises(StaleTimestamp):
        verify(signed(timestamp="1700000400001"), now=1700000100000)
    verify(signed(timestamp="1700000400000"), now=1700000100000)  # the window's edge
    with pytest.raises(MissingSignature):
        check_timestamp("17e11", window=300)
    assert check_timestamp("1700000000", window=60, now=1700000030, unit=1) == 1700000000


def test_a_byte_changed_anywhere_is_a_signature_mismatch():
    headers = signed()
    for body in (BODY.replace(b"12.30", b"92.30"), BODY + b" ", BODY[:-1]):
        with pytest.raises(SignatureMismatch, match="signature does not match"):
            verify(headers, body)
    flipped = headers["X-Acme-Signature"]
    flipped = flipped[:-1] + ("0" if flipped[-1] != "0" else "1")
    with pytest.raises(SignatureMismatch):
        verify({**headers, "X-Acme-Signature": flipped})
    with pytest.raises(SignatureMismatch):
        SCHEME.verify("other-secret", headers, "POST", "/v1/orders", BODY)
    with pytest.raises(SignatureMismatch):
        SCHEME.verify(SECRET, headers, "POST", "/v1/orders?x=1", BODY)


def test_missing_headers_and_a_foreign_merchant_are_refused_by_name():
    headers = signed()
    with pytest.raises(UnknownMerchant):
        verify({**headers, "X-Acme-Merchant": "OTHER"})
    for name in ("X-Acme-Timestamp", "X-Acme-Nonce", "X-Acme-Signature"):
        with pytest.raises(MissingSignature, match="missing signature headers"):
            verify({k: v for k, v in headers.items() if k != name})
    with pytest.raises(MissingSignature):
        verify(signed(nonce="short"))


def test_a_base64_scheme_compares_exactly():
    scheme = HeaderScheme(
        HeaderNames.prefixed("X-B-", merchant="App-Id", signature="Sign"),
        request_lines(sha256_hex),
        hex_signature=False,
    )
    headers = scheme.headers("APP", SECRET, "GET", "/x")
    assert set(headers) == {"X-B-App-Id", "X-B-Timestamp", "X-B-Nonce", "X-B-Sign"}
    scheme.verify(SECRET, headers, "GET", "/x", b"", merchant="APP")
    with pytest.raises(SignatureMismatch):
        scheme.verify(
            SECRET, {**headers, "X-B-Sign": headers["X-B-Sign"].swapcase()}, "GET", "/x", b""
        )


def test_the_nonce_cache_forgets_after_its_lifetime_and_stays_bounded():
    now = [0.0]
    cache = NonceCache(ttl=600, capacity=3, clock=lambda: now[0])
    assert cache.use("a")
    assert not cache.use("a")
    now[0] = 599.0
    assert not cache.use("a")
    now[0] = 600.0
    assert cache.use("a")  # expired: a new use
    for nonce in "bcde":
        cache.use(nonce)
    now[0] = 1300.0
    cache.use("f")  # over capacity: the expired entries go
    assert len(cache) == 1


# -- callbacks --------------------------------------------------------------------------


def test_a_callback_is_read_only_after_its_signature_checks():
    check = SCHEME.checker(SECRET, "POST", "NOTIFY", merchant="ACME-1")
    good = SCHEME.headers("ACME-1", SECRET, "POST", "NOTIFY", BODY)

    assert verify_callback(good, BODY, check) == json.loads(BODY)
    with pytest.raises(SignatureError) as forged:
        verify_callback(good, b"not json at all", check)  # the signature fails first
    assert forged.value.code == "bad_signature"
    garbage = SCHEME.headers("ACME-1", SECRET, "POST", "NOTIFY", b"[1]")
    with pytest.raises(MalformedCallback, match="not a JSON object") as malformed:
        verify_callback(garbage, b"[1]", check)
    assert malformed.value.code == "bad_format"
    with pytest.raises(MalformedCallback, match="not JSON"):
        json_object(b"\xff")


# -- loopback servers -------------------------------------------------------------------


class Hello(JsonHandler):
    def do_GET(self) -> None:
        self.send(200, {"path": self.path, "你好": "世界"})

    def do_POST(self) -> None:
        self.send(201, self.body().decode()[::-1])


def test_a_loopback_server_serves_on_a_free_port_and_stops():
    server = LoopbackServer(Hello)
    with server:
        assert server.running
        assert server.port != 0
        assert server.url == f"http://127.0.0.1:{server.port}"
        answer = httpx.get(server.url + "/hi")
        assert (answer.status_code, answer.json()) == (200, {"path": "/hi", "你好": "世界"})
        posted = httpx.post(server.url, content=b"abc")
        assert (posted.status_code, posted.text) == (201, "cba")
        assert posted.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/hi")
    server.stop()  # twice: nothing happens


def test_a_recorder_keeps_what_arrives_and_refuses_on_demand():
    with Recorder(refuse_first=1) as recorder:
        first = httpx.post(recorder.url + "/notify", content=b"one", headers={"X-A": "1"})
        second = httpx.post(recorder.url, content=b"two")
        assert (first.status_code, second.status_code) == (500, 200)
        assert [body for _, body in recorder.received] == [b"one", b"two"]
        assert recorder.received[0][0]["X-A"] == "1"


def test_the_scheduler_runs_due_jobs_in_order_and_survives_a_failing_one():
    done: list[str] = []
    jobs = Scheduler()
    try:
        jobs.later(0, lambda: done.append("a"))
        jobs.later(0, lambda: 1 / 0)
        jobs.later(0, lambda: done.append("b"))
        wait_for(lambda: len(done) == 2)
    finally:
        jobs.stop()
    assert done == ["a", "b"]


# -- a fake vendor built on the kit ---------------------------------------------------


@dataclass
class AcmeConfig(FakeConfig):
    secret: str = "acme-default-secret"
    greeting: str = "hello"

    def change(self, key: str, value: Any) -> None:
        if key == "greeting":
            self.greeting = str(value)
        else:
            super().change(key, value)


@dataclass
class Order:
    no: str
    notify_url: str
    status: str = "PROCESSING"

    def public(self) -> dict[str, Any]:
        return {"no": self.no, "status": self.status}


class AcmeHandler(FakeVendorHandler):
    vendor: ClassVar[FakeAcme]

    def do_GET(self) -> None:
        if self.signed(b""):
            self.send(*self.vendor.answer(self.vendor.orders, self.path[1:], {"code": "NONE"}))

    def do_POST(self) -> None:
        body = self.body()
        if self.signed(body):
            order = Order(**json.loads(body))
            with self.vendor.lock:
                self.vendor.orders[order.no] = order
            self.vendor.later(0, lambda: self.vendor.finish(self.vendor.orders, order.no, done))
            self.send(200, {"code": "ACCEPTED"})


def done(order: Order) -> None:
    order.status = "DONE"


class FakeAcme(FakeVendor[AcmeConfig]):
    handler = AcmeHandler
    scheme = SCHEME
    callback_path = "NOTIFY"

    def __init__(self, config: AcmeConfig) -> None:
        super().__init__(config)
        self.orders: dict[str, Order] = {}

    def callback_for(self, key: str) -> tuple[str, dict[str, Any]]:
        return self.orders[key].notify_url, self.orders[key].public()


def test_a_fake_vendor_refuses_replays_and_calls_back_signed_retried_and_duplicated():
    config = quick_config(AcmeConfig, merchant_id="ACME-1", callback_retry_interval=0.05)
    with Recorder(refuse_first=1) as merchant, FakeAcme(config) as acme:
        body = json.dumps({"no": "A1", "notify_url": merchant.url}).encode()
        headers = SCHEME.headers("ACME-1", config.secret, "POST", "/orders", body)
        assert httpx.post(acme.url + "/orders", content=body, headers=headers).status_code == 200
        replay = httpx.post(acme.url + "/orders", content=body, headers=headers)
        assert (replay.status_code, replay.json()["code"]) == (401, "BAD_SIGNATURE")
        assert replay.json()["message"] == "nonce already used"

        wait_for(lambda: len(acme.callback_log) >= 3)
        assert acme.callback_log == [("A1", 500), ("A1", 200), ("A1", 200)]  # one duplicate
        check = SCHEME.checker(config.secret, "POST", "NOTIFY", merchant="ACME-1")
        for received_headers, received in merchant.received:
            assert verify_callback(received_headers, received, check) == {
                "no": "A1",
                "status": "DONE",
            }
        query = SCHEME.headers("ACME-1", config.secret, "GET", "/A1")
        assert httpx.get(acme.url + "/A1", headers=query).json()["status"] == "DONE"
        missing = SCHEME.headers("ACME-1", config.secret, "GET", "/B2")
        assert httpx.get(acme.url + "/B2", headers=missing).status_code == 404
        assert acme.finish(acme.orders, "A1", done) is None  # final already

    assert acme.configure({"greeting": "hi", "callback_delay": "2"}) == {
        "callback_delay": 2.0,
        "duplicate_callbacks": 1,
    }
    assert config.greeting == "hi"
    with pytest.raises(ValueError, match="unknown setting"):
        acme.configure({"colour": "red"})


def test_a_fake_vendor_that_is_not_serving_runs_its_jobs_inline():
    ran: list[int] = []
    FakeAcme(AcmeConfig()).later(5, lambda: ran.append(1))
    assert ran == [1]


def test_a_callback_to_nowhere_counts_as_unanswered():
    acme = FakeAcme(quick_config(AcmeConfig, callback_attempts=2))
    acme.orders["A1"] = Order("A1", f"http://127.0.0.1:{free_port()}/nowhere")  # none listens
    acme.notify("A1")
    assert acme.callback_log == [("A1", 0), ("A1", 0)]


def test_the_command_line_fills_a_vendors_configuration():
    config, host, port = parse_command_line(
        ["--port", "9001", "--merchant", "M1", "--callback-delay", "0.1"],
        AcmeConfig(greeting="kept"),
        description="Acme",
        port=8000,
    )
    assert (host, port) == ("127.0.0.1", 9001)
    assert (config.merchant_id, config.callback_delay, config.greeting) == ("M1", 0.1, "kept")
    assert config.secret == "acme-default-secret"


def test_importing_the_kit_loads_no_database_or_web_framework():
    code = (
        "import sys, lendkit.vendorkit.fake, lendkit.vendorkit.callbacks, "
        "lendkit.vendorkit.recorder\n"
        "heavy = {'sqlalchemy', 'alembic', 'litestar', 'pydantic', 'click', 'httpx'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_the_callback_post_refuses_a_url_that_is_not_http():
    with pytest.raises(ValueError, match="http"):
        post("file:///etc/passwd", b"", {}, timeout=1)
