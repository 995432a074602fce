"""Products as data, over the real HTTP app on SQLite and PostgreSQL: staff create,
version and retire products (audited, published, idempotent), the public lists what is
on offer, every bad product is a specific bilingual 422 (its worst case above the cap
included) that writes nothing, a loan keeps the version it was booked on, seeds come
from lendkit.toml and a plugin's product codes are its own."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import lendkit
import pytest
from lendkit.audit import AuditEntry
from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.errors import StartupError
from lendkit.lifecycle import consents, products
from lendkit.lifecycle.application_models import Application
from lendkit.lifecycle.loan_models import Loan
from lendkit.lifecycle.product_models import ProductVersion
from lendkit.models import Borrower, OutboxEvent
from lendkit.runtime import open_runtime
from lendkit.types import CreditReport, LimitProposal, ProductSpec
from sqlalchemy import func, select, update
from sqlalchemy.exc import DatabaseError

ADMIN = "/api/admin/products"
CASH = {
    "code": "cash-6",
    "name": "现金贷 Cash loan",
    "min_amount": "5000.00",
    "max_amount": "50000.00",
    "terms_months": [6, 12],
    "annual_rate": "0.1200",
    "repayment_methods": ["equal-installment"],
    "upfront_fee_rate": "0.0100",
    "instalment_fee": "2.00",
    "grace_days": 3,
}


class Bureau:
    """Approves every application at once: a good score and a high limit."""

    @lendkit.hookimpl
    def credit_report(self, applicant):
        return CreditReport(provider="test-bureau", reference="Q-1", score=720)

    @lendkit.hookimpl
    def propose_credit_limit(self, applicant):
        return LimitProposal("test-bureau", Decimal("100000.00"))


class PluginProduct:
    """A plugin that brings a product type of its own."""

    @lendkit.hookimpl
    def register_products(self):
        return [
            ProductSpec(
                code="merchant-flow",
                name="商户流水贷 Merchant cash-flow loan",
                min_amount=Decimal("5000.00"),
                max_amount=Decimal("80000.00"),
                terms_months=(3,),
                annual_rate=Decimal("0.1500"),
                repayment_methods=("bullet",),
            )
        ]


def assert_problem(response, status, code):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert re.search(r"[\u4e00-\u9fff]", body["detail"]), "detail has Chinese"
    assert re.search(r"[A-Za-z]{4,}", body["detail"]), "detail has English"
    return body


def written(runtime):
    """Everything a refused change must leave as it was."""
    with runtime.sessions.begin() as session:
        count = lambda model: session.scalar(select(func.count()).select_from(model))  # noqa: E731
        return count(ProductVersion), count(AuditEntry), count(OutboxEvent)


def product_topics(runtime):
    with runtime.sessions.begin() as session:
        return [
            (e.topic, e.payload["code"], e.payload["version"])
            for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))
            if e.topic.startswith("product.")
        ]


def create(base, headers, **changes):
    return httpx.post(f"{base}{ADMIN}", headers=headers, json={**CASH, **changes})


# -- staff manage products ---------------------------------------------------------------


def test_staff_create_version_and_retire_a_product_over_http(runtime, live_server):
    admin = staff_headers(runtime, "admin", "li")
    assert httpx.get(f"{live_server}/api/products").json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
        "next": None,
    }

    first = create(live_server, admin)
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["code"], body["version"], body["status"], body["source"]) == (
        "cash-6",
        1,
        "active",
        "table",
    )
    assert (body["annual_rate"], body["terms_months"], body["grace_days"]) == ("0.1200", [6, 12], 3)
    assert body["penalty_multiplier"] == "1.5000"  # ProductSpec's default, 4 places
    assert [v["actor"] for v in body["history"]] == ["staff:li"]
    again = create(live_server, admin)
    assert again.status_code == 200, again.text  # the same product again: nothing new
    assert again.json()["version"] == 1
    assert_problem(create(live_server, admin, annual_rate="0.1300"), 409, "product_exists")

    offered = httpx.get(f"{live_server}/api/products").json()  # public: no sign-in
    assert [(p["code"], p["version"]) for p in offered["items"]] == [("cash-6", 1)]
    worst = Decimal(offered["items"][0]["apr_irr_max"])
    assert worst == Decimal("0.1761")  # fees weigh most on 6 months and 5,000

    changed = httpx.patch(
        f"{live_server}{ADMIN}/cash-6",
        headers=admin,
        json={"annual_rate": "0.1400", "terms_months": [6, 12, 24], "base_version": 1},
    )
    assert changed.status_code == 200, changed.text
    v2 = changed.json()
    assert (v2["version"], v2["annual_rate"], v2["terms_months"]) == (2, "0.1400", [6, 12, 24])
    assert v2["instalment_fee"] == "2.00"  # fields not sent carry over
    assert [(v["version"], v["annual_rate"]) for v in v2["history"]] == [
        (1, "0.1200"),
        (2, "0.1400"),
    ]
    same = httpx.patch(f"{live_server}{ADMIN}/cash-6", headers=admin, json={"annual_rate": "0.14"})
    assert same.json()["version"] == 2  # a change that changes nothing adds no version
    stale = httpx.patch(
        f"{live_server}{ADMIN}/cash-6", headers=admin, json={"grace_days": 5, "base_version": 1}
    )
    assert_problem(stale, 409, "product_version_conflict")
    public = httpx.get(f"{live_server}/api/products/cash-6").json()
    assert (public["version"], public["annual_rate"]) == (2, "0.1400")

    retired = httpx.post(f"{live_server}{ADMIN}/cash-6/retire", headers=admin)
    assert retired.status_code == 200, retired.text
    assert (retired.json()["version"], retired.json()["status"]) == (3, "retired")
    assert retired.json()["annual_rate"] == "0.1400"  # the same terms, retired
    twice = httpx.post(f"{live_server}{ADMIN}/cash-6/retire", headers=admin)
    assert twice.json()["version"] == 3
    assert httpx.get(f"{live_server}/api/products").json()["total"] == 0
    assert_problem(httpx.get(f"{live_server}/api/products/cash-6"), 404, "product_unknown")
    listed = httpx.get(f"{live_server}{ADMIN}", headers=admin).json()
    assert [(p["code"], p["status"]) for p in listed["items"]] == [("cash-6", "retired")]
    record = httpx.get(f"{live_server}{ADMIN}/cash-6", headers=admin).json()
    assert [(v["version"], v["status"]) for v in record["history"]] == [
        (1, "active"),
        (2, "active"),
        (3, "retired"),
    ]
    assert_problem(
        httpx.patch(f"{live_server}{ADMIN}/cash-6", headers=admin, json={"grace_days": 5}),
        409,
        "product_retired_readonly",
    )

    assert product_topics(runtime) == [
        ("product.created", "cash-6", 1),
        ("product.updated", "cash-6", 2),
        ("product.retired", "cash-6", 3),
    ]
    with runtime.sessions.begin() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("product.%")).order_by(AuditEntry.id)
        ).all()
        assert [(a.action, a.actor, a.details["version"]) for a in audited] == [
            ("product.created", "staff:li", 1),
            ("product.updated", "staff:li", 2),
            ("product.retired", "staff:li", 3),
        ]
        assert audited[1].details["changed"] == ["annual_rate", "terms_months"]


def test_only_staff_holding_products_manage_change_products(runtime, live_server):
    before = written(runtime)
    assert create(live_server, {}).status_code == 401
    assert create(live_server, staff_headers(runtime, "support")).status_code == 403
    assert create(live_server, staff_headers(runtime, "finance")).status_code == 403
    assert written(runtime) == before
    assert create(live_server, staff_headers(runtime, "risk_officer")).status_code == 201


def test_versions_are_append_only_in_the_database(runtime, live_server):
    assert create(live_server, staff_headers(runtime)).status_code == 201
    with pytest.raises(DatabaseError), runtime.sessions.begin() as session:
        session.execute(update(ProductVersion).values(annual_rate=Decimal("0.05")))
    with runtime.sessions.begin() as session:
        assert session.scalar(select(ProductVersion.annual_rate)) == Decimal("0.12")


# -- validation ---------------------------------------------------------------------------


def test_a_product_whose_worst_case_is_above_the_cap_is_refused(runtime, live_server):
    admin = staff_headers(runtime)
    before = written(runtime)

    # 4 % up front on 3 months is over 30 % a year, though 12 months would be fine.
    dear = create(live_server, admin, terms_months=[3, 12], upfront_fee_rate="0.0400")

    body = assert_problem(dear, 422, "product_rate_above_cap")
    assert "3 个月" in body["detail"]
    assert "3 months, equal-installment, 5,000.00 CNY" in body["detail"]
    assert "24.00 %" in body["detail"]
    assert written(runtime) == before

    assert create(live_server, admin).status_code == 201
    raised = httpx.patch(
        f"{live_server}{ADMIN}/cash-6", headers=admin, json={"annual_rate": "0.23"}
    )
    assert_problem(raised, 422, "product_rate_above_cap")
    with runtime.sessions.begin() as session:
        assert session.scalars(select(ProductVersion.version)).all() == [1]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"min_amount": "60000.00"}, "product_amount_range_invalid"),
        ({"max_amount": "-5.00"}, "invalid_max_amount"),
        ({"min_amount": "0"}, "invalid_min_amount"),
        ({"min_amount": "1000.005"}, "invalid_min_amount"),
        ({"min_amount": 1000.5}, "invalid_min_amount"),  # a float: never for money
        ({"terms_months": [6, 61]}, "product_term_out_of_range"),
        ({"terms_months": [0]}, "product_term_out_of_range"),
        ({"terms_months": [6, 6]}, "product_terms_duplicated"),
        ({"terms_months": []}, "invalid_terms_months"),
        ({"repayment_methods": ["balloon"]}, "product_method_unknown"),
        ({"repayment_methods": ["bullet", "bullet"]}, "product_methods_duplicated"),
        ({"annual_rate": "1.5"}, "product_rate_out_of_range"),
        ({"annual_rate": "-0.01"}, "product_rate_out_of_range"),
        ({"upfront_fee_rate": "0.6"}, "product_rate_out_of_range"),
        ({"allocation_order": ["penalty", "current_interest"]}, "product_allocation_order_invalid"),
        ({"day_count": 364}, "invalid_day_count"),
        ({"repayment_day": 31}, "invalid_repayment_day"),
        ({"code": "Cash Loan"}, "invalid_code"),
        ({"name": ""}, "invalid_name"),
        ({"colour": "red"}, "invalid_product"),
    ],
)
def test_every_bad_product_gets_its_own_bilingual_error(runtime, live_server, changes, code):
    before = written(runtime)
    assert_problem(create(live_server, staff_headers(runtime), **changes), 422, code)
    assert written(runtime) == before


# -- a loan keeps its version ---------------------------------------------------------------


def borrower(runtime, phone):
    """A verified borrower who agreed to credit queries: (id, headers)."""
    with runtime.sessions.begin() as session:
        person = Borrower(phone=phone, kyc_status="verified")
        session.add(person)
        session.flush()
        text = consents.TEXTS["credit_query"]["2026-01"]
        consents.grant(session, person.id, "credit_query", "2026-01", text.digest, "app", "test")
        borrower_id = person.id
    return borrower_id, borrower_headers(runtime, borrower_id)


def apply(base, headers, key, **fields):
    response = httpx.post(
        f"{base}/api/borrowers/me/applications",
        headers=headers,
        json={
            "product_code": "cash-6",
            "amount": "10000.00",
            "term": 6,
            "method": "equal-installment",
            "annual_income": "200000.00",
            "idempotency_key": key,
            **fields,
        },
    )
    return response


def test_a_loan_booked_on_version_1_keeps_its_terms_after_version_2(runtime, live_server):
    runtime.pm.register(Bureau(), name="test-bureau")
    admin = staff_headers(runtime)
    assert create(live_server, admin).status_code == 201
    _, headers = borrower(runtime, "13900000001")
    applied = apply(live_server, headers, "v1")
    assert applied.status_code == 201, applied.text
    assert (applied.json()["status"], applied.json()["product_version"]) == ("approved", 1)
    accepted = httpx.post(
        f"{live_server}/api/borrowers/me/applications/{applied.json()['id']}/accept",
        headers=headers,
    )
    loan_id = accepted.json()["loan_id"]

    v2 = httpx.patch(
        f"{live_server}{ADMIN}/cash-6",
        headers=admin,
        json={
            "annual_rate": "0.1500",
            "upfront_fee_rate": "0",
            "instalment_fee": "8.00",
            "grace_days": 5,
            "penalty_multiplier": "1.2",
        },
    )
    assert v2.json()["version"] == 2

    with runtime.sessions.begin() as session:
        loan = session.get_one(Loan, loan_id)
        assert (
            loan.product_version,
            loan.annual_rate,
            loan.upfront_fee,
            loan.instalment_fee,
            loan.grace_days,
            loan.penalty_rate,
        ) == (1, Decimal("0.12"), Decimal("100.00"), Decimal("2.00"), 3, Decimal("0.18"))
    staff_view = httpx.get(f"{live_server}/api/loans/{loan_id}", headers=admin).json()
    assert staff_view["product_version"] == 1
    assert Decimal(staff_view["annual_rate"]) == Decimal("0.12")

    # A new application is priced on version 2; a retired product takes none.
    _, other = borrower(runtime, "13900000002")
    fresh = apply(live_server, other, "v2").json()
    assert (fresh["product_version"], fresh["offer"]["annual_rate"]) == (2, "0.1500")
    assert fresh["offer"]["upfront_fee"] == "0.00"
    httpx.post(f"{live_server}{ADMIN}/cash-6/retire", headers=admin)
    _, third = borrower(runtime, "13900000003")
    assert_problem(apply(live_server, third, "v3"), 422, "product_retired")


def test_an_application_in_review_is_priced_on_its_version_when_approved(runtime, live_server):
    admin = staff_headers(runtime)
    assert create(live_server, admin).status_code == 201
    _, headers = borrower(runtime, "13900000001")
    applied = apply(live_server, headers, "review")  # no bureau: a person decides
    assert applied.json()["status"] == "review", applied.text
    httpx.patch(f"{live_server}{ADMIN}/cash-6", headers=admin, json={"annual_rate": "0.1500"})

    approved = httpx.post(
        f"{live_server}/api/applications/{applied.json()['id']}/approve",
        headers=staff_headers(runtime, "risk_officer"),
        json={"reasons": ["manual_ok"]},
    )

    assert approved.status_code == 200, approved.text
    offer = approved.json()["offer"]
    assert (offer["product_version"], offer["annual_rate"]) == (1, "0.1200")
    with runtime.sessions.begin() as session:
        app = session.get_one(Application, applied.json()["id"])
        assert (app.product_version, app.annual_rate) == (1, Decimal("0.12"))


# -- seeds and plugins -------------------------------------------------------------------


def test_lendkit_toml_seeds_missing_products_only(make_tenant, database_url, caplog):
    make_tenant(products=[CASH])
    first = open_runtime()
    first.upgrade()
    first.upgrade()  # a second upgrade seeds nothing more
    with first.sessions.begin() as session:
        rows = session.scalars(select(ProductVersion)).all()
        assert [(r.code, r.version, r.actor) for r in rows] == [("cash-6", 1, "system:seed")]
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "product.created")
            )
            == 1
        )
    first.close()

    make_tenant(products=[{**CASH, "annual_rate": "0.1000"}, {**CASH, "code": "cash-12"}])
    second = open_runtime()
    second.upgrade()
    with second.sessions.begin() as session:
        assert {
            (p.code, p.version, p.spec.annual_rate)
            for p in products.all_products(session, second.pm)
        } == {("cash-6", 1, Decimal("0.12")), ("cash-12", 1, Decimal("0.12"))}
    assert "seeds only create missing products" in caplog.text
    second.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_bad_seed_stops_start_up_with_one_clear_line(make_tenant, database_url):
    make_tenant(products=[{**CASH, "terms_months": [6, 6]}])
    with pytest.raises(StartupError, match=r"products\.0 .*each term may be listed only once"):
        open_runtime()
    make_tenant(products=[{**CASH, "upfront_fee_rate": "0.0500", "terms_months": [3]}])
    dear = open_runtime()
    with pytest.raises(StartupError, match=r"products\[0\] \(cash-6\): .*worst case"):
        dear.upgrade()
    dear.close()


def test_a_plugins_products_join_the_table_and_keep_their_codes(runtime, live_server):
    runtime.pm.register(PluginProduct(), name="test-products")
    admin = staff_headers(runtime)
    assert create(live_server, admin).status_code == 201

    offered = httpx.get(f"{live_server}/api/products").json()["items"]
    assert [(p["code"], p["version"], p["source"]) for p in offered] == [
        ("cash-6", 1, "table"),
        ("merchant-flow", None, "plugin"),
    ]
    taken = create(live_server, admin, code="merchant-flow")
    assert_problem(taken, 409, "product_not_managed")
    retire = httpx.post(f"{live_server}{ADMIN}/merchant-flow/retire", headers=admin)
    assert_problem(retire, 409, "product_not_managed")

    class Clashing(PluginProduct):
        @lendkit.hookimpl
        def register_products(self):
            return [ProductSpec(**{**vars_of(PluginProduct), "code": "cash-6"})]

    runtime.pm.register(Clashing(), name="test-clash")
    assert_problem(httpx.get(f"{live_server}/api/products"), 409, "product_code_clash")
    with pytest.raises(StartupError, match="cash-6"):
        runtime.upgrade()


def vars_of(plugin_class):
    [spec] = plugin_class().register_products()
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


def test_the_kernel_ships_no_products(runtime):
    with runtime.sessions.begin() as session:
        assert products.all_products(session, runtime.pm) == []
