"""Real-name verification (the ``verify_identity`` hook)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    pass

__all__ = [
    "IdentityClaim",
    "IdentityVerdict",
]


@dataclass(frozen=True, slots=True)
class IdentityClaim:
    """Who a borrower says he is, already checked for form by the kernel.

    The resident ID number passed GB 11643 (check digit, birth date, region),
    the card passed Luhn (or its holder confirmed it), the mobile number is
    a mainland one. ``phone`` is the number the bank holds for the card
    (银行预留手机号), for four-element checks. ``evidence`` carries what the
    borrower's app collected for a vendor (a liveness token, a face-image
    reference), passed through as given. Personal data is left out of
    ``repr``: never log it, never put it in an exception message.
    """

    borrower_id: int
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    bank_card: str = field(repr=False)
    phone: str = field(repr=False)
    birth_date: date = field(repr=False)
    evidence: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)


@dataclass(frozen=True, slots=True)
class IdentityVerdict:
    """A verifier's answer: ``verified``, ``rejected`` or ``review`` (a person decides).

    ``provider`` names the verifier (stored with the KYC history);
    ``reference`` is the vendor's own id of the check, for disputes;
    ``reasons`` are short machine codes (``name_id_mismatch``,
    ``face_low_similarity``, ...) shown to staff, never personal data.
    ``sandbox`` marks a check that proves nothing (demo and tests): the
    kernel shows it as such wherever the result is shown.
    """

    outcome: Literal["verified", "rejected", "review"]
    provider: str
    reference: str = ""
    reasons: tuple[str, ...] = ()
    sandbox: bool = False
