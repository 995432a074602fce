"""Hook implementations of the identity-sandbox plugin: NOT a real identity check.

The verdict depends only on the name, so a demo can show every outcome:

=====================  ==========  ==========================
the name contains      outcome     reasons
=====================  ==========  ==========================
拒绝 (reject)          rejected    ``name_id_mismatch``
复核 (review)          review      ``face_low_similarity``
anything else          verified    (none)
=====================  ==========  ==========================

The kernel has already checked the form of every field (check digit, birth
date, region, Luhn, mobile format) before this plugin is asked.
"""

from __future__ import annotations

import logging
import secrets

import lendkit
from lendkit.types import ComplianceItem, IdentityClaim, IdentityVerdict

__all__ = ["PROVIDER", "REJECT_MARK", "REVIEW_MARK"]

log = logging.getLogger(__name__)

# Read by the host from this source (like REQUIRES): a warning at every start and a
# banner on every page while this stand-in is enabled.
STAND_IN = "identity checks look at the name only, nobody is verified"

PROVIDER = "identity-sandbox"
REJECT_MARK = "拒绝"
REVIEW_MARK = "复核"


@lendkit.hookimpl
def verify_identity(claim: IdentityClaim) -> IdentityVerdict:
    """A made-up verdict, clearly marked as such (``sandbox=True``)."""
    reference = f"SANDBOX-{secrets.token_hex(6).upper()}"
    # Never the claim's personal data in a log line: the borrower id only.
    log.warning(
        "sandbox identity verifier used: not a real identity check",
        extra={"borrower_id": claim.borrower_id, "reference": reference},
    )
    if REJECT_MARK in claim.name:
        return IdentityVerdict(
            "rejected", PROVIDER, reference, reasons=("name_id_mismatch",), sandbox=True
        )
    if REVIEW_MARK in claim.name:
        return IdentityVerdict(
            "review", PROVIDER, reference, reasons=("face_low_similarity",), sandbox=True
        )
    return IdentityVerdict("verified", PROVIDER, reference, sandbox=True)


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Sandbox identity verifier (demo and tests only; NOT a real identity check)",
            clauses=(
                "网络小额贷款业务管理暂行办法 (客户身份识别: 测试环境 test environment only)",
            ),
            description="Answers verify_identity with made-up verdicts marked sandbox; no "
            "identity is checked. Disable it and enable a licensed identity vendor's plugin "
            "on a production tenant.",
        )
    ]
