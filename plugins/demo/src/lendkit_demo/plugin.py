"""Hook implementations of the demo plugin: the demo tenant's people and sign-ins."""

from __future__ import annotations

import lendkit
from lendkit import audit
from lendkit.settings import Settings
from lendkit.types import ComplianceItem
from sqlalchemy.orm import Session

from lendkit_demo import signins
from lendkit_demo.people import demo_people

__all__ = ["BOOK_BORROWERS", "REQUIRES", "STAND_IN"]

STAND_IN = "made-up borrowers and loans, sign-ins with well-known passwords"

# The demo's borrowers are verified by, and borrow through, these stand-ins.
REQUIRES = ("identity-sandbox", "bureau-sandbox", "channel-sandbox", "esign-sandbox")
BOOK_BORROWERS = 300  # the people of the simulated loan book


@lendkit.hookimpl(tryfirst=True)
def seed_demo(session: Session, settings: Settings) -> None:
    # First, so other plugins' demo data can refer to the borrowers.
    for person in demo_people(BOOK_BORROWERS):
        session.add(person.verified_borrower())
    signins.seed(session, settings)
    audit.record(session, "system", "demo.seed", "tenant", borrowers=BOOK_BORROWERS)


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Demo tenant (demo only): made-up people, loans and well-known sign-ins",
            clauses=("网络小额贷款业务管理暂行办法 (演示环境，不得用于生产)",),
            description="Seeds a demo tenant with generated identities and a simulated loan "
            "book; never enable it on a tenant that lends real money.",
        )
    ]
