"""Loan agreements on real databases: the PDF's contents, tenant templates, signing through
the sandbox e-sign vendor over loopback HTTP with signed callbacks, forged and repeated
callbacks, and the disbursement gate."""

from __future__ import annotations

import base64
import io
import json
import logging
import re
from datetime import date
from decimal import Decimal

import httpx
import pytest
from lendkit.audit import AuditEntry
from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.crypto.sm3 import sm3
from lendkit.errors import ConflictError
from lendkit.lifecycle import (
    booking,
    contract_signing,
    contracts,
    loans,
)
from lendkit.lifecycle.contract_models import Contract, ContractSignature
from lendkit.lifecycle.contract_status import history as signing_history
from lendkit.lifecycle.contract_status import require_signed
from lendkit.lifecycle.pricing import quote
from lendkit.masking import mask_id_number
from lendkit.models import Borrower, OutboxEvent
from lendkit.testing import free_port
from lendkit.types import SignatureResult, SignatureTicket
from lendkit_esign_sandbox import signing
from lendkit_esign_sandbox.plugin import Options
from lendkit_esign_sandbox.server import SandboxSigner
from lendkit_esign_sandbox.testing import quick_config, serve, vendor_options, wait_for
from pypdf import PdfReader
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from stdnum.cn import ric

D = Decimal
START = date(2026, 1, 15)
NAME = "张三丰"
# The PBOC announcement's example: 12.80 % simple, 13.58 % by IRR.
PBOC = dict(principal=D("100000"), term=12, annual_rate=D("0.108957"), upfront_fee=D("1000"))


def id_number(n: int) -> str:
    body = f"110101199003{n:05d}"
    return body + ric.calc_check_digit(body + "0")


def book(runtime, n: int, *, name: str | None = NAME, **changes) -> int:
    """A booked (signed-for, not yet disbursed) loan of a verified borrower; its id."""
    with runtime.sessions.begin() as session:
        person = Borrower(
            phone=f"137{n:08d}",
            name=name,
            id_number=id_number(n) if name else None,
            kyc_status="verified",
        )
        session.add(person)
        session.flush()
        values = dict(
            borrower_id=person.id,
            product_code="cash",
            method="equal-installment",
            **PBOC,
        )
        terms = booking.Terms(**(values | changes))
        return booking.book(
            session, runtime, terms, idempotency_key=f"L{n}", business_date=START
        ).id


def borrower_of(runtime, loan_id):
    with runtime.read_sessions() as session:
        return session.scalar(select(loans.Loan.borrower_id).where(loans.Loan.id == loan_id))


def prepared(runtime, loan_id) -> Contract:
    with runtime.sessions.begin() as session:
        contract = contracts.prepare(session, runtime, loan_id)
        session.expunge(contract)
        return contract


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def signatures(runtime, loan_id):
    with runtime.read_sessions() as session:
        return [
            (row.status, row.request_no, row.source) for row in signing_history(session, loan_id)
        ]


def events(runtime, topic):
    with runtime.read_sessions() as session:
        return session.scalars(select(OutboxEvent).where(OutboxEvent.topic == topic)).all()


def bilingual(detail: str) -> None:
    assert re.search(r"[\u4e00-\u9fff]", detail), detail
    assert re.search(r"[A-Za-z]{4,}", detail), detail


# -- The document ---------------------------------------------------------------------


