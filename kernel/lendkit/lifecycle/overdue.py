"""Overdue rules as data: buckets, the five-tier classification, penalty rates.

Days past due (DPD) count from the due date of the oldest unpaid
instalment. Buckets follow the industry's M-notation; the classification
follows the 2023 rules on financial assets' risk classification (金融资产风险
分类办法): overdue more than 90 days is at least substandard, more than 270
doubtful, more than 360 loss. Thresholds are the lower bound of each tier;
a tenant sets its own classification thresholds in ``[lifecycle]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from lendkit.settings import Lifecycle

__all__ = ["BUCKETS", "CLASSES", "bucket_of", "classes_of", "classify", "penalty_rate"]

BUCKETS: Final[tuple[tuple[int, str], ...]] = (
    (0, "M0"),  # current
    (1, "M1"),  # 1–30 days
    (31, "M2"),
    (61, "M3"),
    (91, "M3+"),
)
CLASSES: Final[tuple[tuple[int, str], ...]] = (
    (0, "normal"),  # 正常
    (1, "special_mention"),  # 关注
    (91, "substandard"),  # 次级
    (271, "doubtful"),  # 可疑
    (361, "loss"),  # 损失
)


def _tier(dpd: int, table: Sequence[tuple[int, str]]) -> str:
    # Five tiers at most, lowest first: a scan from the top beats building a
    # bisect key each call (end of day asks twice per loan).
    for low, name in reversed(table):
        if dpd >= low:
            return name
    return table[0][1]


def bucket_of(dpd: int) -> str:
    return _tier(dpd, BUCKETS)


def classify(dpd: int, classes: Sequence[tuple[int, str]] = CLASSES) -> str:
    return _tier(dpd, classes)


def classes_of(settings: Lifecycle) -> tuple[tuple[int, str], ...]:
    """The tenant's classification thresholds (``[lifecycle]``) as a table."""
    return (
        (0, "normal"),
        (settings.special_mention_from, "special_mention"),
        (settings.substandard_from, "substandard"),
        (settings.doubtful_from, "doubtful"),
        (settings.loss_from, "loss"),
    )


def penalty_rate(annual_rate: Decimal, multiplier: Decimal, cap: Decimal) -> tuple[Decimal, bool]:
    """The annual penalty rate on overdue principal and whether the cap clipped it.

    Once an instalment is overdue its principal earns penalty interest
    instead of contract interest, so the penalty rate is that principal's
    whole cost: clipping it at the cap keeps the all-in cost within it.
    """
    wanted = annual_rate * multiplier
    return (cap, True) if wanted > cap else (wanted, False)
