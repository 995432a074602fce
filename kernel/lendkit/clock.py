"""The business clock: China's time zone and today's date there.

China has kept one offset, UTC+08:00, and no daylight saving since 1991, so
a fixed offset is exact and needs no time-zone database. Business dates,
ages and the hours collectors may call are all counted in it. This module
is public API: plugins (the sandboxes' stand-in servers among them) take the
zone and today's date from here rather than defining their own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

__all__ = ["CHINA", "china_now", "china_today"]

CHINA = timezone(timedelta(hours=8), "CST")


def china_now() -> datetime:
    """The current time in China (an aware datetime at UTC+08:00)."""
    return datetime.now(CHINA)


def china_today(now: datetime | None = None) -> date:
    """Today's date in China (``now`` defaults to the current time)."""
    return (now or datetime.now(UTC)).astimezone(CHINA).date()
