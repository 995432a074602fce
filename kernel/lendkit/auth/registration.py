"""Borrower registration: prove the mobile number with an SMS code, then sign in.

A number is registered only by whoever receives its code (purpose
``register``), so nobody can open an account on someone else's number.
Wrong codes count towards the same lock-out as sign-in failures and are
committed before the 401, like every sign-in failure (:mod:`lendkit.auth.login`).
The borrower starts ``registered``; the lifecycle
(:func:`lendkit.lifecycle.borrowers.register`) writes the history row, the
audit row and the ``borrower.registered`` event.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from lendkit.auth import otp
from lendkit.auth.errors import InvalidCredentials
from lendkit.auth.login import _WRONG_CODE, SignedIn, _check_lock, _failed, _guard, _run, _start
from lendkit.auth.passwords import check_borrower_password, hasher_for
from lendkit.crypto.orm import lookup
from lendkit.lifecycle import borrowers
from lendkit.lifecycle.identity import check_phone
from lendkit.runtime import Runtime

__all__ = ["register_borrower"]


def register_borrower(
    runtime: Runtime, phone: str, code: str, password: str | None, now: datetime
) -> tuple[SignedIn, int]:
    """Register ``phone`` with its SMS code; the new session and the borrower id.

    422 ``phone_invalid`` / ``weak_password`` before anything is touched;
    401 ``invalid_credentials`` for a wrong or expired code (counted); 423
    ``locked`` after too many; 409 ``phone_registered`` if the number has an
    account (the code is then left unused).
    """
    settings = runtime.settings
    digits = check_phone(phone)
    if password is not None:
        check_borrower_password(password)
    password_hash = hasher_for(settings).hash(password) if password is not None else None
    created: list[int] = []

    def work(session: Session) -> SignedIn:
        index = lookup(session, "phone", digits)
        guard = _guard(session, index)
        _check_lock(session, guard, "borrower:unregistered", now)
        if not otp.verify(session, settings, index, code, now, purpose="register"):
            raise _failed(
                session,
                settings,
                guard,
                "borrower:unregistered",
                "bad_register_code",
                now,
                InvalidCredentials(_WRONG_CODE),
            )
        borrower = borrowers.register(session, digits, password_hash=password_hash, now=now)
        created.append(borrower.id)
        actor = f"borrower:{borrower.id}"
        return _start(
            session, settings, "borrower", borrower.id, actor, "borrower", now, "register"
        )

    signed_in = _run(runtime, work)
    return signed_in, created[0]
