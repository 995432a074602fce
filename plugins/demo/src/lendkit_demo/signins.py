"""Demo sign-ins: one staff user per role and two borrowers, with well-known passwords.

For the demo tenant only (``seed_demo`` is never called on a real tenant).
The TOTP secrets of the roles that need TOTP by default (``[auth]
totp_roles``: admin, risk_officer, finance) are fixed too, so the demo's
printed instructions can name them: add one to an authenticator app, or
print the current code with
``python -c "import pyotp; print(pyotp.TOTP('<secret>').now())"``.

The borrowers who can sign in go through the same steps a real borrower
does, through the kernel's own functions: consents as shown, real name
verified by the identity stand-in, an application decided by the credit
pipeline and accepted (:func:`onboard`, while seeding); then, once the web
app and the gateways answer, the agreement signed by the e-sign stand-in
and the loan paid out through the payment channel (:func:`complete`). So
each can sign in, see a signed contract and repay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from lendkit.auth.passwords import hasher_for
from lendkit.auth.permissions import STAFF_ROLES
from lendkit.clearing import payments
from lendkit.crypto.orm import lookup
from lendkit.errors import StartupError
from lendkit.lifecycle import (
    application_input,
    applications,
    booking,
    borrowers,
    consents,
    contract_signing,
    contract_status,
)
from lendkit.lifecycle.loan_models import RUNNING, Loan
from lendkit.models import Borrower, StaffUser
from lendkit.runtime import Runtime
from lendkit.settings import Settings
from sqlalchemy import select
from sqlalchemy.orm import Session

from lendkit_demo.channel import demo_channel
from lendkit_demo.people import DemoPerson, demo_people

__all__ = [
    "DEMO_BORROWERS",
    "DEMO_STAFF",
    "DEMO_TOTP_SECRETS",
    "DemoLogin",
    "complete",
    "onboard",
    "seed",
]

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
# What each sign-in borrower applied for: (amount, term, method) of consumer-12.
_APPLICATIONS = (("6000.00", 6, "equal-installment"), ("3000.00", 3, "equal-principal"))
_SEED = 13800138  # of their identities: other people than the loan book's


def identities() -> list[DemoPerson]:
    """The real-name details of the sign-in borrowers (valid, and nobody's)."""
    return demo_people(len(DEMO_BORROWERS), seed=_SEED)


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
    for login in DEMO_BORROWERS:
        if _borrower(session, login) is None:
            session.add(Borrower(phone=login.login, kyc_status="registered"))
        borrower = _borrower(session, login)
        assert borrower is not None
        borrower.password_hash = hasher.hash(login.password)
    session.flush()


def _borrower(session: Session, login: DemoLogin) -> Borrower | None:
    index = lookup(session, "phone", login.login)
    return session.scalar(select(Borrower).where(Borrower.phone_index == index))


def onboard(runtime: Runtime) -> list[int]:
    """Consents, real name and an accepted offer for each sign-in borrower; their loan ids.

    Every step is the kernel's own and idempotent: run again, it finds what
    is done and goes on.
    """
    loan_ids: list[int] = []
    for n, (login, person) in enumerate(zip(DEMO_BORROWERS, identities(), strict=True)):
        with runtime.sessions.begin() as session:
            borrower = _borrower(session, login)
            assert borrower is not None, "seed_demo creates the sign-ins"
            for text in consents.current_texts():
                consents.grant(
                    session, borrower.id, text.purpose, text.version, text.digest, "app", "demo"
                )
            if borrower.kyc_status != "verified":
                borrowers.submit_real_name(
                    session,
                    runtime.pm,
                    runtime.settings,
                    borrower.id,
                    borrowers.RealNameSubmission(
                        name=person.name,
                        id_number=person.id_number,
                        bank_card=person.bank_card,
                        card_confirmed=True,
                    ),
                    actor=f"borrower:{borrower.id}",
                )
            loan_ids.append(_accepted_loan(session, runtime, borrower.id, n))
    return loan_ids


def _accepted_loan(session: Session, runtime: Runtime, borrower_id: int, n: int) -> int:
    amount, term, method = _APPLICATIONS[n]
    submitted = applications.submit(
        session,
        runtime.pm,
        runtime.settings,
        borrower_id,
        application_input.parse_submission(
            {
                "product_code": "consumer-12",
                "amount": amount,
                "term": term,
                "method": method,
                "annual_income": "240000.00",
                "idempotency_key": f"demo:signin:{borrower_id}",
            }
        ),
        actor=f"borrower:{borrower_id}",
    )
    app = submitted.application
    if app.status == "review":  # the credit policy asked a person: the demo's risk officer
        app = applications.approve(
            session,
            runtime.pm,
            runtime.settings,
            app.id,
            actor="staff:risk_officer",
            reasons=["manual_ok"],
            note="demo sign-in borrower",
        )
    if app.status == "approved":
        app = applications.accept(session, borrower_id, app.id, actor=f"borrower:{borrower_id}")
    if app.status != "accepted":
        raise StartupError(f"demo sign-in application {app.id} is {app.status}, not accepted")
    return booking.book_offer(session, runtime, app).id


def complete(
    runtime: Runtime,
    loan_ids: list[int],
    echo: Callable[[str], object] = print,
    timeout: float = 60.0,
) -> None:
    """Sign each loan's agreement and pay it out; returns once every loan is active.

    Needs the web app serving (the e-sign vendor and the payment gateway
    answer by callback) and the worker running (it sends payment orders and
    delivers the events that activate loans). Loans already active are left
    as they are.
    """
    for loan_id in loan_ids:
        if _status(runtime, loan_id) in RUNNING:
            continue
        contract_signing.request_signature(runtime, loan_id, actor="demo")
        _wait(partial(_signed, runtime, loan_id), timeout, f"loan {loan_id}: signature")
        with runtime.sessions.begin() as session:
            loan = session.get_one(Loan, loan_id)
            person = session.get_one(Borrower, loan.borrower_id)
            order_no = booking.disburse(
                session,
                runtime,
                loan_id,
                channel=demo_channel(runtime),
                payee=payments.Payee(person.name or "", person.bank_card or ""),
                idempotency_key=f"demo:signin:disburse:{loan_id}",
            ).order_no
        _wait(
            partial(_paid_out, runtime, loan_id, order_no), timeout, f"loan {loan_id}: disbursement"
        )
        echo(f"  demo sign-in loan {loan_id}: signed and paid out")


def _status(runtime: Runtime, loan_id: int) -> str:
    with runtime.read_sessions() as session:
        return session.get_one(Loan, loan_id).status


def _paid_out(runtime: Runtime, loan_id: int, order_no: str) -> bool:
    """Whether the loan is running; a failed payout says why at once."""
    with runtime.read_sessions() as session:
        order = payments.order_by_no(session, order_no)
        if order.status == payments.Status.FAILED:
            raise StartupError(
                f"demo: the payout of loan {loan_id} failed ({order.failure_code}): "
                "delete the demo folder and run again"
            )
        return session.get_one(Loan, loan_id).status in RUNNING


def _signed(runtime: Runtime, loan_id: int) -> bool:
    with runtime.read_sessions() as session:
        contract = contract_status.contract_of(session, loan_id)
        return contract is not None and contract.status == "signed"


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise StartupError(
                f"demo: {what} did not complete within {timeout:.0f} s: is the worker "
                "running and does the payment gateway answer? (see the log above)"
            )
        time.sleep(0.2)