def test_the_agreement_shows_parties_terms_the_whole_schedule_and_both_rates(runtime):
    loan_id = book(runtime, 1)
    contract = prepared(runtime, loan_id)
    pdf = contract.pdf_bytes
    words = pdf_text(pdf)
    offer = quote(
        PBOC["principal"],
        12,
        PBOC["annual_rate"],
        "equal-installment",
        start=START,
        upfront_fee=PBOC["upfront_fee"],
    )

    assert pdf.startswith(b"%PDF-")
    assert contract.sm3 == sm3(pdf).hex()
    assert contract.size == len(pdf)
    for heading in ("借款合同", "Loan Agreement", "合同当事人", "Parties", "还款计划", "Repayment"):
        assert heading in words
    assert "演示小贷" in words
    assert "Demo Microfinance Co." in words
    assert NAME in words
    assert mask_id_number(id_number(1)) in words
    assert id_number(1) not in words  # never the whole ID number
    assert "100,000.00" in words
    assert "99,000.00" in words
    assert "10.8957%" in words
    # The PBOC example, both ways, as the pricing module computes them.
    assert (str(offer.rate.apr_irr), str(offer.rate.apr_simple)) == ("0.1358", "0.1280")
    assert "13.58%" in words
    assert "12.80%" in words
    # Every row of the schedule, to the fen.
    lines = words.splitlines()
    for row in offer.schedule.rows:
        cells = [
            row.due_date.isoformat(),
            f"{row.principal:,.2f}",
            f"{row.interest:,.2f}",
            f"{row.payment:,.2f}",
        ]
        assert all(cell in words for cell in cells), cells
    assert f"{offer.schedule.total_interest:,.2f}" in words
    assert sum(line.count("8,833.30") for line in lines) >= 11
    assert contract.number == f"DEMO-20260115-{loan_id:08d}"
    assert (contract.template_origin, contract.template_version) == ("kit", "2026.12-1")


def test_the_agreement_shows_the_schedule_as_booked_with_the_products_conventions(runtime):
    """A fixed due day, a 365-day count and due dates moved off holidays: the
    agreement lists the rows the loan was booked with, not plain monthly ones."""
    loan_id = book(runtime, 7, repayment_day=20, day_count=365, shift_holidays=True)
    words = pdf_text(prepared(runtime, loan_id).pdf_bytes)
    with runtime.read_sessions() as session:
        booked = booking.schedule_of(session.get(loans.Loan, loan_id), START)
    # 20 February 2026 falls in the Spring Festival holiday: the first due date moves.
    assert booked.rows[0].due_date > date(2026, 2, 20)
    assert booked.first_period_days == 36
    for row in booked.rows:
        cells = [row.due_date.isoformat(), f"{row.interest:,.2f}", f"{row.payment:,.2f}"]
        assert all(cell in words for cell in cells), cells


def test_the_pdf_is_encrypted_at_rest_and_preparing_twice_changes_nothing(runtime):
    loan_id = book(runtime, 2)
    first = prepared(runtime, loan_id)
    again = prepared(runtime, loan_id)

    assert (again.id, again.sm3) == (first.id, first.sm3)
    with runtime.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT pdf FROM contract WHERE id = :id"), {"id": first.id}
        ).scalar_one()
    assert b"%PDF" not in bytes(stored)
    assert base64.b64encode(first.pdf_bytes)[:40] not in bytes(stored)
    assert len(events(runtime, "loan.contract_prepared")) == 1
    with runtime.read_sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.object == f"loan:{loan_id}")
        ).all()
    assert actions.count("contract.prepared") == 1


def test_no_agreement_for_a_borrower_without_a_real_name(runtime):
    loan_id = book(runtime, 3, name=None)
    with pytest.raises(ConflictError) as caught, runtime.sessions.begin() as session:
        contracts.prepare(session, runtime, loan_id)
    assert caught.value.code == "contract_party_incomplete"
    bilingual(caught.value.detail)


