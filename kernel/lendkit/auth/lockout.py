"""Lock-out after repeated failed sign-ins (MLPS 2.0 level 3, GB/T 22239 §8.1.4).

``[auth] max_failed_logins`` failures in a row lock the account for
``lockout_minutes``; a success resets the count. Works on anything with
``failed_logins`` and ``locked_until``: a :class:`~lendkit.models.StaffUser`
or a borrower phone's :class:`~lendkit.auth.models.LoginGuard` (kept for
unknown phone numbers too, so a lock-out reveals nothing about who is a
customer). A locked account is refused before its password is checked.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Protocol

from lendkit.auth.errors import Locked
from lendkit.settings import Settings

__all__ = ["Lockable", "check", "record_failure", "record_success"]


class Lockable(Protocol):
    failed_logins: int
    locked_until: datetime | None


def check(target: Lockable, now: datetime) -> None:
    """Raise :class:`Locked` (423) while ``target`` is locked."""
    if target.locked_until is not None and now < target.locked_until:
        raise Locked(max(1, math.ceil((target.locked_until - now).total_seconds() / 60)))


def record_failure(target: Lockable, settings: Settings, now: datetime) -> bool:
    """Count a failure; returns True when this one locks the account."""
    target.failed_logins = (target.failed_logins or 0) + 1
    if target.failed_logins < settings.auth.max_failed_logins:
        return False
    target.failed_logins = 0
    target.locked_until = now + timedelta(minutes=settings.auth.lockout_minutes)
    return True


def record_success(target: Lockable) -> None:
    target.failed_logins = 0
    target.locked_until = None
