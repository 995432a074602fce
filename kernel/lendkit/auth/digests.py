"""HMAC-SM3 keys for authentication secrets (the digests are :mod:`lendkit.crypto.sm3`).

Keys are derived with HKDF-SM3 from the tenant's ``index`` data key (held
wrapped in ``crypto_key``), one per label, so a database reader without the
master key cannot test guesses of a one-time code against its stored MAC.
"""

from __future__ import annotations

import hmac as std_hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from sqlalchemy.orm import Session

from lendkit.crypto.orm import keyring_of

__all__ = ["derived_key", "equal"]


def derived_key(session: Session, label: str) -> bytes:
    """A 32-byte key for ``label`` (e.g. ``"otp"``), derived from the index key."""
    base = keyring_of(session).single(session.connection(), "index")
    return HKDFExpand(hashes.SM3(), 32, b"lendkit auth " + label.encode()).derive(base)


def equal(a: bytes | str, b: bytes | str) -> bool:
    """Constant-time comparison."""
    if isinstance(a, str):
        a = a.encode()
    if isinstance(b, str):
        b = b.encode()
    return std_hmac.compare_digest(a, b)
