"""Built-in plugin: borrowers' real-name verification (KYC) and consents.

Registers the routes of :mod:`lendkit.lifecycle.api_borrowers` and maps the
functions to the clauses they serve. The identity check itself is the
``verify_identity`` hook's: vendors' plugins, or the sandbox in the demo.
"""

from __future__ import annotations

from litestar.types import ControllerRouterHandler

import lendkit
from lendkit.lifecycle import api_borrowers
from lendkit.types import ComplianceItem

__all__: list[str] = []


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return list(api_borrowers.ROUTES)


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Real-name verification of borrowers (KYC)",
            clauses=(
                "网络小额贷款业务管理暂行办法 (客户身份识别 customer identification)",
                "反洗钱法 (客户尽职调查 customer due diligence)",
            ),
            description="Name, resident ID (GB 11643), bank card and mobile checked for form; "
            "one account per ID number; identity verified by a vendor plugin through the "
            "verify_identity hook, failing safe to manual review; every status change "
            "recorded append-only and audited.",
        ),
        ComplianceItem(
            function="Borrower consents: privacy policy, credit-report queries and reporting",
            clauses=("征信业管理条例 第十八条、第二十九条", "个人信息保护法 第十三条、第十五条"),
            description="Each authorization is recorded with the text's version and SM3 digest, "
            "time and channel, append-only; credit queries and reports require an active "
            "authorization (require_consent); revocation is honoured at once.",
        ),
    ]
