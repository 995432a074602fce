"""Built-in plugin: the kernel's products, compliance map and worker jobs."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import lendkit
from lendkit import outbox
from lendkit.crypto.keys import load_master_key
from lendkit.runtime import Runtime
from lendkit.settings import Settings
from lendkit.types import ComplianceItem, Job, KeyWrapper, ProductSpec

__all__: list[str] = []


@lendkit.hookimpl
def register_products() -> list[ProductSpec]:
    return [
        ProductSpec(
            code="consumer-12",
            name="消费贷 Consumer instalment loan",
            min_amount=Decimal("1000.00"),
            max_amount=Decimal("200000.00"),
            terms_months=(3, 6, 12, 24),
            annual_rate=Decimal("0.1090"),
            repayment_methods=("equal-installment", "equal-principal"),
            upfront_fee_rate=Decimal("0.0100"),
            description="等额本息 / 等额本金, monthly instalments.",
        ),
        ProductSpec(
            code="business-bullet",
            name="经营贷 Business loan, interest first",
            min_amount=Decimal("10000.00"),
            max_amount=Decimal("300000.00"),
            terms_months=(6, 12),
            annual_rate=Decimal("0.1440"),
            repayment_methods=("interest-first", "bullet"),
            description="先息后本 or 到期一次还本付息.",
        ),
    ]


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Loan lifecycle and annualized-rate disclosure",
            clauses=("网络小额贷款业务管理暂行办法 第十二条", "中国人民银行公告〔2021〕第3号"),
            description="Every offer shows the all-in annualized rate; caps are enforced in the kernel.",
        ),
        ComplianceItem(
            function="Event outbox",
            clauses=("网络小额贷款业务管理暂行办法 第三十条 (数据报送)",),
            description="Every state change reaches reporting plugins after commit, retried, never lost.",
        ),
    ]


def _dispatch_outbox(runtime: Runtime, now: datetime) -> object:
    return outbox.dispatch(runtime.sessions, runtime.pm, runtime.settings.outbox, now)


@lendkit.hookimpl(trylast=True)
def key_wrapper(settings: Settings) -> KeyWrapper:
    return load_master_key(settings)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [Job(name="outbox", every=timedelta(seconds=1), run=_dispatch_outbox)]
