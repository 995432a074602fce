"""Password hashing (argon2id) and the password policy.

Parameters come from ``[auth]`` (defaults: RFC 9106's second recommended
option, t=3, m=64 MiB, p=4; see docs/security.md, "Passwords"). Hashes are
self-describing PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``),
so after the parameters change, :meth:`Hasher.needs_rehash` tells the
sign-in code to store a fresh hash. At most ``password_concurrency`` hashes
run at once, which bounds memory (64 MiB each) under a flood of sign-ins.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Callable
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from lendkit.errors import ValidationFailed
from lendkit.settings import Settings

__all__ = [
    "MAX_LENGTH",
    "STAFF_MIN_LENGTH",
    "Hasher",
    "check_borrower_password",
    "check_staff_password",
    "hasher_for",
]

STAFF_MIN_LENGTH = 10
BORROWER_MIN_LENGTH = 8
MAX_LENGTH = 128  # hashing unbounded input is a denial-of-service lever


class Hasher:
    """argon2id with fixed parameters; thread-safe; bounded concurrency."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int, concurrency: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._slots = threading.BoundedSemaphore(concurrency)
        # Verified against when the account does not exist, so that a wrong
        # username costs the same time as a wrong password.
        self._dummy = self.hash("lendkit timing equaliser")

    def hash(self, password: str) -> str:
        with self._slots:
            return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored``; never raises on bad input."""
        if len(password) > MAX_LENGTH:
            return False
        with self._slots:
            try:
                return self._hasher.verify(stored or self._dummy, password) and stored is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters (or another scheme)."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True


@lru_cache(maxsize=8)
def _hasher(time_cost: int, memory_kib: int, parallelism: int, concurrency: int) -> Hasher:
    return Hasher(time_cost, memory_kib, parallelism, concurrency)


def hasher_for(settings: Settings) -> Hasher:
    """The tenant's hasher (one per parameter set, shared by threads)."""
    auth = settings.auth
    return _hasher(
        auth.password_time_cost,
        auth.password_memory_kib,
        auth.password_parallelism,
        auth.password_concurrency,
    )


def _is_symbol(c: str) -> bool:
    return c in string.punctuation or c == " " or not c.isalnum()


# Upper-case letters, lower-case letters, digits, symbols.
_CLASSES: tuple[Callable[[str], bool], ...] = (str.isupper, str.islower, str.isdigit, _is_symbol)


def _classes(password: str) -> int:
    return sum(any(test(c) for c in password) for test in _CLASSES)


def check_staff_password(password: str, username: str | None = None) -> None:
    """Staff policy: ≥ 10 characters, 3 of 4 character classes, not the username.

    Raises :class:`ValidationFailed` (422, code ``weak_password``) with a
    bilingual message.
    """
    problems = []
    if not STAFF_MIN_LENGTH <= len(password) <= MAX_LENGTH:
        problems.append("length")
    if _classes(password) < 3:
        problems.append("classes")
    if username and username.casefold() in password.casefold():
        problems.append("username")
    if problems:
        raise ValidationFailed(
            f"密码须为 {STAFF_MIN_LENGTH}–{MAX_LENGTH} 位，包含大写字母、小写字母、数字、符号中的"
            "至少三类，且不得包含用户名。"
            f"A staff password needs {STAFF_MIN_LENGTH} to {MAX_LENGTH} characters, at least "
            "three of: upper-case letters, lower-case letters, digits, symbols, and must not "
            "contain the username.",
            code="weak_password",
        )


def check_borrower_password(password: str) -> None:
    """Borrower policy: ≥ 8 characters with letters and digits (422 ``weak_password``)."""
    has_letter = any(c.isalpha() for c in password)
    has_digit = any(c.isdigit() for c in password)
    if not (BORROWER_MIN_LENGTH <= len(password) <= MAX_LENGTH and has_letter and has_digit):
        raise ValidationFailed(
            f"密码须为 {BORROWER_MIN_LENGTH}–{MAX_LENGTH} 位，且同时包含字母和数字。"
            f"A password needs {BORROWER_MIN_LENGTH} to {MAX_LENGTH} characters with both "
            "letters and digits.",
            code="weak_password",
        )