class Collect(logging.Handler):
    """What reaches the root logger, i.e. the tenant's log files."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(f"{record.name}: {record.getMessage()}")


def test_a_tenant_template_overrides_the_kit(make_tenant):
    config = make_tenant()
    folder = config.parent / "templates" / "contracts"
    folder.mkdir(parents=True)
    (folder / "loan_agreement.html").write_text(
        "{# lendkit-template-version: acme-7 #}"
        "<html><body style='font-family: STSong-Light'>"
        "<h1>阿克米小贷借款合同 ACME agreement</h1>"
        "<p>{{ contract_no }} {{ borrower.name }} APR {{ apr_irr }} / {{ apr_simple }}</p>"
        "{% for row in schedule %}<p>{{ row.period }} {{ row.payment }}</p>{% endfor %}"
        # A font without Chinese glyphs: xhtml2pdf complains, quoting the name.
        "<p style='font-family: Helvetica'>{{ borrower.name }}</p>"
        "</body></html>",
        encoding="utf-8",
    )
    from lendkit.runtime import open_runtime

    runtime = open_runtime()
    runtime.upgrade()
    logs = Collect()
    logging.getLogger().addHandler(logs)
    try:
        loan_id = book(runtime, 4)
        contract = prepared(runtime, loan_id)
    finally:
        logging.getLogger().removeHandler(logs)
        runtime.close()

    words = pdf_text(contract.pdf_bytes)
    assert "阿克米小贷借款合同" in words
    assert "ACME agreement" in words
    assert "APR 13.58% / 12.80%" in words
    assert "11 8,833.30" in words
    assert "12 8,833.32" in words
    assert (contract.template_origin, contract.template_version) == ("tenant", "acme-7")
    source = (folder / "loan_agreement.html").read_bytes()
    assert contract.template_sm3 == sm3(source).hex()
    # Only a count reaches the logs, never the document's text (which names the borrower).
    assert any("rendered with warnings" in message for message in logs.messages)
    assert not any(NAME[0] in message for message in logs.messages)


# -- The disbursement gate --------------------------------------------------------------


def test_an_unsigned_agreement_cannot_be_disbursed(runtime):
    loan_id = book(runtime, 5)
    for step in ("no contract", "prepared"):
        with pytest.raises(ConflictError) as caught, runtime.read_sessions() as session:
            require_signed(session, loan_id)
        assert caught.value.code == "contract_not_signed", step
        assert caught.value.status == 409
        bilingual(caught.value.detail)
        prepared(runtime, loan_id)


def signed_copy(pdf: bytes) -> bytes:
    """What a vendor's incremental signature looks like: the original, then more."""
    return pdf + b"\n% signature\n%%EOF\n"


def open_request(runtime, loan_id) -> str:
    """Record a signing attempt as if the vendor had accepted it; its request number."""
    with runtime.sessions.begin() as session:
        request = contract_signing._open_request(session, runtime, loan_id, None, "test")
    with runtime.sessions.begin() as session:
        contract = contract_signing._locked_contract(session, request.contract_id)
        ticket = SignatureTicket(vendor="acme-sign", reference="R1", sandbox=False)
        contract_signing._record_ticket(session, contract, request.request_no, ticket, "", "test")
    return request.request_no


def test_a_completed_signature_with_its_digest_opens_the_gate(runtime):
    loan_id = book(runtime, 6)
    request_no = open_request(runtime, loan_id)
    pdf = prepared(runtime, loan_id).pdf_bytes
    result = SignatureResult(
        request_no=request_no,
        vendor="acme-sign",
        reference="R1",
        status="signed",
        signed_pdf=signed_copy(pdf),
    )
    with runtime.sessions.begin() as session:
        assert contract_signing.apply_signature_result(session, result) == "applied"
    with runtime.sessions.begin() as session:
        assert contract_signing.apply_signature_result(session, result) == "duplicate"

    with runtime.read_sessions() as session:
        record = require_signed(session, loan_id)
        assert record.signed_sm3 == sm3(signed_copy(pdf)).hex()
    assert [s for s, _, _ in signatures(runtime, loan_id)] == ["requested", "pending", "signed"]
    assert len(events(runtime, "loan.contract_signed")) == 1


def test_a_signed_pdf_that_is_not_the_agreement_never_counts(runtime):
    loan_id = book(runtime, 7)
    request_no = open_request(runtime, loan_id)
    pdf = prepared(runtime, loan_id).pdf_bytes
    tampered = pdf.replace(b"%PDF-", b"%PDF-", 1)[:-50] + b"altered terms\n%%EOF\n"
    for forged in (tampered, pdf, b""):
        result = SignatureResult(
            request_no=request_no,
            vendor="acme-sign",
            reference="R1",
            status="signed",
            signed_pdf=forged,
        )
        with runtime.sessions.begin() as session:
            contract_signing.apply_signature_result(session, result)

    history = signatures(runtime, loan_id)
    assert [s for s, _, _ in history] == ["requested", "pending", "failed"]
    with runtime.read_sessions() as session:
        assert signing_history(session, loan_id)[-1].reason == "document_altered"
        with pytest.raises(ConflictError):
            require_signed(session, loan_id)


