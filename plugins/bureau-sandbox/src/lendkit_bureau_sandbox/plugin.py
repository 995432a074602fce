"""Hook implementations of the bureau-sandbox plugin: NOT a real credit report.

Everything follows from the borrower id, through SHA-256 of
``bureau-sandbox:<id>``, so a borrower gets the same report every time and
a demo shows every outcome across a few borrowers:

* ``score`` = 450 + (the first two bytes, big-endian, mod 401): 450 to 850;
* ``delinquencies``: 0 from 600 up, 1 from 520 to 599, 3 below 520;
* ``open_loans`` = the third byte mod 4, and ``debt`` = open loans ×
  (the fourth byte mod 20 + 1) × 1,000 CNY;
* the proposed limit follows the score band: A (750 and up) 100,000 CNY,
  B (650–749) 50,000, C (600–649) 20,000, D (500–599) 5,000, E (below
  500) nothing.

The kernel has already checked the borrower's credit-query consent before
this plugin is asked.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from decimal import Decimal

import lendkit
from lendkit.types import Applicant, ComplianceItem, CreditReport, LimitProposal

__all__ = ["BANDS", "PROVIDER", "SandboxProfile", "profile"]

log = logging.getLogger(__name__)

# Read by the host from this source (like REQUIRES): a warning at every start and a
# banner on every page while this stand-in is enabled.
STAND_IN = "credit reports are made up, no bureau is asked"

PROVIDER = "bureau-sandbox"
# (lowest score, band, limit in CNY), best first.
BANDS: tuple[tuple[int, str, Decimal], ...] = (
    (750, "A", Decimal("100000.00")),
    (650, "B", Decimal("50000.00")),
    (600, "C", Decimal("20000.00")),
    (500, "D", Decimal("5000.00")),
    (0, "E", Decimal("0.00")),
)


@dataclass(frozen=True, slots=True)
class SandboxProfile:
    """What the sandbox says about one borrower, always the same."""

    score: int
    delinquencies: int
    open_loans: int
    debt: Decimal
    band: str
    limit: Decimal
    reference: str


def profile(borrower_id: int) -> SandboxProfile:
    """The made-up credit profile of ``borrower_id``: a function of the id alone."""
    digest = hashlib.sha256(f"{PROVIDER}:{borrower_id}".encode()).digest()
    score = 450 + int.from_bytes(digest[:2], "big") % 401
    delinquencies = 0 if score >= 600 else 1 if score >= 520 else 3
    open_loans = digest[2] % 4
    debt = Decimal(open_loans * (digest[3] % 20 + 1) * 1000).quantize(Decimal("0.01"))
    band, limit = next((b, lim) for low, b, lim in BANDS if score >= low)
    return SandboxProfile(
        score=score,
        delinquencies=delinquencies,
        open_loans=open_loans,
        debt=debt,
        band=band,
        limit=limit,
        reference=f"SANDBOX-CR-{digest[4:10].hex().upper()}",
    )


@lendkit.hookimpl
def credit_report(applicant: Applicant) -> CreditReport:
    """A made-up report, clearly marked as such (``sandbox=True``)."""
    found = profile(applicant.borrower_id)
    log.warning(
        "sandbox credit bureau used: not a real credit report",
        extra={"borrower_id": applicant.borrower_id, "reference": found.reference},
    )
    return CreditReport(
        provider=PROVIDER,
        reference=found.reference,
        score=found.score,
        delinquencies=found.delinquencies,
        open_loans=found.open_loans,
        debt=found.debt,
        details={"band": found.band, "notice": "sandbox: not a real credit report"},
        sandbox=True,
    )


@lendkit.hookimpl
def propose_credit_limit(applicant: Applicant) -> LimitProposal:
    """The limit of the borrower's made-up score band."""
    found = profile(applicant.borrower_id)
    return LimitProposal(
        provider=PROVIDER, limit=found.limit, reasons=(f"sandbox_band_{found.band.lower()}",)
    )


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Sandbox credit bureau (demo and tests only; NOT a real credit report)",
            clauses=("征信业管理条例 (测试环境 test environment only: no bureau is queried)",),
            description="Answers credit_report and propose_credit_limit with made-up figures "
            "derived from the borrower id, marked sandbox; no bureau is asked. Disable it and "
            "enable a licensed bureau's plugin on a production tenant.",
        )
    ]
