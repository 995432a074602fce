"""The transactional outbox on real databases: publish, fan-out, delivery, retries, dead letters."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta, timezone

import lendkit
import pytest
from lendkit import outbox
from lendkit.db import utcnow
from lendkit.models import OutboxDelivery, OutboxEvent
from lendkit.types import Event
from lendkit_marketing.models import Coupon
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

BASE_DELAY = 10.0
MAX_ATTEMPTS = 4
PHONE = "13812345678"


class Subscriber:
    """A test plugin: records every delivery it gets; raises while ``failing``."""

    def __init__(self, *, failing: bool = False, error: str = "downstream unavailable") -> None:
        self.failing = failing
        self.error = error
        self.calls: list[int] = []
        self._lock = threading.Lock()

    @lendkit.hookimpl
    def on_loan_event(self, event: Event, session: Session) -> None:
        with self._lock:
            self.calls.append(event.id)
        if self.failing:
            raise RuntimeError(self.error)


class CouponWriter(Subscriber):
    """A test plugin that writes a coupon in the delivery's session before maybe failing."""

    @lendkit.hookimpl
    def on_loan_event(self, event: Event, session: Session) -> None:
        session.add(Coupon(code=f"TEST-{event.id}", amount=1, source_event_id=event.id))
        session.flush()  # the row really reaches the database before the hook fails
        super().on_loan_event(event, session)


class SlowSubscriber(Subscriber):
    """A test plugin whose deliveries take a moment, so concurrent dispatchers overlap."""

    @lendkit.hookimpl
    def on_loan_event(self, event: Event, session: Session) -> None:
        time.sleep(0.002)
        super().on_loan_event(event, session)


@pytest.fixture
def plugins():
    return []


@pytest.fixture(autouse=True)
def tenant(make_tenant, plugins):
    # Autouse, so it runs before `runtime` opens the tenant it writes.
    return make_tenant(
        plugins=plugins,
        outbox={"max_attempts": MAX_ATTEMPTS, "base_delay_seconds": BASE_DELAY},
    )


@pytest.fixture
def subscribe(runtime):
    """Register test plugins on the tenant's plugin manager; unregistered afterwards."""
    registered = []

    def register(plugin, name):
        runtime.pm.register(plugin, name=name)
        registered.append(plugin)
        return plugin

    yield register
    for plugin in registered:
        if runtime.pm.is_registered(plugin):
            runtime.pm.unregister(plugin)


def publish(runtime, topic="loan.disbursed", **payload):
    with runtime.sessions.begin() as session:
        return outbox.publish(session, topic, payload or {"loan_id": 1}).id


def dispatch(runtime, now=None):
    return outbox.dispatch(runtime.sessions, runtime.pm, runtime.settings.outbox, now or utcnow())


def deliveries(runtime, event_id=None):
    """Delivery rows keyed by subscriber: of one event, or of all (tests with one event)."""
    with runtime.sessions() as session:
        query = select(OutboxDelivery).order_by(OutboxDelivery.id)
        if event_id is not None:
            query = query.where(OutboxDelivery.event_id == event_id)
        return {d.subscriber: d for d in session.scalars(query)}


def count(runtime, model):
    with runtime.sessions() as session:
        return session.scalar(select(func.count()).select_from(model))


# -- publish ---------------------------------------------------------------


def test_an_event_published_in_a_rolled_back_transaction_never_exists(runtime, subscribe):
    listener = subscribe(Subscriber(), "listener")

    def change_that_fails():
        with runtime.sessions.begin() as session:
            outbox.publish(session, "loan.disbursed", {"loan_id": 7})
            raise RuntimeError("change failed")

    with pytest.raises(RuntimeError, match="change failed"):
        change_that_fails()

    assert count(runtime, OutboxEvent) == 0
    assert dispatch(runtime) == outbox.DispatchResult()
    assert listener.calls == []
    assert count(runtime, OutboxDelivery) == 0