def test_the_history_is_append_only_and_the_terms_never_change(runtime):
    loan_id = book(runtime, 8)
    open_request(runtime, loan_id)
    for statement in (
        "UPDATE contract_signature SET status = 'signed'",
        "DELETE FROM contract_signature",
        "UPDATE contract SET sm3 = 'ab'",
    ):
        with pytest.raises(DBAPIError), runtime.engine.begin() as connection:
            connection.execute(text(statement))
    with runtime.engine.begin() as connection:  # the status may move on
        connection.execute(text("UPDATE contract SET status = 'signing'"))


# -- Signing through the sandbox vendor, over HTTP ------------------------------------------


@pytest.fixture
def vendor():
    with SandboxSigner(quick_config()) as signer:
        yield signer


@pytest.fixture
def app(make_tenant, vendor):
    """A tenant with esign-sandbox enabled, served where its callbacks point."""
    port = free_port()
    make_tenant(
        plugins=["esign-sandbox"],
        options={"esign-sandbox": vendor_options(vendor)},
        payments={"callback_base_url": f"http://127.0.0.1:{port}"},
    )
    from lendkit.runtime import open_runtime

    runtime = open_runtime()
    runtime.upgrade()
    try:
        with serve(runtime, port) as url:
            yield runtime, url
    finally:
        runtime.close()


def contract_status(url, headers, loan_id):
    response = httpx.get(f"{url}/api/borrowers/me/loans/{loan_id}/contract", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_sandbox_vendor_signs_over_http_and_duplicate_callbacks_are_harmless(app, vendor):
    runtime, url = app
    loan_id = book(runtime, 11)
    me = borrower_headers(runtime, borrower_of(runtime, loan_id))
    base = f"{url}/api/borrowers/me/loans/{loan_id}/contract"

    assert httpx.get(f"{base}.pdf", headers=me).json()["code"] == "contract_not_prepared"
    created = httpx.post(f"{base}/prepare", headers=me)
    assert created.status_code == 201, created.text
    assert httpx.post(f"{base}/prepare", headers=me).status_code == 200
    original = httpx.get(f"{base}.pdf", headers=me)
    assert original.headers["content-type"] == "application/pdf"
    assert original.headers["x-content-sm3"] == sm3(original.content).hex()
    with pytest.raises(ConflictError), runtime.read_sessions() as session:
        require_signed(session, loan_id)

    started = httpx.post(f"{base}/sign", headers=me)
    assert started.status_code == 202, started.text
    assert started.json()["stand_in"] is True
    assert started.json()["sign_url"].startswith(vendor.url)
    done = wait_for(lambda: contract_status(url, me, loan_id)["status"] == "signed")
    assert done
    request_no = started.json()["history"][0]["request_no"]
    # The vendor called back twice (one duplicate on purpose); both answered 200.
    wait_for(lambda: len([s for n, s in vendor.callback_log if n == request_no]) >= 2)
    assert {s for n, s in vendor.callback_log if n == request_no} == {200}

    signed = httpx.get(f"{base}.pdf", headers=me)
    view = contract_status(url, me, loan_id)
    assert signed.content.startswith(original.content)
    assert len(signed.content) > len(original.content)
    assert view["signed_sm3"] == sm3(signed.content).hex() == signed.headers["x-content-sm3"]
    assert view["stand_in"] is True
    assert "not legally valid" in view["notice"]
    stamp = PdfReader(io.BytesIO(signed.content)).pages[-1].extract_text()
    assert "不具法律效力" in stamp
    assert "NOT LEGALLY VALID" in stamp
    assert [s for s, _, _ in signatures(runtime, loan_id)] == ["requested", "pending", "signed"]
    assert len(events(runtime, "loan.contract_signed")) == 1
    with runtime.read_sessions() as session:
        assert require_signed(session, loan_id).vendor == "esign-sandbox"
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "contract.signed")
        ).all()
    assert [(a.actor, a.details["signed_sm3"]) for a in audited] == [
        ("esign:esign-sandbox", view["signed_sm3"])
    ]

    # Asking again, or the vendor calling back once more, changes nothing.
    again = httpx.post(f"{base}/sign", headers=me)
    assert again.status_code == 200
    assert again.json()["status"] == "signed"
    vendor.notify(request_no)
    wait_for(lambda: len([s for n, s in vendor.callback_log if n == request_no]) >= 4)
    assert len(signatures(runtime, loan_id)) == 3
    assert len(events(runtime, "loan.contract_signed")) == 1

    staff = httpx.get(
        f"{url}/api/loans/{loan_id}/contract", headers=staff_headers(runtime, "finance")
    )
    assert staff.status_code == 200
    assert "sign_url" not in staff.json()
    assert [h["status"] for h in staff.json()["history"]] == ["requested", "pending", "signed"]


