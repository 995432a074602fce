"""Payment orders, by the names plugins and the demo have always imported.

The work is done in four modules, each one job, dependencies one way:
:mod:`~lendkit.clearing.payment_models` (the tables and values),
:mod:`~lendkit.clearing.payment_orders` (the state machine: results,
acknowledgements, reconciliation's corrections),
:mod:`~lendkit.clearing.payment_requests` (new orders in the caller's
transaction) and :mod:`~lendkit.clearing.payment_dispatch` (the worker jobs
that send orders to their channels and query the silent ones). Kernel code
imports those; this module keeps the public names working.
"""

from __future__ import annotations

from lendkit.clearing.payment_dispatch import NOT_ACKNOWLEDGED, instruct_due, query_overdue
from lendkit.clearing.payment_models import (
    FINAL,
    Outcome,
    Payee,
    PaymentOrder,
    PaymentOrderEvent,
    Purpose,
    Status,
)
from lendkit.clearing.payment_orders import (
    apply_ack,
    apply_result,
    business_today,
    force_confirm,
    force_reverse,
    history,
    order_by_no,
)
from lendkit.clearing.payment_requests import request_collection, request_disbursement

__all__ = [
    "FINAL",
    "NOT_ACKNOWLEDGED",
    "Outcome",
    "Payee",
    "PaymentOrder",
    "PaymentOrderEvent",
    "Purpose",
    "Status",
    "apply_ack",
    "apply_result",
    "business_today",
    "force_confirm",
    "force_reverse",
    "history",
    "instruct_due",
    "order_by_no",
    "query_overdue",
    "request_collection",
    "request_disbursement",
]