def test_a_committed_event_is_delivered_to_each_subscriber_once(runtime, subscribe):
    first = subscribe(Subscriber(), "first")
    second = subscribe(Subscriber(), "second")
    event_id = publish(runtime, "loan.disbursed", loan_id=7)

    assert dispatch(runtime) == outbox.DispatchResult(delivered=2)
    assert dispatch(runtime) == outbox.DispatchResult()
    assert dispatch(runtime, utcnow() + timedelta(days=1)) == outbox.DispatchResult()

    assert first.calls == [event_id]
    assert second.calls == [event_id]
    rows = deliveries(runtime, event_id)
    assert set(rows) == {"first", "second"}
    assert all(d.status == "delivered" and d.attempts == 1 for d in rows.values())
    assert all(d.delivered_at is not None for d in rows.values())


def test_the_hook_receives_the_committed_event(runtime, subscribe):
    received = []

    class Capture:
        @lendkit.hookimpl
        def on_loan_event(self, event: Event) -> None:  # a subset of the arguments is fine
            received.append(event)

    subscribe(Capture(), "capture")
    event_id = publish(runtime, "borrower.registered", borrower_id=42)
    dispatch(runtime)

    [event] = received
    assert (event.id, event.topic, dict(event.payload)) == (
        event_id,
        "borrower.registered",
        {"borrower_id": 42},
    )
    assert event.occurred_at.tzinfo is not None


def test_an_unroutable_topic_is_refused_at_publish_time(runtime):
    with runtime.sessions.begin() as session:
        with pytest.raises(ValueError, match=r"invoice\.sent"):
            outbox.publish(session, "invoice.sent", {"invoice_id": 1})
        assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


# -- retries, isolation between subscribers ---------------------------------


def test_a_failing_subscriber_neither_delays_nor_repeats_another(runtime, subscribe):
    broken = subscribe(Subscriber(failing=True), "broken")
    healthy = subscribe(Subscriber(), "healthy")
    event_id = publish(runtime)
    now = utcnow()

    assert dispatch(runtime, now) == outbox.DispatchResult(delivered=1, retried=1)
    for step in range(1, MAX_ATTEMPTS):
        dispatch(runtime, now + timedelta(seconds=BASE_DELAY * 2**step))

    assert healthy.calls == [event_id]
    assert broken.calls == [event_id] * MAX_ATTEMPTS
    rows = deliveries(runtime, event_id)
    assert (rows["healthy"].status, rows["healthy"].attempts) == ("delivered", 1)
    assert (rows["broken"].status, rows["broken"].attempts) == ("dead", MAX_ATTEMPTS)


def test_failed_deliveries_back_off_exponentially(runtime, subscribe):
    broken = subscribe(Subscriber(failing=True), "broken")
    publish(runtime)
    now = utcnow()

    for attempt in range(1, MAX_ATTEMPTS):
        assert dispatch(runtime, now) == outbox.DispatchResult(retried=1)
        row = deliveries(runtime)["broken"]
        expected = now + timedelta(seconds=BASE_DELAY * 2 ** (attempt - 1))
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", attempt, expected)
        # Not due a moment before the back-off ends, due right at it.
        assert dispatch(runtime, expected - timedelta(seconds=1)) == outbox.DispatchResult()
        now = expected

    assert len(broken.calls) == MAX_ATTEMPTS - 1


def test_due_times_compare_instants_whatever_the_time_zone_of_now(runtime, subscribe):
    subscribe(Subscriber(failing=True), "broken")
    publish(runtime)
    now = utcnow()
    dispatch(runtime, now)  # first attempt fails: due again at now + BASE_DELAY
    shanghai = timezone(timedelta(hours=8))

    early = (now + timedelta(seconds=BASE_DELAY - 1)).astimezone(shanghai)
    due = (now + timedelta(seconds=BASE_DELAY)).astimezone(shanghai)

    assert dispatch(runtime, early) == outbox.DispatchResult()
    assert dispatch(runtime, due) == outbox.DispatchResult(retried=1)
    assert deliveries(runtime)["broken"].next_attempt_at == due + timedelta(seconds=BASE_DELAY * 2)


