"""The hooks and public modules of the plugin catalogue, on real databases: end of
day (``on_end_of_day``), an application's client context, the public ledger
(``register_accounts``, ``lendkit.ledger``), the read-only views, the caller
dependency and plugins' pages (``register_pages``)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import lendkit
import pytest
from lendkit import ledger, outbox, registry, views
from lendkit.audit import AuditEntry
from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.callers import BorrowerCaller, StaffCaller
from lendkit.clearing import ledger as journal
from lendkit.clearing.accounts import register_plugin_kinds
from lendkit.errors import ConflictError, StartupError, ValidationFailed
from lendkit.lifecycle import booking, eod
from lendkit.lifecycle.client_context import ApplicationContext
from lendkit.models import Borrower, OutboxEvent
from lendkit.testing import SAMPLE_PRODUCTS, add_borrower
from lendkit.testing.factories import add_capital, disbursed_loan
from lendkit.types import (
    AccountSpec,
    CreditReport,
    LimitProposal,
    Page,
    Permission,
    RiskSignal,
)
from lendkit.web.app import create_app
from litestar import get
from sqlalchemy import func, select, text

D = Decimal
START = date(2026, 3, 2)


def problem(response, status, code):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert re.search(r"[\u4e00-\u9fff]", body["detail"]), "Chinese"
    assert re.search(r"[A-Za-z]{4,}", body["detail"]), "English"
    return body


def drain(runtime):
    return outbox.drain(runtime.sessions, runtime.pm, runtime.settings.outbox)


# -- End of day ---------------------------------------------------------------------


class DailyReports:
    """A plugin building daily files: it only needs the date that closed."""

    def __init__(self):
        self.closed: list[tuple[date, int, dict]] = []

    @lendkit.hookimpl
    def on_end_of_day(self, business_date, event, session):
        self.closed.append((business_date, event.id, dict(event.payload)))


def test_end_of_day_is_announced_once_per_date_after_commit(runtime):
    reports = DailyReports()
    runtime.pm.register(reports, name="daily-reports")
    with runtime.sessions.begin() as session:
        add_capital(session, "own", D("100000"), START, "capital")
        person = add_borrower_in(session, "13900000101")
        disbursed_loan(
            session, runtime, terms(person), channel="sandbox", key="eod-loan", day=START
        )

    eod.run(runtime, START)
    assert reports.closed == []  # after commit, through the outbox: not inside the run
    eod.run(runtime, START)  # a rerun of a finished day
    drain(runtime)
    eod.run(runtime, START + timedelta(days=1))
    drain(runtime)

    assert [(day, payload["business_date"]) for day, _, payload in reports.closed] == [
        (START, START.isoformat()),
        (START + timedelta(days=1), (START + timedelta(days=1)).isoformat()),
    ]
    _, _, first = reports.closed[0]
    assert first["loans"] == 1
    assert first["counts"]["loans"] == 1
    with runtime.read_sessions() as session:
        assert session.scalar(select(func.count()).where(OutboxEvent.topic == "eod.closed")) == 2


def add_borrower_in(session, phone):
    person = Borrower(phone=phone, kyc_status="verified")
    session.add(person)
    session.flush()
    return person.id


def terms(person, principal="12000.00"):
    return booking.Terms(
        borrower_id=person,
        product_code="cash",
        principal=D(principal),
        term=12,
        method="equal-installment",
        annual_rate=D("0.12"),
    )


# -- The application's client context ------------------------------------------------


class AntiFraud:
    """A bureau, a limit and an anti-fraud plugin that keeps what it was shown."""

    def __init__(self):
        self.seen = []

    @lendkit.hookimpl
    def credit_report(self, applicant):
        return CreditReport(provider="test-bureau", score=720)

    @lendkit.hookimpl
    def propose_credit_limit(self, applicant):
        return LimitProposal("test-bureau", D("100000"))

    @lendkit.hookimpl
    def enrich_applicant(self, applicant, session):
        self.seen.append(applicant.client)
        device = applicant.client.device_id if applicant.client else None
        return (
            {"device_borrowers": str(views.borrowers_on_device(session, device))}
            if device
            else None
        )

    @lendkit.hookimpl
    def assess_application(self, applicant):
        if int(applicant.attributes.get("device_borrowers", "0")) >= 2:
            return RiskSignal("review", "anti-fraud", ("device_shared",))
        return None


@pytest.fixture(autouse=True)
def tenant_with_products(make_tenant):
    """The kernel ships no products: every tenant here seeds the sample ones."""
    make_tenant(products=SAMPLE_PRODUCTS)


@pytest.fixture
def antifraud(runtime):
    plugin = AntiFraud()
    runtime.pm.register(plugin, name="anti-fraud")
    return plugin


def applicant(runtime, base, phone):
    borrower_id = add_borrower(runtime, phone, kyc_status="verified")
    headers = borrower_headers(runtime, borrower_id)
    shown = {t["purpose"]: t for t in httpx.get(f"{base}/api/consents/texts").json()["items"]}
    agreed = httpx.post(
        f"{base}/api/borrowers/me/consents",
        headers=headers,
        json={
            "purpose": "credit_query",
            "version": shown["credit_query"]["version"],
            "digest": shown["credit_query"]["digest"],
        },
    )
    assert agreed.status_code == 201, agreed.text
    return borrower_id, headers


def apply(base, headers, key, **extra):
    return httpx.post(
        f"{base}/api/borrowers/me/applications",
        headers=headers,
        json={
            "product_code": "consumer-12",
            "amount": "20000.00",
            "term": 12,
            "method": "equal-installment",
            "annual_income": "200000.00",
            "idempotency_key": key,
            **extra,
        },
    )


CLIENT = {
    "device_id": "A1B2C3D4-E5F6-4711-8899-AABBCCDDEEFF",
    "ip": "2408:8207:1850:1f0::12",
    "user_agent": "Lendo/2.4.1 (Android 14; Pixel 8)",
    "location": "上海市浦东新区",
    "app_version": "2.4.1",
}


def test_the_client_context_reaches_the_hooks_encrypted_at_rest_and_counted_by_device(
    runtime, antifraud, live_server
):
    _, first = applicant(runtime, live_server, "13900000201")
    _, second = applicant(runtime, live_server, "13900000202")

    one = apply(live_server, first, "ctx-1", client=CLIENT, referral_code="FRIEND-42")
    two = apply(live_server, second, "ctx-2", client=CLIENT)
    assert (one.status_code, two.status_code) == (201, 201), two.text

    assert one.json()["status"] == "approved"
    assert two.json()["status"] == "review"  # two borrowers on one device
    shown = antifraud.seen[0]
    assert (shown.device_id, shown.ip, shown.location) == (
        CLIENT["device_id"],
        "2408:8207:1850:1f0::12",
        "上海市浦东新区",
    )
    assert (shown.user_agent, shown.app_version, shown.seen_ip) == (
        CLIENT["user_agent"],
        "2.4.1",
        "127.0.0.1",
    )
    assert CLIENT["device_id"] not in repr(shown)
    assert "上海" not in repr(shown)
    record = httpx.get(
        f"{live_server}/api/applications/{two.json()['id']}",
        headers=staff_headers(runtime, "risk_officer"),
    ).json()
    inputs = str(record["decisions"])
    assert CLIENT["device_id"] not in inputs
    assert "2408:8207" not in inputs
    assert "127.0.0.1" not in inputs
    assert "上海" not in inputs
    assert record["decisions"][0]["inputs"]["applicant"]["client"] == {
        "user_agent": CLIENT["user_agent"],
        "app_version": "2.4.1",
    }
    with runtime.read_sessions() as session:
        raw = session.execute(
            text("SELECT device_id, ip, seen_ip, location FROM application_context")
        ).all()
        assert len(raw) == 2
        for row in raw:
            blob = b"".join(bytes(v) for v in row)
            for secret in (CLIENT["device_id"], "2408:8207", "127.0.0.1", "上海市"):
                assert secret.encode() not in blob
        view = views.application(session, one.json()["id"])
        assert view.referral_code == "FRIEND-42"
        assert view.client.device_id == CLIENT["device_id"]
        assert views.borrowers_on_device(session, CLIENT["device_id"]) == 2
        assert views.borrowers_on_device(session, "some-other-device") == 0


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"client": "iPhone"}, "invalid_client"),
        ({"client": {"ip": "300.1.2.3"}}, "invalid_client"),
        ({"client": {"ip": 17}}, "invalid_client"),
        ({"client": {"device_id": "x" * 129}}, "invalid_client"),
        ({"client": {"device_id": "bad id with spaces"}}, "invalid_client"),
        ({"client": {"location": "上海\x00"}}, "invalid_client"),
        ({"client": {"user_agent": "a" * 513}}, "invalid_client"),
        ({"client": {"imei": "861234567890123"}}, "invalid_client"),
        ({"referral_code": "no spaces please"}, "invalid_referral_code"),
        ({"referral_code": 42}, "invalid_referral_code"),
    ],
)
def test_a_malformed_client_or_referral_code_is_a_bilingual_422_and_changes_nothing(
    runtime, antifraud, live_server, extra, code
):
    _, headers = applicant(runtime, live_server, "13900000301")

    problem(apply(live_server, headers, "bad-ctx", **extra), 422, code)

    with runtime.read_sessions() as session:
        assert session.scalar(select(func.count()).select_from(ApplicationContext)) == 0
    assert antifraud.seen == []


# -- The public ledger ---------------------------------------------------------------


class Referrals:
    NAME = "referrals"

    @lendkit.hookimpl
    def register_accounts(self):
        return [
            AccountSpec("rebate_expense", "expense", "推荐返利费用", "Referral rebate expense"),
            AccountSpec(
                "referral_payable", "liability", "应付推荐返利", "Rebates payable", per="borrower"
            ),
            AccountSpec("prepaid_budget", "asset", "预付预算", "Prepaid budget", no_overdraft=True),
        ]


@pytest.fixture
def referrals(runtime):
    runtime.pm.register(Referrals(), name="referrals")
    register_plugin_kinds(registry.account_kinds(runtime.pm))  # as the runtime does at start


REBATE = [
    ledger.debit("rebate_expense", D("12.00")),
    ledger.credit("referral_payable:7", D("12.00")),
]


def test_a_plugin_posts_balanced_entries_to_its_accounts_once_per_key(runtime, referrals):
    with runtime.sessions.begin() as session:
        entry = ledger.post(session, plugin="referrals", key="rebate:1", lines=REBATE, memo="1 %")
    with runtime.sessions.begin() as session:
        again = ledger.post(session, plugin="referrals", key="rebate:1", lines=REBATE, memo="1 %")
        owed = ledger.balance(session, plugin="referrals", account="referral_payable:7")
        spent = ledger.balance(session, plugin="referrals", account="rebate_expense")
        books = journal.trial_balance(session)

    assert again.id == entry.id
    assert entry.lines == (
        ledger.Line("rebate_expense", D("12.00")),
        ledger.Line("referral_payable:7", D("-12.00")),
    )
    assert (owed, spent) == (D("12.00"), D("12.00"))  # each on its normal side
    assert books.balanced
    assert dict(books.rows) == {
        "referrals.rebate_expense": D("12.00"),
        "referrals.referral_payable:7": D("-12.00"),
    }
    with runtime.sessions.begin() as session:
        other = [
            ledger.debit("rebate_expense", D("13.00")),
            ledger.credit("referral_payable:7", D("13.00")),
        ]
        with pytest.raises(ConflictError) as caught:
            ledger.post(session, plugin="referrals", key="rebate:1", lines=other)
    assert caught.value.code == "ledger_key_reused"


@pytest.mark.parametrize(
    ("lines", "code"),
    [
        (
            [ledger.debit("fund_pool:own", D("1")), ledger.credit("rebate_expense", D("1"))],
            "ledger_account_undeclared",
        ),
        (
            [ledger.debit("loan_principal", D("1")), ledger.credit("rebate_expense", D("1"))],
            "ledger_account_undeclared",
        ),
        (
            [ledger.debit("other.rebate_expense", D("1")), ledger.credit("rebate_expense", D("1"))],
            "ledger_account_undeclared",
        ),
        (
            [ledger.debit("rebate_expense", D("1")), ledger.credit("referral_payable", D("1"))],
            "ledger_account_invalid",
        ),
        (
            [ledger.debit("rebate_expense:7", D("1")), ledger.credit("referral_payable:7", D("1"))],
            "ledger_account_invalid",
        ),
        (
            [ledger.debit("rebate_expense", D("2")), ledger.credit("referral_payable:7", D("1"))],
            "unbalanced_entry",
        ),
        ([ledger.debit("rebate_expense", D("1"))], "unbalanced_entry"),
        (
            [ledger.Line("rebate_expense", 1.5), ledger.Line("referral_payable:7", -1.5)],
            "ledger_amount_invalid",
        ),
        (
            [
                ledger.debit("rebate_expense", D("0.001")),
                ledger.credit("referral_payable:7", D("0.001")),
            ],
            "ledger_amount_invalid",
        ),
        (
            [ledger.debit("rebate_expense", D("5")), ledger.credit("prepaid_budget", D("5"))],
            "insufficient_funds",
        ),
    ],
)
def test_the_ledger_refuses_what_the_kernel_would_and_posts_nothing(
    runtime, referrals, lines, code
):
    with runtime.sessions.begin() as session:
        with pytest.raises(ValidationFailed) as caught:
            ledger.post(session, plugin="referrals", key="bad", lines=lines)
        assert caught.value.code == code
        assert re.search(r"[\u4e00-\u9fff]", caught.value.detail)
    with runtime.read_sessions() as session:
        assert journal.trial_balance(session).rows == []


def test_account_declarations_are_checked_at_start_up(runtime):
    class Bad:
        @lendkit.hookimpl
        def register_accounts(self):
            return [AccountSpec("Fund-Pool", "asset", "x", "x")]

    runtime.pm.register(Bad(), name="bad")
    with pytest.raises(StartupError, match="account name 'Fund-Pool'"):
        registry.account_kinds(runtime.pm)


# -- Views ---------------------------------------------------------------------------


class Unmasker:
    @lendkit.hookimpl
    def register_permissions(self):
        return [Permission("unmasker.see", "see borrowers unmasked (plugin)", roles=("finance",))]


def test_views_give_a_masked_borrower_a_loan_with_schedule_and_balances_and_audit_unmasking(
    runtime,
):
    runtime.pm.register(Unmasker(), name="unmasker")
    with runtime.sessions.begin() as session:
        add_capital(session, "own", D("100000"), START, "capital")
        person = Borrower(phone="13812345678", name="张三", kyc_status="verified")
        session.add(person)
        session.flush()
        loan = disbursed_loan(
            session, runtime, terms(person.id), channel="sandbox", key="view-loan", day=START
        )
        person_id, loan_id = person.id, loan.id

    with runtime.sessions.begin() as session:
        masked = views.borrower(session, person_id)
        seen = views.loan(session, loan_id)
        finance = StaffCaller(1, "finance", frozenset({"unmasker.see"}), "staff:fin")
        clear = views.borrower_unmasked(
            session, person_id, caller=finance, permission="unmasker.see", plugin="unmasker"
        )
        himself = views.borrower_unmasked(
            session,
            person_id,
            caller=BorrowerCaller(person_id, frozenset({"borrower.self"}), f"borrower:{person_id}"),
            permission="unmasker.see",
            plugin="unmasker",
        )
        for caller, permission in (
            (StaffCaller(2, "support", frozenset({"account.self"}), "staff:sup"), "unmasker.see"),
            (StaffCaller(3, "support", frozenset({"account.self"}), "staff:sup"), "account.self"),
            (BorrowerCaller(999, frozenset({"borrower.self"}), "borrower:999"), "unmasker.see"),
        ):
            with pytest.raises(lendkit.errors.LendkitError) as caught:
                views.borrower_unmasked(
                    session, person_id, caller=caller, permission=permission, plugin="unmasker"
                )
            assert caught.value.status == 403

    assert (masked.masked, masked.phone, masked.name) == (True, "138****5678", "张*")
    assert "138" not in repr(masked)
    assert (clear.masked, clear.phone, clear.name) == (False, "13812345678", "张三")
    assert himself.phone == "13812345678"
    assert seen.status == "active"
    assert seen.disbursed_on == START
    assert len(seen.schedule) == 12
    assert seen.schedule[0].due_date > START
    assert sum(row.principal for row in seen.schedule) == D("12000.00")
    assert seen.balances == {
        "principal": D("12000.00"),
        "interest": D("0.00"),
        "penalty": D("0.00"),
        "fees": D("0.00"),
    }
    with runtime.read_sessions() as session:
        audited = session.scalars(select(AuditEntry).where(AuditEntry.action == "pii.unmask")).all()
        assert [(a.actor, a.details["plugin"]) for a in audited] == [
            ("staff:fin", "unmasker"),
            (f"borrower:{person_id}", "unmasker"),
        ]
        disbursed = session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "loan.disbursed")
        ).one()
        assert views.borrower(session, 10**9) is None
        assert views.loan(session, 10**9) is None
    assert {
        k: disbursed.payload[k]
        for k in ("borrower_id", "product_code", "principal", "net_disbursed", "referral_code")
    } == {
        "borrower_id": person_id,
        "product_code": "cash",
        "principal": "12000.00",
        "net_disbursed": "12000.00",
        "referral_code": None,
    }


# -- Pages -----------------------------------------------------------------------------


class Pages:
    def __init__(self, *pages, permissions=()):
        self.pages, self.permissions = list(pages), list(permissions)

    @lendkit.hookimpl
    def register_pages(self):
        return self.pages

    @lendkit.hookimpl
    def register_permissions(self):
        return self.permissions

    @lendkit.hookimpl
    def register_templates(self):
        return [Path(__file__).parent / "partner_plugin" / "src" / "lendkit_partner" / "templates"]


def console(path, permission="pages.view"):
    return Page("console", path, "partner/rebates.html", "页", "Page", permission)


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        ([console("/console/other/x")], "must start with /console/pages/"),
        ([console("/console/pages/{id:int}")], "must start with /console/pages/"),
        ([console("/console/pages/x"), console("/console/pages/x")], "claimed twice"),
        ([console("/console/pages/x", "nobody.knows")], "registered by nobody"),
        ([console("/console/pages/x", "borrower.self")], "a console page is for staff"),
        (
            [Page("h5", "/h5/pages/x", "t.html", "页", "Page", "pages.view")],
            "takes 'borrower.self'",
        ),
        ([console("/api/borrowers/me")], "must start with"),
    ],
)
def test_a_page_that_cannot_be_served_as_declared_stops_start_up(runtime, pages, message):
    runtime.pm.register(
        Pages(*pages, permissions=[Permission("pages.view", "see pages", roles=("finance",))]),
        name="pages",
    )
    with pytest.raises(StartupError, match=re.escape(message)):
        create_app(runtime)


@get("/h5/pages/x", opt={"permission": "borrower.self"}, sync_to_thread=False)
def taken() -> str:
    return "a route"


def test_a_page_on_a_routes_path_stops_start_up(runtime):
    class RouteAndPage(Pages):
        @lendkit.hookimpl
        def register_routes(self):
            return [taken]

    runtime.pm.register(
        RouteAndPage(
            Page("h5", "/h5/pages/x", "partner/invite.html", "页", "Page", "borrower.self")
        ),
        name="pages",
    )
    with pytest.raises(StartupError, match="cannot mount routes"):
        create_app(runtime)


# -- lendkit.types: the values hooks name, depending on nothing of the kernel ----


def _kernel_imports(path: Path) -> set[str]:
    """Every lendkit module ``path`` imports, at the top, in functions or for typing."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "lendkit" or name.startswith("lendkit.")}


