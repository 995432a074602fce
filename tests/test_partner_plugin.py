"""Acceptance: tried as a partner would, from the docs alone and importing only the
public API, a test plugin (``tests/partner_plugin``) can send an application with
three phone numbers on one device to review, using the device data the app sent;
post a 1 % referral rebate on disbursement to the referrer's own payable account,
balanced; add a console menu entry and a borrower page. Over HTTP, on SQLite and
PostgreSQL, with every vendor a loopback sandbox."""

from __future__ import annotations

import importlib
import os
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from lendkit import outbox
from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.clearing import ledger as journal
from lendkit.clearing import payments
from lendkit.clearing.ledger import Line
from lendkit.testing import SAMPLE_PRODUCTS, add_borrower, check_plugin
from lendkit.types import Event
from lendkit_channel_sandbox.testing import sandbox_tenant_on, wait_for
from sqlalchemy import select

SRC = Path(__file__).parent / "partner_plugin" / "src"
PLUGINS = ("identity-sandbox", "bureau-sandbox", "channel-sandbox", "esign-sandbox", "partner")
DEVICE = "dev-7f3a9c21e0b4"
APPLICATION = {
    "product_code": "consumer-12",
    "amount": "12000.00",
    "term": 12,
    "method": "equal-installment",
    "annual_income": "300000.00",
}


@pytest.fixture
def partner_installed(tmp_path, monkeypatch):
    """The plugin installed as a distribution: a dist-info with its entry point."""
    site = tmp_path / "site"
    info = site / "lendkit_partner-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lendkit-partner\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lendkit]\npartner = lendkit_partner.plugin\n")
    monkeypatch.syspath_prepend(str(SRC))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), str(SRC)]))  # the CLI too
    importlib.invalidate_caches()
    yield
    importlib.invalidate_caches()


@pytest.fixture
def plugin(partner_installed):
    return importlib.import_module("lendkit_partner.plugin")


def test_the_partner_plugin_imports_only_the_public_api_and_conforms(
    partner_installed, database_url
):
    assert check_plugin("partner", database_url=database_url) == []


@pytest.fixture(params=["sqlite", "postgresql"])
def tenant(request, tmp_path, partner_installed):
    with sandbox_tenant_on(
        request.param, tmp_path / "tenant", plugins=PLUGINS, products=list(SAMPLE_PRODUCTS)
    ) as opened:
        yield opened


def id_number(n: int) -> str:
    """A valid resident ID number (GB 11643 check digit), one per ``n``."""
    body = f"11010119900101{n:03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def bank_card(n: int) -> str:
    """A Luhn-valid 19-digit card number."""
    body = f"622202{n:012d}"
    total = 0
    for i, digit in enumerate(reversed(body)):
        d = int(digit) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


