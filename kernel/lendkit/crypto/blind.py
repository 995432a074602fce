"""Blind indexes: HMAC-SM3 over a normalized value, for lookups without decrypting.

Each kind of value has one normalization, so ``"138 1234 5678"`` and
``"+8613812345678"`` find the same borrower.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from lendkit.crypto.sm3 import hmac_sm3

__all__ = ["NORMALIZERS", "blind_index", "normalize"]


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _phone(value: str) -> str:
    digits = _digits(value)
    return digits[2:] if len(digits) == 13 and digits.startswith("86") else digits


def _text(value: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", value).split())


NORMALIZERS: dict[str, Callable[[str], str]] = {
    "id_number": lambda v: re.sub(r"\s", "", unicodedata.normalize("NFKC", v)).upper(),
    "phone": _phone,
    "card": _digits,
    "text": _text,
    # An app's device fingerprint: as sent, bar width variants and surrounding space.
    "device": lambda v: unicodedata.normalize("NFKC", v).strip(),
}


def normalize(kind: str, value: str) -> str:
    return NORMALIZERS[kind](value)


def blind_index(key: bytes, kind: str, value: str) -> bytes:
    """HMAC-SM3 of ``kind`` and the normalized value (kinds never collide)."""
    return hmac_sm3(key, kind.encode() + b"\0" + normalize(kind, value).encode())