class TestHookWrites:
    """A hook's writes in its ``session`` share the fate of its delivery.

    The marketing plugin is enabled for its table; it ignores ``loan.*`` topics
    but still gets (and completes) a delivery of its own.
    """

    @pytest.fixture
    def plugins(self):
        return ["marketing"]

    def test_a_failed_hooks_writes_are_rolled_back_but_the_attempt_is_recorded(
        self, runtime, subscribe
    ):
        subscribe(CouponWriter(failing=True, error="ledger offline"), "writer")
        publish(runtime)

        assert dispatch(runtime) == outbox.DispatchResult(delivered=1, retried=1)

        assert count(runtime, Coupon) == 0
        row = deliveries(runtime)["writer"]
        assert (row.status, row.attempts, row.last_error) == (
            "pending",
            1,
            "RuntimeError: ledger offline",
        )

    @pytest.mark.parametrize("flush_in_hook", [True, False], ids=["flush", "no-flush"])
    def test_a_hook_violating_a_constraint_is_retried_and_others_still_deliver(
        self, runtime, subscribe, flush_in_hook
    ):
        with runtime.sessions.begin() as session:
            session.add(Coupon(code="TAKEN", amount=5))

        class Duplicate:
            @lendkit.hookimpl
            def on_loan_event(self, event: Event, session: Session) -> None:
                session.add(Coupon(code="TAKEN", amount=1, source_event_id=event.id))
                if flush_in_hook:
                    session.flush()

        subscribe(Duplicate(), "duplicate")
        event_id = publish(runtime)

        assert dispatch(runtime) == outbox.DispatchResult(delivered=1, retried=1)

        rows = deliveries(runtime, event_id)
        assert (rows["duplicate"].status, rows["duplicate"].attempts) == ("pending", 1)
        assert rows["duplicate"].last_error.startswith("IntegrityError: ")
        assert rows["marketing"].status == "delivered"
        with runtime.sessions() as session:
            assert session.scalars(select(Coupon.code)).all() == ["TAKEN"]

    def test_a_succeeding_hooks_writes_commit_with_its_delivery(self, runtime, subscribe):
        subscribe(CouponWriter(), "writer")
        event_id = publish(runtime)

        assert dispatch(runtime) == outbox.DispatchResult(delivered=2)

        with runtime.sessions() as session:
            assert session.scalars(select(Coupon.code)).all() == [f"TEST-{event_id}"]
        assert deliveries(runtime)["writer"].status == "delivered"


def test_error_text_is_masked_before_it_is_stored(runtime, subscribe):
    subscribe(Subscriber(failing=True, error=f"SMS to {PHONE} rejected"), "sms")
    publish(runtime)
    dispatch(runtime)

    last_error = deliveries(runtime)["sms"].last_error
    assert PHONE not in last_error
    assert last_error == "RuntimeError: SMS to 138****5678 rejected"


# -- dead letters ----------------------------------------------------------


def dead_after_all_attempts(runtime):
    """Dispatch at each back-off until every failing delivery is dead."""
    now = utcnow()
    for attempt in range(MAX_ATTEMPTS):
        dispatch(runtime, now + timedelta(seconds=BASE_DELAY * 2**attempt))


def test_a_delivery_that_keeps_failing_is_dead_lettered(runtime, subscribe):
    subscribe(Subscriber(failing=True), "broken")
    event_id = publish(runtime, "loan.disbursed", loan_id=9)
    now = utcnow()
    results = [
        dispatch(runtime, now + timedelta(seconds=BASE_DELAY * 2**attempt))
        for attempt in range(MAX_ATTEMPTS)
    ]
    assert results[-1] == outbox.DispatchResult(dead=1)
    assert all(r == outbox.DispatchResult(retried=1) for r in results[:-1])

    with runtime.sessions() as session:
        [dead] = outbox.dead_letters(session)
        assert (dead.event_id, dead.subscriber, dead.status, dead.attempts) == (
            event_id,
            "broken",
            "dead",
            MAX_ATTEMPTS,
        )
        assert dead.event.topic == "loan.disbursed"
        assert dead.last_error == "RuntimeError: downstream unavailable"
    # A dead delivery is never attempted again by itself.
    assert dispatch(runtime, now + timedelta(days=30)) == outbox.DispatchResult()