class Partner:
    """The borrowers', staff's and worker's side of the tenant, over HTTP."""

    def __init__(self, tenant) -> None:
        self.tenant = tenant
        self.runtime = tenant.runtime
        self.http = httpx.Client(base_url=tenant.app_url, timeout=30)

    def call(self, method, path, status, headers, **kwargs):
        response = self.http.request(method, path, headers=headers, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response

    def borrower(self, n: int, *, verified: bool = True) -> tuple[int, dict[str, str]]:
        phone = f"1391234{n:04d}"
        borrower_id = add_borrower(self.runtime, phone)
        headers = borrower_headers(self.runtime, borrower_id)
        if verified:
            texts = {
                t["purpose"]: t
                for t in self.call("GET", "/api/consents/texts", 200, {}).json()["items"]
            }
            for purpose in ("privacy_policy", "credit_query"):
                shown = texts[purpose]
                self.call(
                    "POST",
                    "/api/borrowers/me/consents",
                    201,
                    headers,
                    json={
                        "purpose": purpose,
                        "version": shown["version"],
                        "digest": shown["digest"],
                    },
                )
            kyc = self.call(
                "POST",
                "/api/borrowers/me/real-name",
                200,
                headers,
                json={
                    "name": "张伟",
                    "id_number": id_number(n),
                    "bank_card": bank_card(n),
                    "phone": phone,
                },
            ).json()
            assert kyc["status"] == "verified", kyc
        return borrower_id, headers

    def apply(self, headers, key: str, **extra) -> dict:
        body = {**APPLICATION, "idempotency_key": key, **extra}
        return self.call("POST", "/api/borrowers/me/applications", 201, headers, json=body).json()

    def record(self, application_id: int) -> dict:
        staff = staff_headers(self.runtime, "risk_officer")
        return self.call("GET", f"/api/applications/{application_id}", 200, staff).json()

    def balanced(self) -> bool:
        with self.runtime.read_sessions() as session:
            return journal.trial_balance(session).balanced

    def settle(self) -> None:
        """The worker: send orders, wait for the gateway's callbacks, deliver events."""
        payments.instruct_due(self.runtime)
        with self.runtime.read_sessions() as session:
            waiting = session.scalars(
                select(payments.PaymentOrder.order_no).where(
                    payments.PaymentOrder.status.not_in(list(payments.FINAL))
                )
            ).all()
        for number in waiting:
            wait_for(lambda n=number: self.order_status(n) in payments.FINAL)
        outbox.drain(self.runtime.sessions, self.runtime.pm, self.runtime.settings.outbox)

    def order_status(self, number: str) -> str:
        with self.runtime.read_sessions() as session:
            return payments.order_by_no(session, number).status


def reasons(record: dict) -> set[tuple[str, str]]:
    return {(r["code"], r["source"]) for d in record["decisions"] for r in d["reasons"]}


def test_a_partner_plugin_reviews_shared_devices_pays_referral_rebates_and_adds_pages(
    tenant, plugin, lendkit_cli
):
    partner = Partner(tenant)
    with partner.runtime.sessions.begin() as session:  # the lender's own funds
        journal.post(
            session,
            business_date=payments.business_today(),
            idempotency_key="capital",
            cause="funding:own",
            lines=[
                Line.debit("fund_pool:own", Decimal("1000000")),
                Line.credit("funding_capital:own", Decimal("1000000")),
            ],
        )
    # Three phone numbers (three borrowers) on one device: the third goes to review,
    # though the sandbox bureau alone would approve all three (ids 1 to 3: band A).
    people = [partner.borrower(n) for n in (1, 2, 3)]
    referrer_id, referrer = partner.borrower(4, verified=False)
    code = partner.call("GET", "/api/partner/me", 200, referrer).json()["referral_code"]
    assert code == f"R{referrer_id}"
    client = {"device_id": DEVICE, "ip": "10.0.0.8", "user_agent": "Lendo/3.1 (iOS 17)"}
    first = partner.apply(people[0][1], "partner-apply-1", client=client, referral_code=code)
    second = partner.apply(people[1][1], "partner-apply-2", client=client)
    third = partner.apply(
        people[2][1], "partner-apply-3", client={**client, "app_version": "3.1.0"}
    )
    assert third["status"] == "review"
    assert ("device_shared", "partner") in reasons(partner.record(third["id"]))
    for earlier in (first, second):
        assert earlier["status"] == "approved"
        assert ("device_shared", "partner") not in reasons(partner.record(earlier["id"]))
    # The device data stays out of the decision record, shown to staff.
    assert DEVICE not in str(partner.record(third["id"])["decisions"])

    # The referred borrower takes his loan: the rebate is posted on disbursement.
    _borrower_id, me = people[0]
    if first["status"] == "review":
        first = partner.call(
            "POST",
            f"/api/applications/{first['id']}/approve",
            200,
            staff_headers(partner.runtime, "risk_officer"),
            json={"reasons": ["manual_ok"]},
        ).json()
    assert first["status"] == "approved", first
    loan_id = partner.call(
        "POST", f"/api/borrowers/me/applications/{first['id']}/accept", 200, me
    ).json()["loan_id"]
    partner.call("POST", f"/api/borrowers/me/loans/{loan_id}/contract/sign", 202, me)
    wait_for(
        lambda: (
            partner.http.get(f"/api/borrowers/me/loans/{loan_id}/contract", headers=me).json()[
                "status"
            ]
            == "signed"
        )
    )
    finance = staff_headers(partner.runtime, "finance")
    partner.call(
        "POST",
        f"/api/loans/{loan_id}/disburse",
        201,
        finance,
        json={"idempotency_key": "partner-payout-1"},
    )
    partner.settle()
    loan = partner.call("GET", f"/api/borrowers/me/loans/{loan_id}", 200, me).json()
    assert loan["status"] == "active"
    rebate = (Decimal(loan["principal"]) / 100).quantize(Decimal("0.01"))
    owed = partner.call("GET", "/api/partner/me", 200, referrer).json()["rebates_owed"]
    assert Decimal(owed) == rebate == Decimal("120.00")
    assert partner.balanced()
    books = lendkit_cli("ledger", "trial-balance", env=tenant.env)
    assert books.returncode == 0, books.stderr
    assert f"partner.referral_payable:{referrer_id}" in books.stdout
    assert "推荐返利费用" in books.stdout

    # A retry of the delivery (same key, same lines) posts nothing.
    with partner.runtime.read_sessions() as session:
        delivered = session.scalars(
            select(outbox.OutboxEvent).where(outbox.OutboxEvent.topic == "loan.disbursed")
        ).one()
        event = Event(delivered.id, delivered.topic, delivered.created_at, delivered.payload)
        lines_before = len(
            journal.statement(session, f"partner.referral_payable:{referrer_id}", *_days())
        )
    with partner.runtime.sessions.begin() as session:
        plugin.on_loan_event(event=event, session=session)
    with partner.runtime.read_sessions() as session:
        after = journal.statement(session, f"partner.referral_payable:{referrer_id}", *_days())
    assert len(after) == lines_before == 1
    assert (
        Decimal(partner.call("GET", "/api/partner/me", 200, referrer).json()["rebates_owed"])
        == rebate
    )
    assert partner.balanced()

    # The console page and its menu entry: shown to finance, hidden from collections.
    page = partner.call("GET", "/console/partner/rebates", 200, finance)
    assert page.headers["content-type"].startswith("text/html")
    assert "Referral rebates 推荐返利" in page.text
    assert "120.00" in page.text
    assert "powered by lendkit" in page.text  # inside the kit's layout
    assert 'href="/console/partner/rebates"' in page.text  # the menu
    assert 'href="/console/partner/rebates"' in partner.call("GET", "/console/", 200, finance).text
    collections = staff_headers(partner.runtime, "collections")
    partner.call("GET", "/console/partner/rebates", 403, collections)
    assert "/console/partner/rebates" not in partner.call("GET", "/console/", 200, collections).text

    # The borrower page: in the kit's layout, with his own code and what he is owed.
    invite = partner.call("GET", "/h5/partner/invite", 200, referrer)
    assert f"R{referrer_id}" in invite.text
    assert "120.00" in invite.text
    assert "powered by lendkit" in invite.text
    assert 'href="/h5/partner/invite"' in partner.call("GET", "/h5/", 200, referrer).text
    partner.call("GET", "/h5/partner/invite", 403, finance)


def _days():
    today = payments.business_today()
    return today.replace(year=today.year - 1), today.replace(year=today.year + 1)
