"""The sandbox e-sign vendor and the plugin's hooks, over real HTTP on loopback."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from lendkit.settings import Settings
from lendkit.testing import check_plugin
from lendkit.types import (
    ContractSigner,
    ContractToSign,
    SignatureCallbackRejected,
)
from lendkit_esign_sandbox import plugin, signing
from lendkit_esign_sandbox.server import SandboxSigner, stamp
from lendkit_esign_sandbox.testing import quick_config, vendor_settings, wait_for
from pypdf import PdfReader
from reportlab.pdfgen import canvas

ID_NUMBER = "11010119900307123X"


def a_pdf(text: str = "Loan agreement 42") -> bytes:
    out = io.BytesIO()
    sheet = canvas.Canvas(out)
    sheet.drawString(72, 720, text)
    sheet.showPage()
    sheet.save()
    return out.getvalue()


@pytest.fixture
def vendor():
    with SandboxSigner(quick_config()) as signer:
        yield signer


def contract(merchant, request_no="DEMO-20260115-00000042-S01", pdf=None) -> ContractToSign:
    pdf = pdf or a_pdf()
    return ContractToSign(
        request_no=request_no,
        contract_no="DEMO-20260115-00000042",
        loan_id=42,
        title="借款合同 Loan Agreement DEMO-20260115-00000042",
        pdf=pdf,
        sm3=signing.sm3_hex(pdf),
        signer=ContractSigner(
            borrower_id=7, name="张三丰", id_number=ID_NUMBER, phone="13812345678"
        ),
        callback_base_url=merchant.url,
    )


def test_it_passes_the_conformance_check(database_url):
    assert check_plugin("esign-sandbox", database_url=database_url) == []


def test_the_stamp_is_an_incremental_update_marked_not_legally_valid():
    original = a_pdf()
    signed = stamp(
        original,
        title="Contract 42",
        signer="张* (1101**********123X)",
        sign_ref="ESB1",
        signed_at="2026-01-15T10:00:00+08:00",
    )

    assert signed.startswith(original)
    assert len(signed) > len(original)
    pages = PdfReader(io.BytesIO(signed)).pages
    assert len(pages) == 2
    assert "Loan agreement 42" in pages[0].extract_text()
    words = pages[1].extract_text()
    for expected in ("不具法律效力", "NOT LEGALLY VALID", "ESB1", signing.sm3_hex(original)):
        assert expected in words


def test_the_vendor_signs_and_calls_back_signed_twice_and_retries(vendor, callback_recorder):
    callback_recorder.refuse = 1  # the first delivery fails: the vendor retries
    agreement = contract(callback_recorder)
    ticket = plugin.sign_contract(contract=agreement, settings=vendor_settings(vendor))

    assert (ticket.vendor, ticket.status, ticket.sandbox) == ("esign-sandbox", "pending", True)
    assert ticket.sign_url == f"{vendor.url}/sign/{ticket.reference}"
    assert "NOT LEGALLY VALID" in httpx.get(ticket.sign_url).text
    # The vendor logs a delivery once answered, after the merchant recorded it: waiting
    # on the log, all three deliveries are in both.
    wait_for(lambda: len(vendor.callback_log) >= 3, timeout=10)
    assert [status for _, status in vendor.callback_log][:3] == [500, 200, 200]
    headers, _body = callback_recorder.received[-1]
    assert headers["Content-Type"] == "application/json"
    # Every delivery is signed by the vendor and reads as the same result.
    results = [
        plugin.parse_signature_callback(
            vendor="esign-sandbox",
            headers={k.lower(): v for k, v in h.items()},
            body=b,
            settings=vendor_settings(vendor),
        )
        for h, b in callback_recorder.received
    ]
    assert {(r.request_no, r.status, r.reference, r.sandbox) for r in results} == {
        ("DEMO-20260115-00000042-S01", "signed", ticket.reference, True)
    }
    signed = results[0].signed_pdf
    assert signed.startswith(agreement.pdf)
    assert len(signed) > len(agreement.pdf)
    # The vendor was given only the masked name and ID number.
    stamped = PdfReader(io.BytesIO(signed)).pages[-1].extract_text()
    assert "张*" in stamped
    assert "1101**********123X" in stamped
    assert ID_NUMBER not in stamped


def test_the_vendor_is_idempotent_by_request_number(vendor, callback_recorder):
    vendor.configure({"auto_sign": False})
    pdf = a_pdf()
    first = plugin.sign_contract(
        contract=contract(callback_recorder, pdf=pdf), settings=vendor_settings(vendor)
    )
    again = plugin.sign_contract(
        contract=contract(callback_recorder, pdf=pdf), settings=vendor_settings(vendor)
    )
    assert again.reference == first.reference
    assert list(vendor.signings) == ["DEMO-20260115-00000042-S01"]
    with pytest.raises(RuntimeError, match="409"):
        plugin.sign_contract(
            contract=contract(callback_recorder, pdf=a_pdf("other")),
            settings=vendor_settings(vendor),
        )


def test_the_merchant_api_refuses_unsigned_and_wrong_requests(vendor, callback_recorder):
    payload = {
        "merchant_request_no": "REQ-000001",
        "document": base64.b64encode(a_pdf()).decode(),
        "document_sm3": "00" * 32,
        "notify_url": f"{callback_recorder.url}/cb",
    }
    unsigned = httpx.post(f"{vendor.url}/v1/signings", json=payload)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "BAD_SIGNATURE")
    body = json.dumps(payload).encode()
    headers = signing.signed_headers("TEST-MERCHANT", "wrong", "POST", "/v1/signings", body)
    assert httpx.post(f"{vendor.url}/v1/signings", content=body, headers=headers).status_code == 401
    good = signing.signed_headers(
        vendor.config.merchant_id, vendor.config.secret, "POST", "/v1/signings", body
    )
    mismatch = httpx.post(f"{vendor.url}/v1/signings", content=body, headers=good)
    assert (mismatch.status_code, mismatch.json()["code"]) == (400, "DIGEST_MISMATCH")
    replay = httpx.post(f"{vendor.url}/v1/signings", content=body, headers=good)
    assert replay.status_code == 401  # the nonce was used


def test_a_forged_or_foreign_callback_is_refused(vendor, callback_recorder):
    body = json.dumps({"merchant_request_no": "X-000001", "status": "SIGNED"}).encode()
    forged = signing.signed_headers("TEST-MERCHANT", "guessed", "POST", signing.NOTIFY_PATH, body)
    with pytest.raises(SignatureCallbackRejected) as caught:
        plugin.parse_signature_callback(
            vendor="esign-sandbox", headers=forged, body=body, settings=vendor_settings(vendor)
        )
    assert caught.value.code == "bad_signature"
    assert (
        plugin.parse_signature_callback(
            vendor="another-vendor", headers=forged, body=body, settings=vendor_settings(vendor)
        )
        is None
    )
    good = signing.signed_headers(
        vendor.config.merchant_id, vendor.config.secret, "POST", signing.NOTIFY_PATH, b"[1]"
    )
    with pytest.raises(SignatureCallbackRejected) as caught:
        plugin.parse_signature_callback(
            vendor="esign-sandbox", headers=good, body=b"[1]", settings=vendor_settings(vendor)
        )
    assert caught.value.code == "bad_format"


def test_without_a_configured_vendor_the_plugin_starts_its_own(monkeypatch, callback_recorder):
    where = plugin.endpoint(Settings())
    assert where.url.startswith("http://127.0.0.1:")
    assert plugin.endpoint(Settings()) == where
    ticket = plugin.sign_contract(contract=contract(callback_recorder), settings=Settings())
    wait_for(lambda: callback_recorder.received, timeout=10)
    headers, body = callback_recorder.received[0]
    result = plugin.parse_signature_callback(
        vendor="esign-sandbox",
        headers={k.lower(): v for k, v in headers.items()},
        body=body,
        settings=Settings(),
    )
    assert (result.reference, result.status) == (ticket.reference, "signed")
