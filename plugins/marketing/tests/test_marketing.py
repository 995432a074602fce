"""The marketing plugin on real databases and a real server: coupons, page, welcome offer."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from lendkit.testing import check_plugin, dispatch_events, publish_event, staff_headers
from lendkit_marketing.models import Coupon
from sqlalchemy import func, inspect, select


@pytest.fixture(autouse=True)
def marketing_tenant(make_tenant):
    """Every test here runs a tenant with this plugin enabled (before ``runtime``)."""
    return make_tenant(plugins=["marketing"])


@pytest.fixture
def staff(runtime):
    """Headers of a signed-in staff member who may see coupons."""
    return staff_headers(runtime, "admin")


def seed(runtime):
    with runtime.sessions.begin() as session:
        runtime.pm.hook.seed_demo(session=session, settings=runtime.settings)


def register_borrower(runtime, borrower_id):
    """Commit a ``borrower.registered`` event and deliver it; (its id, deliveries made)."""
    event_id = publish_event(runtime, "borrower.registered", {"borrower_id": borrower_id})
    return event_id, dispatch_events(runtime)


def coupons(runtime):
    with runtime.sessions.begin() as session:
        return [
            (c.code, c.amount, c.borrower_id, c.source_event_id)
            for c in session.scalars(select(Coupon).order_by(Coupon.id))
        ]


def test_its_migration_branch_is_applied(runtime):
    assert Coupon.__tablename__ in inspect(runtime.engine).get_table_names()


def test_coupon_list_is_empty_for_a_new_tenant(live_server, staff):
    response = httpx.get(f"{live_server}/api/marketing/coupons", headers=staff)

    assert response.status_code == 200
    assert response.json() == {"items": [], "total": 0, "limit": 50, "offset": 0, "next": None}


def test_coupon_list_returns_seeded_and_added_coupons_with_amounts_as_strings(
    runtime, live_server, staff
):
    seed(runtime)
    with runtime.sessions.begin() as session:
        session.add(Coupon(code="VIP-99", amount=Decimal("99.5"), borrower_id=12))

    response = httpx.get(f"{live_server}/api/marketing/coupons", headers=staff)

    assert response.status_code == 200
    assert response.json()["items"] == [
        {"code": "SPRING-50", "amount": "50.00", "borrower_id": None},
        {"code": "FIRSTLOAN-30", "amount": "30.00", "borrower_id": None},
        {"code": "REFER-10", "amount": "10.00", "borrower_id": None},
        {"code": "VIP-99", "amount": "99.50", "borrower_id": 12},
    ]


def test_coupon_page_renders_every_coupon(runtime, live_server, staff):
    seed(runtime)

    response = httpx.get(f"{live_server}/marketing/", headers=staff)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>Coupons 优惠券</h1>" in response.text
    for code, amount in (("SPRING-50", "50.00"), ("FIRSTLOAN-30", "30.00"), ("REFER-10", "10.00")):
        assert f'<td>{code}</td><td class="num">{amount}</td>' in response.text


def test_coupon_page_says_when_there_are_none(live_server, staff):
    response = httpx.get(f"{live_server}/marketing/", headers=staff)

    assert response.status_code == 200
    assert "No coupons yet 暂无优惠券" in response.text


def test_a_registered_borrower_gets_one_welcome_coupon(runtime, live_server, staff):
    event_id, result = register_borrower(runtime, borrower_id=42)

    assert result == 1
    assert coupons(runtime) == [(f"WELCOME-{event_id}", Decimal("20.00"), 42, event_id)]
    listed = httpx.get(f"{live_server}/api/marketing/coupons", headers=staff).json()["items"]
    assert listed == [{"code": f"WELCOME-{event_id}", "amount": "20.00", "borrower_id": 42}]


def test_the_welcome_coupon_is_not_granted_twice_for_one_event(runtime):
    register_borrower(runtime, borrower_id=42)

    again = dispatch_events(runtime)

    assert again == 0
    with runtime.sessions.begin() as session:
        assert session.scalar(select(func.count()).select_from(Coupon)) == 1


def test_each_registration_gets_its_own_coupon(runtime):
    first, _ = register_borrower(runtime, borrower_id=1)
    second, _ = register_borrower(runtime, borrower_id=2)

    assert [(code, borrower) for code, _, borrower, _ in coupons(runtime)] == [
        (f"WELCOME-{first}", 1),
        (f"WELCOME-{second}", 2),
    ]


def test_other_loan_events_grant_no_coupon(runtime):
    publish_event(runtime, "loan.disbursed", {"loan_id": 5, "amount": "1000.00"})

    result = dispatch_events(runtime)

    assert result == 1
    assert coupons(runtime) == []


def test_it_maps_coupons_to_the_marketing_clause(runtime):
    items = {item.function: item for items in runtime.pm.hook.compliance_items() for item in items}

    assert items["Marketing coupons"].clauses == (
        "网络小额贷款业务管理暂行办法 第二十三条 (营销宣传)",
    )


def test_it_passes_the_conformance_check(database_url):
    assert check_plugin("marketing", database_url=database_url) == []
