"""Value types that hook specifications name: the public plugin API.

They are small, immutable and carry data only; see :mod:`lendkit.hookspecs`
for when each one is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["ComplianceItem", "Event", "Job", "KeyWrapper", "ProductSpec"]


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened and was committed; delivered after commit.

    ``id`` is unique and stable across redeliveries: use it to make your
    handler idempotent. ``payload`` holds identifiers and amounts, never
    personal data in clear.
    """

    id: int
    topic: str
    occurred_at: datetime
    payload: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """A loan product a plugin offers; the lifecycle prices and books it.

    Amounts are CNY as ``Decimal``; ``annual_rate`` is a fraction
    (``Decimal("0.109")`` for 10.9 %).
    """

    code: str
    name: str
    min_amount: Decimal
    max_amount: Decimal
    terms_months: tuple[int, ...]
    annual_rate: Decimal
    repayment_methods: tuple[str, ...]
    upfront_fee_rate: Decimal = Decimal("0")
    description: str = ""


@dataclass(frozen=True, slots=True)
class ComplianceItem:
    """One enabled function mapped to the regulation clauses it serves.

    The tenant's compliance package lists one row per item, so a plugin that
    adds a function documents it here.
    """

    function: str
    clauses: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class Job:
    """Work the worker runs every ``every``.

    ``run`` gets the tenant's :class:`~lendkit.runtime.Runtime` (settings and
    ``sessions``, a session factory) and the current time. A job opens its own
    transactions and must be idempotent: after a crash the worker runs it again.
    """

    name: str
    every: timedelta
    run: Callable[[Runtime, datetime], object]


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys: the local master key, or a KMS/HSM plugin.

    ``purpose`` is ``"field"`` or ``"index"`` and must be bound into the
    wrapping, so a key of one purpose cannot be passed off as the other.
    """

    @property
    def name(self) -> str: ...

    def wrap(self, purpose: str, data_key: bytes) -> bytes: ...

    def unwrap(self, purpose: str, wrapped: bytes) -> bytes: ...
