"""Hook implementations of the partner test plugin: anti-fraud, referral rebates, pages.

Imports only the public plugin API (the conformance check verifies it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import lendkit
from lendkit import ledger, views
from lendkit.callers import BorrowerCaller, Caller, CurrentCaller
from lendkit.types import AccountSpec, Applicant, Event, Page, Permission, RiskSignal
from litestar import get
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

NAME = "partner"
EVENT_TOPICS = ("loan.disbursed", "eod.closed")
REBATE_RATE = Decimal("0.01")
SHARED_DEVICE_BORROWERS = 3
EXPENSE = "rebate_expense"
PAYABLE = "referral_payable"
CLOSED: list[date] = []  # business dates whose end of day this plugin saw


def referral_code(borrower_id: int) -> str:
    """A borrower's referral code: ``R`` and his id."""
    return f"R{borrower_id}"


def referrer_of(code: str | None) -> int | None:
    if not code or not code.startswith("R") or not code[1:].isdigit():
        return None
    return int(code[1:])


def rebate_of(principal: Decimal) -> Decimal:
    return (principal * REBATE_RATE).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# -- Registration ----------------------------------------------------------------------


@lendkit.hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission("partner.view", "see referral rebates (plugin: partner)", roles=("finance",))
    ]


@lendkit.hookimpl
def register_accounts() -> list[AccountSpec]:
    return [
        AccountSpec(EXPENSE, "expense", "推荐返利费用", "Referral rebate expense"),
        AccountSpec(
            PAYABLE, "liability", "应付推荐返利", "Referral rebates payable", per="borrower"
        ),
    ]


@lendkit.hookimpl
def register_templates() -> list[Path]:
    return [Path(__file__).parent / "templates"]


def _rebates_page(session: Session, caller: Caller) -> Mapping[str, Any]:
    return {"paid": ledger.balance(session, plugin=NAME, account=EXPENSE), "role": caller.actor}


def _invite_page(session: Session, caller: Caller) -> Mapping[str, Any]:
    assert isinstance(caller, BorrowerCaller)
    return {
        "code": referral_code(caller.borrower_id),
        "owed": ledger.balance(session, plugin=NAME, account=f"{PAYABLE}:{caller.borrower_id}"),
    }


@lendkit.hookimpl
def register_pages() -> list[Page]:
    return [
        Page(
            "console",
            "/console/partner/rebates",
            "partner/rebates.html",
            "推荐返利",
            "Referral rebates",
            "partner.view",
            context=_rebates_page,
        ),
        Page(
            "h5",
            "/h5/partner/invite",
            "partner/invite.html",
            "邀请好友",
            "Invite friends",
            "borrower.self",
            context=_invite_page,
        ),
    ]


@get("/api/partner/me", opt={"permission": "borrower.self"}, sync_to_thread=True)
def my_referrals(caller: CurrentCaller, db_session: NamedDependency[Session]) -> dict[str, str]:
    """The signed-in borrower's referral code and the rebates owed to him."""
    if not isinstance(caller, BorrowerCaller):
        raise PermissionDeniedException("borrowers only")
    owed = ledger.balance(db_session, plugin=NAME, account=f"{PAYABLE}:{caller.borrower_id}")
    return {"referral_code": referral_code(caller.borrower_id), "rebates_owed": str(owed)}


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return [my_referrals]


# -- Decisions ---------------------------------------------------------------------------


@lendkit.hookimpl
def assess_application(applicant: Applicant, session: Session) -> RiskSignal | None:
    """Review when several borrowers applied from one device (phone numbers farmed on it)."""
    device = applicant.client.device_id if applicant.client else None
    if device is None:
        return None
    if views.borrowers_on_device(session, device) >= SHARED_DEVICE_BORROWERS:
        return RiskSignal("review", NAME, ("device_shared",))
    return RiskSignal("pass", NAME)


# -- Events ------------------------------------------------------------------------------


def post_rebate(session: Session, payload: Mapping[str, Any]) -> ledger.Entry | None:
    """1 % of the principal to the referrer's payable account, once per loan."""
    referrer = referrer_of(payload.get("referral_code"))
    if referrer is None or referrer == payload["borrower_id"]:
        return None
    if views.borrower(session, referrer) is None:
        return None  # a code nobody holds
    amount = rebate_of(Decimal(payload["principal"]))
    return ledger.post(
        session,
        plugin=NAME,
        key=f"rebate:{payload['loan_id']}",
        memo=f"referral rebate, loan {payload['loan_id']}",
        lines=[ledger.debit(EXPENSE, amount), ledger.credit(f"{PAYABLE}:{referrer}", amount)],
    )


@lendkit.hookimpl
def on_loan_event(event: Event, session: Session) -> None:
    if event.topic == "loan.disbursed":
        post_rebate(session, event.payload)


@lendkit.hookimpl
def on_end_of_day(business_date: date) -> None:
    CLOSED.append(business_date)