def callback(url, body: bytes, secret: str, merchant: str, vendor_name="esign-sandbox"):
    headers = signing.signed_headers(merchant, secret, "POST", signing.NOTIFY_PATH, body)
    return httpx.post(
        f"{url}/api/contracts/esign/{vendor_name}/callback",
        content=body,
        headers={**headers, "Content-Type": "application/json"},
    )


def test_forged_and_unreadable_callbacks_are_refused_and_change_nothing(app, vendor):
    runtime, url = app
    vendor.configure({"auto_sign": False})
    loan_id = book(runtime, 12)
    me = borrower_headers(runtime, borrower_of(runtime, loan_id))
    started = httpx.post(f"{url}/api/borrowers/me/loans/{loan_id}/contract/sign", headers=me)
    assert started.status_code == 202, started.text
    request_no = started.json()["history"][-1]["request_no"]
    pdf = prepared(runtime, loan_id).pdf_bytes
    forged_pdf = signed_copy(pdf)
    body = json.dumps(
        {
            "merchant_request_no": request_no,
            "sign_ref": "ESBFORGED",
            "status": "SIGNED",
            "document": base64.b64encode(forged_pdf).decode(),
            "document_sm3": sm3(forged_pdf).hex(),
        }
    ).encode()
    merchant, secret = vendor.config.merchant_id, vendor.config.secret

    refused = callback(url, body, "not-the-secret", merchant)
    assert (refused.status_code, refused.json()["code"]) == (401, "callback_rejected")
    bilingual(refused.json()["detail"])
    unsigned = httpx.post(f"{url}/api/contracts/esign/esign-sandbox/callback", content=body)
    assert (unsigned.status_code, unsigned.json()["code"]) == (401, "callback_rejected")
    garbled = callback(url, b"{not json", secret, merchant)
    assert (garbled.status_code, garbled.json()["code"]) == (400, "callback_malformed")
    stranger = callback(url, body, secret, merchant, vendor_name="no-such-vendor")
    assert (stranger.status_code, stranger.json()["code"]) == (404, "unknown_esign_vendor")
    unknown = json.loads(body) | {"merchant_request_no": "NOPE-S01"}
    missing = callback(url, json.dumps(unknown).encode(), secret, merchant)
    assert (missing.status_code, missing.json()["code"]) == (404, "unknown_signature_request")

    assert [s for s, _, _ in signatures(runtime, loan_id)] == ["requested", "pending"]
    assert contract_status(url, me, loan_id)["status"] == "signing"
    with pytest.raises(ConflictError), runtime.read_sessions() as session:
        require_signed(session, loan_id)


def test_a_declined_signature_lets_the_borrower_sign_again(app, vendor):
    runtime, url = app
    vendor.configure({"auto_sign": False})
    loan_id = book(runtime, 13)
    me = borrower_headers(runtime, borrower_of(runtime, loan_id))
    sign = f"{url}/api/borrowers/me/loans/{loan_id}/contract/sign"

    first = httpx.post(sign, headers=me).json()["history"][-1]["request_no"]
    assert httpx.post(sign, headers=me).status_code == 202  # asked twice: one signing
    assert list(vendor.signings) == [first]
    vendor.complete(first, "FAILED", "SIGNER_DECLINED")
    wait_for(lambda: contract_status(url, me, loan_id)["status"] == "failed")
    assert len(events(runtime, "loan.contract_signature_failed")) == 1

    second = httpx.post(sign, headers=me).json()["history"][-1]["request_no"]
    assert first != second
    vendor.complete(second, "SIGNED")
    wait_for(lambda: contract_status(url, me, loan_id)["status"] == "signed")
    vendor.notify(first)  # the old attempt's failure, once more: nothing changes
    wait_for(lambda: len([s for n, s in vendor.callback_log if n == first]) >= 4)
    assert [(s, n) for s, n, _ in signatures(runtime, loan_id)] == [
        ("requested", first),
        ("pending", first),
        ("failed", first),
        ("requested", second),
        ("pending", second),
        ("signed", second),
    ]
    with runtime.read_sessions() as session:
        assert require_signed(session, loan_id).request_no == second


