"""Events the outbox delivers after commit (the event hooks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

__all__ = [
    "Event",
]


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
