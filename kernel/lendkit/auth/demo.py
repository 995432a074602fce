"""Demo sign-ins: one staff user per role and two borrowers, with well-known passwords.

For the demo tenant only (``seed_demo`` is never called on a real tenant).
The TOTP secrets of the roles that need TOTP by default (``[auth]
totp_roles``: admin, risk_officer, finance) are fixed too, so the demo's
printed instructions can name them: add one to an authenticator app, or
print the current code with
``python -c "import pyotp; print(pyotp.TOTP('<secret>').now())"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit.auth.passwords import hasher_for
from lendkit.auth.permissions import STAFF_ROLES
from lendkit.crypto.orm import lookup
from lendkit.models import Borrower, StaffUser
from lendkit.settings import Settings

__all__ = ["DEMO_BORROWERS", "DEMO_STAFF", "DEMO_TOTP_SECRETS", "DemoLogin", "seed"]

# Well-known demo values: never use them outside the demo tenant.
DEMO_STAFF_PASSWORD = "Lendkit-demo-2026"  # noqa: S105
DEMO_BORROWER_PASSWORD = "borrower2026"  # noqa: S105
DEMO_TOTP_SECRETS = {  # role -> base32 secret, for every default TOTP role
    "admin": "LENDKITDEMOADMINTOTPSECRET234567",
    "risk_officer": "LENDKITDEMORISKOFFICERTOTP234567",
    "finance": "LENDKITDEMOFINANCETOTPSECRET2345",
}

_NAMES = {
    "admin": "管理员演示",
    "risk_officer": "风控演示",
    "finance": "财务演示",
    "collections": "催收演示",
    "auditor": "审计演示",
    "support": "客服演示",
}


@dataclass(frozen=True, slots=True)
class DemoLogin:
    login: str  # username, or the borrower's mobile number
    password: str
    role: str
    totp_secret: str | None = None


DEMO_STAFF = tuple(
    DemoLogin(
        role,
        DEMO_STAFF_PASSWORD,
        role,
        DEMO_TOTP_SECRETS.get(role),
    )
    for role in sorted(STAFF_ROLES, key=lambda r: (r != "admin", r))
)
DEMO_BORROWERS = (
    DemoLogin("13800138000", DEMO_BORROWER_PASSWORD, "borrower"),
    DemoLogin("13800138001", DEMO_BORROWER_PASSWORD, "borrower"),
)
_BORROWER_NAMES = ("演示借款人甲", "演示借款人乙")


def seed(session: Session, settings: Settings) -> None:
    """Create the demo staff and borrower sign-ins (idempotent)."""
    hasher = hasher_for(settings)
    for login in DEMO_STAFF:
        staff = session.scalar(select(StaffUser).where(StaffUser.username == login.login))
        if staff is None:
            staff = StaffUser(
                username=login.login, display_name=_NAMES[login.role], role=login.role
            )
            session.add(staff)
        staff.role = login.role
        staff.password_hash = hasher.hash(login.password)
        staff.totp_secret = login.totp_secret
        staff.failed_logins = 0
        staff.active = True
    for login, name in zip(DEMO_BORROWERS, _BORROWER_NAMES, strict=True):
        index = lookup(session, "phone", login.login)
        borrower = session.scalar(select(Borrower).where(Borrower.phone_index == index))
        if borrower is None:
            borrower = Borrower(phone=login.login, name=name, kyc_status="registered")
            session.add(borrower)
        borrower.password_hash = hasher.hash(login.password)
    session.flush()