def test_requeue_revives_a_dead_delivery_that_delivers_once_fixed(runtime, subscribe):
    broken = subscribe(Subscriber(failing=True), "broken")
    event_id = publish(runtime)
    dead_after_all_attempts(runtime)

    with runtime.sessions.begin() as session:
        assert outbox.requeue(session) == 1
    row = deliveries(runtime)["broken"]
    assert (row.status, row.attempts) == ("pending", 0)

    broken.failing = False
    assert dispatch(runtime) == outbox.DispatchResult(delivered=1)
    assert deliveries(runtime)["broken"].status == "delivered"
    assert broken.calls == [event_id] * (MAX_ATTEMPTS + 1)
    with runtime.sessions() as session:
        assert outbox.dead_letters(session) == []


def test_requeue_by_id_revives_only_the_given_deliveries(runtime, subscribe):
    subscribe(Subscriber(failing=True), "broken")
    first, second = publish(runtime), publish(runtime)
    dead_after_all_attempts(runtime)
    ids = {event: deliveries(runtime, event)["broken"].id for event in (first, second)}

    with runtime.sessions.begin() as session:
        assert outbox.requeue(session, [ids[second]]) == 1
        assert outbox.requeue(session, [ids[second]]) == 0  # pending now, not dead

    assert deliveries(runtime, first)["broken"].status == "dead"
    assert deliveries(runtime, second)["broken"].status == "pending"


# -- disabled subscribers ---------------------------------------------------


def test_a_disabled_subscribers_deliveries_wait_for_it(runtime, subscribe):
    failing_then_disabled = subscribe(Subscriber(failing=True), "flaky")
    event_id = publish(runtime)
    now = utcnow()
    assert dispatch(runtime, now) == outbox.DispatchResult(retried=1)

    runtime.pm.unregister(failing_then_disabled)
    for days in range(1, 2 * MAX_ATTEMPTS):
        assert dispatch(runtime, now + timedelta(days=days)) == outbox.DispatchResult()
    row = deliveries(runtime)["flaky"]
    assert (row.status, row.attempts) == ("pending", 1)

    back = subscribe(Subscriber(), "flaky")
    assert dispatch(runtime, now + timedelta(days=30)) == outbox.DispatchResult(delivered=1)
    assert back.calls == [event_id]
    assert deliveries(runtime)["flaky"].status == "delivered"


# -- the marketing plugin ---------------------------------------------------


class TestMarketingPlugin:
    @pytest.fixture
    def plugins(self):
        return ["marketing"]

    def coupons(self, runtime):
        with runtime.sessions() as session:
            return [
                (c.code, str(c.amount), c.borrower_id, c.source_event_id)
                for c in session.scalars(select(Coupon).order_by(Coupon.id))
            ]

    def test_one_welcome_coupon_per_registration_however_often_dispatch_runs(self, runtime):
        first = publish(runtime, "borrower.registered", borrower_id=101)
        second = publish(runtime, "borrower.registered", borrower_id=102)
        publish(runtime, "loan.disbursed", loan_id=5)  # not a registration: no coupon

        assert dispatch(runtime) == outbox.DispatchResult(delivered=3)
        for _ in range(3):
            assert dispatch(runtime) == outbox.DispatchResult()

        assert self.coupons(runtime) == [
            (f"WELCOME-{first}", "20.00", 101, first),
            (f"WELCOME-{second}", "20.00", 102, second),
        ]
        assert deliveries(runtime, first)["marketing"].status == "delivered"

    def test_the_coupon_and_the_delivery_commit_together(self, runtime):
        event_id = publish(runtime, "borrower.registered", borrower_id=101)

        def crash_before_commit(session):
            # The outer commit only: a savepoint's release fires this event too.
            nested = session.in_nested_transaction()
            if not nested and session.scalar(select(func.count()).select_from(Coupon)):
                raise RuntimeError("worker crashed before commit")

        sa_event.listen(runtime.sessions, "before_commit", crash_before_commit)
        try:
            with pytest.raises(RuntimeError, match="crashed"):
                dispatch(runtime)
        finally:
            sa_event.remove(runtime.sessions, "before_commit", crash_before_commit)

        # Neither the coupon nor the delivery's progress survived the crash ...
        assert self.coupons(runtime) == []
        row = deliveries(runtime, event_id)["marketing"]
        assert (row.status, row.attempts) == ("pending", 0)
        # ... so the next pass grants the coupon exactly once.
        assert dispatch(runtime) == outbox.DispatchResult(delivered=1)
        assert self.coupons(runtime) == [(f"WELCOME-{event_id}", "20.00", 101, event_id)]
        row = deliveries(runtime, event_id)["marketing"]
        assert (row.status, row.attempts) == ("delivered", 1)

    def test_a_failing_plugin_does_not_hold_back_the_welcome_coupon(self, runtime, subscribe):
        subscribe(Subscriber(failing=True), "broken")
        event_id = publish(runtime, "borrower.registered", borrower_id=101)

        assert dispatch(runtime) == outbox.DispatchResult(delivered=1, retried=1)
        assert self.coupons(runtime) == [(f"WELCOME-{event_id}", "20.00", 101, event_id)]