def test_types_import_nothing_else_from_the_kernel():
    package = Path(lendkit.__file__).parent / "types"
    outside = {
        f"{path.name}: {name}"
        for path in package.glob("*.py")
        for name in _kernel_imports(path)
        if not name.startswith("lendkit.types")
    }
    assert outside == set()


def test_every_value_a_hook_names_is_in_lendkit_types():
    import inspect
    import typing

    import lendkit.types
    from lendkit import hookdoc, hookspecs

    # Every annotation of the values resolves (nothing is left to a kernel module).
    assert typing.get_type_hints(lendkit.types.Job)["every"] is timedelta
    # Names the signatures use that are not lendkit's own values.
    foreign = {"ControllerRouterHandler", "Session", "Settings", "Path", "Mapping", "date"}
    foreign |= {"str", "bytes", "None", "list"}
    missing = set()
    for name in hookdoc.hook_names():
        signature = inspect.signature(getattr(hookspecs, name))
        annotations = [p.annotation for p in signature.parameters.values()]
        for spelled in [*annotations, signature.return_annotation]:
            for word in re.findall(r"[A-Za-z_]\w*", str(spelled)):
                if word not in foreign and not hasattr(lendkit.types, word):
                    missing.add(f"{name}: {word}")
    assert missing == set()
    # hookspecs keeps the names plugins imported from it before they moved.
    for old in ("IdentityClaim", "IdentityVerdict", "SignatureCallbackRejected", "ContactRequest"):
        assert getattr(hookspecs, old) is getattr(lendkit.types, old)


def test_a_job_gets_a_context_not_the_runtime(runtime):
    from lendkit.clock import china_today
    from lendkit.runtime import runtime_of
    from lendkit.types import JobContext

    ctx: JobContext = runtime
    assert ctx.hook is runtime.pm.hook
    assert ctx.today() == china_today()
    with ctx.read_sessions() as session:
        assert session.execute(text("SELECT 1")).scalar() == 1
    assert runtime_of(ctx) is runtime
    with pytest.raises(TypeError):
        runtime_of(object())  # type: ignore[arg-type]
