"""The transactional outbox: events written with the change, delivered after commit.

:func:`publish` adds an event in the caller's transaction, so the event
exists if and only if the change committed. The worker calls
:func:`dispatch`, which gives each subscribing plugin its own delivery row,
calls the plugin's event hook inside the delivery's transaction, retries
failures with exponential back-off and dead-letters what keeps failing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pluggy
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from lendkit.db import utcnow
from lendkit.masking import mask_text
from lendkit.models import OutboxDelivery, OutboxEvent
from lendkit.settings import Outbox as OutboxSettings
from lendkit.types import Event

__all__ = ["DispatchResult", "dead_letters", "dispatch", "hook_for", "publish", "requeue"]

log = logging.getLogger(__name__)

# Which event hook receives which topics (first matching prefix wins).
TOPIC_HOOKS: tuple[tuple[str, str], ...] = (
    ("borrower.", "on_loan_event"),
    ("loan.", "on_loan_event"),
    ("application.", "on_loan_event"),
    ("product.", "on_loan_event"),
    ("payment.", "on_payment_event"),
    ("eod.", "on_end_of_day"),
)
MAX_DELAY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DispatchResult:
    delivered: int = 0
    retried: int = 0
    dead: int = 0

    def __add__(self, other: DispatchResult) -> DispatchResult:
        return DispatchResult(
            self.delivered + other.delivered, self.retried + other.retried, self.dead + other.dead
        )


def hook_for(topic: str) -> str:
    for prefix, hook in TOPIC_HOOKS:
        if topic.startswith(prefix):
            return hook
    raise ValueError(f"no event hook takes topic {topic!r}")


def publish(session: Session, topic: str, payload: Mapping[str, Any]) -> OutboxEvent:
    """Record an event in the caller's transaction; delivered after it commits."""
    hook_for(topic)  # refuse unroutable topics at the source, not in the worker
    event = OutboxEvent(topic=topic, payload=dict(payload), created_at=utcnow())
    session.add(event)
    session.flush()
    return event


def dispatch(
    sessions: sessionmaker[Session],
    pm: pluggy.PluginManager,
    settings: OutboxSettings,
    now: datetime | None = None,
) -> DispatchResult:
    """One pass: fan out new events, then deliver what is due (up to a batch)."""
    now = now or utcnow()
    _fan_out(sessions, pm, settings.batch_size)
    # Computed once per pass, not per delivery: the plugin set cannot change mid-pass.
    active = {name for _, hook in TOPIC_HOOKS for name in _subscribers(pm, hook)}
    result = DispatchResult()
    for _ in range(settings.batch_size):
        step = _deliver_one(sessions, pm, settings, now, active)
        if step is None:
            break
        result += step
    return result


def drain(
    sessions: sessionmaker[Session], pm: pluggy.PluginManager, settings: OutboxSettings
) -> DispatchResult:
    """Dispatch until nothing is left to deliver now (the demo's and tests' worker).

    Retries that are not yet due stay waiting, as with the worker.
    """
    total = DispatchResult()
    while True:
        result = dispatch(sessions, pm, settings)
        total += result
        with sessions() as session:
            waiting = session.scalar(select(func.count()).where(OutboxEvent.fanned_out.is_(False)))
        if not result.delivered and not result.retried and not waiting:
            return total


def _subscribers(
    pm: pluggy.PluginManager, hook: str, topic: str | None = None
) -> dict[str, pluggy.HookImpl]:
    """The plugins implementing ``hook``; with ``topic``, only those that want it.

    A plugin (module or object) may declare ``EVENT_TOPICS``, a tuple of
    topic prefixes (``("loan.overdue", "loan.cured")``): it then gets
    deliveries of those topics only, so a narrow subscriber adds no work
    for the rest. Without it, a plugin gets every topic of its hook.
    """
    return {
        impl.plugin_name: impl
        for impl in getattr(pm.hook, hook).get_hookimpls()
        if topic is None or _wants(impl.plugin, topic)
    }


def _wants(plugin: object, topic: str) -> bool:
    prefixes = getattr(plugin, "EVENT_TOPICS", None)
    return prefixes is None or topic.startswith(tuple(prefixes))


def _fan_out(sessions: sessionmaker[Session], pm: pluggy.PluginManager, limit: int) -> None:
    with sessions.begin() as session:
        events = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.fanned_out.is_(False))
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for event in events:
            for name in _subscribers(pm, hook_for(event.topic), event.topic):
                session.add(
                    OutboxDelivery(
                        event_id=event.id, subscriber=name, next_attempt_at=event.created_at
                    )
                )
            event.fanned_out = True


def _deliver_one(
    sessions: sessionmaker[Session],
    pm: pluggy.PluginManager,
    settings: OutboxSettings,
    now: datetime,
    active: set[str],
) -> DispatchResult | None:
    with sessions.begin() as session:
        delivery = session.scalars(
            select(OutboxDelivery)
            .where(
                OutboxDelivery.status == "pending",
                OutboxDelivery.next_attempt_at <= now,
                # A disabled plugin's deliveries wait for it to come back.
                OutboxDelivery.subscriber.in_(active),
            )
            .order_by(OutboxDelivery.next_attempt_at, OutboxDelivery.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if delivery is None:
            return None
        event = delivery.event
        impl = _subscribers(pm, hook_for(event.topic))[delivery.subscriber]
        public = Event(
            id=event.id, topic=event.topic, occurred_at=event.created_at, payload=event.payload
        )
        arguments: dict[str, Any] = {"event": public, "session": session}
        if "business_date" in impl.argnames:  # on_end_of_day: the date that closed
            arguments["business_date"] = date.fromisoformat(event.payload["business_date"])
        delivery.attempts += 1
        try:
            with session.begin_nested():
                impl.function(**{name: arguments[name] for name in impl.argnames})
        except Exception as exc:
            delivery.last_error = mask_text(f"{type(exc).__name__}: {exc}")[:2000]
            if delivery.attempts >= settings.max_attempts:
                delivery.status = "dead"
                log.error(
                    "outbox delivery dead",
                    extra={"delivery": delivery.id, "subscriber": delivery.subscriber},
                )
                return DispatchResult(dead=1)
            delay = timedelta(seconds=settings.base_delay_seconds * 2 ** (delivery.attempts - 1))
            delivery.next_attempt_at = now + min(delay, MAX_DELAY)
            log.warning(
                "outbox delivery failed",
                extra={"delivery": delivery.id, "subscriber": delivery.subscriber},
            )
            return DispatchResult(retried=1)
        delivery.status = "delivered"
        delivery.delivered_at = utcnow()
        return DispatchResult(delivered=1)


def dead_letters(session: Session) -> list[OutboxDelivery]:
    """Deliveries that used up their attempts, oldest first."""
    return list(
        session.scalars(
            select(OutboxDelivery)
            .where(OutboxDelivery.status == "dead")
            .order_by(OutboxDelivery.id)
        )
    )


def requeue(session: Session, delivery_ids: list[int] | None = None) -> int:
    """Give dead deliveries (all, or the given ids) a fresh set of attempts."""
    statement = (
        update(OutboxDelivery)
        .where(OutboxDelivery.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=utcnow())
    )
    if delivery_ids is not None:
        statement = statement.where(OutboxDelivery.id.in_(delivery_ids))
    result = session.execute(statement)
    return int(result.rowcount)  # type: ignore[attr-defined]  # DML results are CursorResults