# -- concurrency -----------------------------------------------------------


def test_concurrent_dispatchers_deliver_every_delivery_exactly_once(runtime, subscribe, backend):
    subscribers = [subscribe(SlowSubscriber(), name) for name in ("audit", "report")]
    events = [publish(runtime, "loan.disbursed", loan_id=n) for n in range(50)]
    expected = len(events) * len(subscribers)
    start = threading.Barrier(2)
    deadline = time.monotonic() + 60
    totals: list[outbox.DispatchResult] = []
    errors: list[BaseException] = []

    def calls():
        return sum(len(s.calls) for s in subscribers)

    def work():
        try:
            start.wait()
            total = outbox.DispatchResult()
            # Keep going until all is done, not just until this worker finds nothing
            # (the other one may hold every event while fanning out).
            while calls() < expected and time.monotonic() < deadline:
                total += dispatch(runtime)
            totals.append(total)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert errors == []
    assert sum(t.delivered for t in totals) == expected
    if backend == "postgresql":  # row locks let both work at once (SQLite takes turns)
        assert all(t.delivered > 0 for t in totals), totals
    assert dispatch(runtime) == outbox.DispatchResult()  # nothing left behind
    for subscriber in subscribers:
        assert Counter(subscriber.calls) == dict.fromkeys(events, 1)
    with runtime.sessions() as session:
        statuses = session.scalars(select(OutboxDelivery.status)).all()
    assert Counter(statuses) == {"delivered": expected}


# -- CLI -------------------------------------------------------------------


def test_cli_lists_dead_letters_and_requeues_them(runtime, subscribe, lendkit_cli):
    broken = subscribe(Subscriber(failing=True, error=f"call {PHONE} failed"), "broken")
    event_id = publish(runtime, "loan.disbursed", loan_id=3)
    dead_after_all_attempts(runtime)
    delivery_id = deliveries(runtime)["broken"].id

    dead = lendkit_cli("outbox", "dead")
    assert dead.returncode == 0, dead.stderr
    lines = dead.stdout.splitlines()
    assert lines[-1] == "1 dead deliveries"
    [row] = lines[:-1]
    assert row.split()[:7] == [
        str(delivery_id),
        "event",
        str(event_id),
        "loan.disbursed",
        "broken",
        "attempts",
        f"{MAX_ATTEMPTS}:",
    ]
    assert row.endswith("RuntimeError: call 138****5678 failed")
    assert PHONE not in dead.stdout

    retried = lendkit_cli("outbox", "retry", "--all")
    assert retried.returncode == 0, retried.stderr
    assert retried.stdout.strip() == "requeued 1 deliveries"
    after = lendkit_cli("outbox", "dead")
    assert after.returncode == 0, after.stderr
    assert after.stdout.strip() == "0 dead deliveries"

    broken.failing = False
    assert dispatch(runtime) == outbox.DispatchResult(delivered=1)
    assert deliveries(runtime)["broken"].status == "delivered"


def test_cli_retry_needs_ids_or_all(runtime, lendkit_cli):
    result = lendkit_cli("outbox", "retry")
    assert result.returncode == 2
    assert "give delivery ids or --all" in result.stderr
