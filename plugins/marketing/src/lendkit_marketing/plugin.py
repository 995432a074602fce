"""Hook implementations of the marketing plugin."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import lendkit
from lendkit.settings import Settings
from lendkit.types import ComplianceItem, Event, Permission
from lendkit.web.paging import Window, page_of
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template
from litestar.types import ControllerRouterHandler
from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit_marketing.models import Coupon

WELCOME_AMOUNT = Decimal("20.00")


def _coupon(c: Coupon) -> dict[str, Any]:
    return {"code": c.code, "amount": str(c.amount), "borrower_id": c.borrower_id}


@get("/api/marketing/coupons", opt={"permission": "marketing.view"}, sync_to_thread=True)
def list_coupons(
    db_session: NamedDependency[Session], window: NamedDependency[Window]
) -> dict[str, Any]:
    """Every coupon, oldest first: a page, ``{items, total, limit, offset, next}``."""
    return page_of(db_session, window, select(Coupon).order_by(Coupon.id), _coupon)


@get("/marketing/", opt={"permission": "marketing.view"}, sync_to_thread=True)
def coupons_page(request: Request[Any, Any, Any], db_session: NamedDependency[Session]) -> Template:
    coupons = db_session.scalars(select(Coupon).order_by(Coupon.id)).all()
    return Template("marketing/coupons.html", context={"coupons": coupons})


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return [list_coupons, coupons_page]


@lendkit.hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(
            "marketing.view",
            "see marketing coupons (plugin: marketing)",
            roles=("risk_officer", "finance", "support"),
        )
    ]


@lendkit.hookimpl
def register_templates() -> list[Path]:
    return [Path(__file__).parent / "templates"]


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Marketing coupons",
            clauses=("网络小额贷款业务管理暂行办法 第二十三条 (营销宣传)",),
            description="Coupons reduce borrower cost; offers still show the all-in annualized rate.",
        )
    ]


@lendkit.hookimpl
def on_loan_event(event: Event, session: Session) -> None:
    if event.topic != "borrower.registered":
        return
    session.add(
        Coupon(
            code=f"WELCOME-{event.id}",
            amount=WELCOME_AMOUNT,
            borrower_id=int(event.payload["borrower_id"]),
            source_event_id=event.id,
        )
    )


@lendkit.hookimpl
def seed_demo(session: Session, settings: Settings) -> None:
    for code, amount in (("SPRING-50", "50.00"), ("FIRSTLOAN-30", "30.00"), ("REFER-10", "10.00")):
        session.add(Coupon(code=code, amount=Decimal(amount)))