def test_a_vendor_that_is_down_is_503_and_the_attempt_waits_for_it(app, vendor, monkeypatch):
    runtime, url = app
    loan_id = book(runtime, 14)
    me = borrower_headers(runtime, borrower_of(runtime, loan_id))
    sign = f"{url}/api/borrowers/me/loans/{loan_id}/contract/sign"
    options = runtime.settings.plugins.options  # what the plugin reads on every call
    options["esign-sandbox"] = Options(url=f"http://127.0.0.1:{free_port()}")

    down = httpx.post(sign, headers=me)
    assert (down.status_code, down.json()["code"]) == (503, "esign_unavailable")
    bilingual(down.json()["detail"])
    history = signatures(runtime, loan_id)
    assert [s for s, _, _ in history] == ["requested"]

    options["esign-sandbox"] = Options(**vendor_options(vendor))
    assert httpx.post(sign, headers=me).status_code == 202
    wait_for(lambda: contract_status(url, me, loan_id)["status"] == "signed")
    # The same attempt, asked again: one request number throughout.
    assert {n for _, n, _ in signatures(runtime, loan_id)} == {history[0][1]}
    assert list(vendor.signings) == [history[0][1]]


def test_a_borrower_reaches_only_his_own_agreement(app):
    runtime, url = app
    mine, theirs = book(runtime, 15), book(runtime, 16)
    me = borrower_headers(runtime, borrower_of(runtime, mine))
    prepared(runtime, theirs)
    for method, path in (
        ("GET", "contract"),
        ("GET", "contract.pdf"),
        ("POST", "contract/prepare"),
        ("POST", "contract/sign"),
    ):
        response = httpx.request(
            method, f"{url}/api/borrowers/me/loans/{theirs}/{path}", headers=me
        )
        assert (response.status_code, response.json()["code"]) == (404, "unknown_loan"), path
    with runtime.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(ContractSignature)) == 0


def test_with_no_vendor_configured_the_plugin_signs_inside_the_app(app, monkeypatch):
    """The demo's set-up: nothing to run besides the app."""
    runtime, url = app
    runtime.settings.plugins.options["esign-sandbox"] = Options()  # no url
    loan_id = book(runtime, 17)
    me = borrower_headers(runtime, borrower_of(runtime, loan_id))

    started = httpx.post(f"{url}/api/borrowers/me/loans/{loan_id}/contract/sign", headers=me)
    assert started.status_code == 202, started.text
    wait_for(lambda: contract_status(url, me, loan_id)["status"] == "signed")
    with runtime.read_sessions() as session:
        assert require_signed(session, loan_id).sandbox


def test_key_rotation_re_encrypts_the_agreements_and_keeps_their_digests(runtime):
    from lendkit.crypto import rotation

    loan_id = book(runtime, 18)
    request_no = open_request(runtime, loan_id)
    pdf = prepared(runtime, loan_id).pdf_bytes
    result = SignatureResult(
        request_no=request_no,
        vendor="acme-sign",
        reference="R1",
        status="signed",
        signed_pdf=signed_copy(pdf),
    )
    with runtime.sessions.begin() as session:
        contract_signing.apply_signature_result(session, result)

    rotated = rotation.rotate(runtime)

    assert rotated.rows >= 1
    after = prepared(runtime, loan_id)
    assert after.pdf_bytes == pdf
    assert after.signed_pdf_bytes == signed_copy(pdf)
    with runtime.read_sessions() as session:
        assert require_signed(session, loan_id).signed_sm3 == sm3(signed_copy(pdf)).hex()
