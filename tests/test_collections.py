"""Collections on real databases: the overdue queue, cases opened and closed by loan events,
assignment, promises to pay kept and broken, contact rules, append-only history, due-date
reminders through the SMS sender, and the staff API over loopback HTTP."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
import lendkit
import pytest
from lendkit import outbox, registry
from lendkit.audit import AuditEntry
from lendkit.auth.testing import staff_headers
from lendkit.clearing import ledger
from lendkit.errors import ConflictError, LendkitError, ValidationFailed
from lendkit.lifecycle import (
    allocation,
    booking,
    collection_cases,
    collection_contacts,
    collection_promises,
    collection_queue,
    collection_reminders,
    collections_api,
    eod,
)
from lendkit.lifecycle.collection_models import (
    Assignment,
    CollectionCase,
    Contact,
    Note,
    Promise,
    Reminder,
)
from lendkit.lifecycle.loan_models import Loan, LoanEvent
from lendkit.models import Borrower, OutboxEvent, StaffUser
from lendkit.testing.factories import add_capital, disbursed_loan
from lendkit.types import ContactReceipt, ContactRequest, Event
from lendkit_sms_sandbox import messages
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError

D = Decimal
START = date(2026, 1, 15)  # first instalment due 2026-02-15
OVERDUE_DAY = date(2026, 2, 16)  # one day past it
CST = 8  # China is UTC+8


@pytest.fixture(autouse=True)
def tenant(make_tenant):
    """A tenant whose SMS go to the stand-in sender, so tests can read what was sent."""
    return make_tenant(plugins=["sms-sandbox"])


def kept(runtime):
    """The SMS the stand-in sender kept, newest first."""
    with runtime.read_sessions() as session:
        return messages(session, limit=500)


def china(day: date, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` China time on ``day``, as an aware UTC datetime."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=CST)


def terms(person: int, **changes) -> booking.Terms:
    values = dict(
        borrower_id=person,
        product_code="cash",
        principal=D("12000.00"),
        term=12,
        method="equal-installment",
        annual_rate=D("0.12"),
    )
    return booking.Terms(**(values | changes))


def add_borrower(session, n: int, name: str = "张三丰") -> int:
    person = Borrower(phone=f"139{n:08d}", name=name, kyc_status="verified")
    session.add(person)
    session.flush()
    return person.id


def make_loans(runtime, specs) -> list[int]:
    """Loans of ``(borrower number, disbursement day, principal)``; their ids."""
    ids = []
    with runtime.sessions.begin() as session:
        add_capital(session, "own", D("10000000"), date(2025, 1, 1), "capital")
        people: dict[int, int] = {}
        for n, (who, day, principal) in enumerate(specs):
            if who not in people:
                people[who] = add_borrower(session, who)
            loan = disbursed_loan(
                session,
                runtime,
                terms(people[who], principal=principal),
                channel="sandbox",
                key=f"L{n}",
                day=day,
            )
            ids.append(loan.id)
    return ids


def deliver(runtime) -> None:
    """Run the outbox until nothing is left to deliver."""
    while outbox.dispatch(runtime.sessions, runtime.pm, runtime.settings.outbox) != (
        outbox.DispatchResult()
    ):
        pass


def overdue_loans(runtime, specs, day: date = OVERDUE_DAY) -> list[int]:
    """Loans made overdue by one end of day on ``day`` (the first run may start anywhere)."""
    ids = make_loans(runtime, specs)
    eod.run(runtime, day)
    deliver(runtime)
    return ids


def pay(runtime, loan_id: int, amount: str, day: date, key: str) -> allocation.Allocation:
    """A collected repayment: into suspense, then allocated (as test_eod does)."""
    with runtime.sessions.begin() as session:
        ledger.post(
            session,
            business_date=day,
            idempotency_key=key,
            cause="test",
            lines=[
                ledger.Line.debit("channel_in_transit:sandbox", D(amount), loan_id=loan_id),
                ledger.Line.credit("borrower_suspense", D(amount), loan_id=loan_id),
            ],
        )
        return allocation.allocate(
            session, loan_id, D(amount), channel="sandbox", idempotency_key=key, business_date=day
        )


def add_staff(runtime, username: str, role: str) -> None:
    staff_headers(runtime, role, username)


def may_collect(runtime):
    matrix = registry.permissions(runtime.pm)
    return lambda role: matrix.allows(role, "collections.work")


def cases(runtime, loan_id):
    with runtime.read_sessions() as session:
        return [
            (c.status, c.close_reason, c.opened_by.split(":")[0])
            for c in session.scalars(
                select(CollectionCase)
                .where(CollectionCase.loan_id == loan_id)
                .order_by(CollectionCase.id)
            )
        ]


def count(runtime, model, *where) -> int:
    with runtime.read_sessions() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def bilingual(detail: str) -> None:
    assert re.search(r"[\u4e00-\u9fff]", detail), detail
    assert re.search(r"[A-Za-z]{4,}", detail), detail


# -- Cases and the queue ---------------------------------------------------------------


def test_overdue_loans_fill_the_queue_worst_bucket_first_then_dpd_then_amount(runtime):
    old, small, big, current = overdue_loans(
        runtime,
        [
            (1, date(2025, 11, 15), D("12000")),  # three instalments unpaid: 63 days, M3
            (2, START, D("12000")),  # one day past due, M1
            (3, START, D("24000")),  # one day past due, M1, twice the amount
            (4, date(2026, 1, 20), D("50000")),  # first due 2026-02-20: not overdue
        ],
    )
    with runtime.read_sessions() as session:
        page = collection_queue.queue(session)
        m3 = collection_queue.queue(session, bucket="M3")
        unassigned = collection_queue.queue(session, collector="none")
        second = collection_queue.queue(session, limit=1, offset=1)

    assert [i["loan_id"] for i in page["items"]] == [old, big, small]
    assert page["total"] == 3
    assert current not in [i["loan_id"] for i in page["items"]]
    first = page["items"][0]
    assert (first["bucket"], first["dpd"], first["classification"]) == ("M3", 63, "special_mention")
    by_id = {i["loan_id"]: i for i in page["items"]}
    assert by_id[small]["amount_due"] == "1066.19"  # the first instalment
    assert D(by_id[big]["amount_due"]) > D(by_id[small]["amount_due"])
    assert first["borrower_name"] == "张**"
    assert first["collector"] is None
    assert [i["loan_id"] for i in m3["items"]] == [old]
    assert unassigned["total"] == 3
    assert [i["loan_id"] for i in second["items"]] == [big]
    assert second["total"] == 3
    # The loan.overdue events opened one case per overdue loan, none for the current one.
    for loan_id in (old, small, big):
        assert cases(runtime, loan_id) == [("open", None, "event")]
        assert page["items"][[old, big, small].index(loan_id)]["case_id"] is not None
    assert cases(runtime, current) == []


def test_a_bad_bucket_or_page_is_refused_with_a_code(runtime):
    with runtime.read_sessions() as session:
        with pytest.raises(ValidationFailed) as bad_bucket:
            collection_queue.queue(session, bucket="M9")
        with pytest.raises(ValidationFailed) as bad_page:
            collection_queue.queue(session, limit=1000)
    assert bad_bucket.value.code == "bucket_invalid"
    assert bad_page.value.code == "page_invalid"
    bilingual(bad_bucket.value.detail)


def test_a_cure_closes_the_case_and_a_late_overdue_event_does_not_reopen_it(runtime):
    (loan_id,) = overdue_loans(runtime, [(1, START, D("12000"))])
    assert cases(runtime, loan_id) == [("open", None, "event")]

    allocation = pay(runtime, loan_id, "1066.66", date(2026, 2, 17), "collect-1")
    deliver(runtime)

    assert allocation.repayment.penalty == D("0.47")  # cured: penalty, interest, principal paid
    assert cases(runtime, loan_id) == [("closed", "cured", "event")]
    with pytest.raises(DBAPIError), runtime.sessions.begin() as session:
        session.execute(update(CollectionCase).values(status="open"))  # closed stays closed
    with runtime.read_sessions() as session:
        assert collection_queue.queue(session)["total"] == 0
        stale = session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "loan.overdue")
        ).one()
    # The outbox delivers at least once: the old overdue event again changes nothing.
    with runtime.sessions.begin() as session:
        collections_api.on_loan_event(
            event=Event(
                id=stale.id, topic=stale.topic, occurred_at=stale.created_at, payload=stale.payload
            ),
            session=session,
        )
    assert cases(runtime, loan_id) == [("closed", "cured", "event")]


def test_an_action_on_a_loan_without_a_case_opens_one_and_a_current_loan_has_none(runtime):
    overdue_id, current_id = make_loans(
        runtime, [(1, START, D("12000")), (2, date(2026, 1, 20), D("12000"))]
    )
    eod.run(runtime, OVERDUE_DAY)  # no delivery yet: the events wait in the outbox
    with runtime.sessions.begin() as session:
        note = collection_cases.add_note(
            session, overdue_id, "借款人称下周还款", actor="staff:alice", business_date=OVERDUE_DAY
        )
        with pytest.raises(ConflictError) as refused:
            collection_cases.add_note(
                session, current_id, "note", actor="staff:alice", business_date=OVERDUE_DAY
            )
    assert refused.value.code == "loan_not_overdue"
    bilingual(refused.value.detail)
    assert cases(runtime, overdue_id) == [("open", None, "staff")]
    deliver(runtime)  # the overdue event finds the case open: still one
    assert cases(runtime, overdue_id) == [("open", None, "staff")]
    assert note.case_id is not None


# -- Assignment --------------------------------------------------------------------------


def test_assignment_keeps_its_history_and_is_audited(runtime):
    (loan_id,) = overdue_loans(runtime, [(1, START, D("12000"))])
    for username, role in (("alice", "collections"), ("bob", "collections"), ("fay", "finance")):
        add_staff(runtime, username, role)
    allowed = may_collect(runtime)

    def assign(collector, **extra):
        with runtime.sessions.begin() as session:
            return collection_cases.assign(
                session,
                loan_id,
                collector,
                actor="staff:rita",
                may_collect=allowed,
                business_date=OVERDUE_DAY,
                **extra,
            ).collector_id

    alice = assign("alice", note="首次分案")
    assign("alice")  # already hers: nothing new
    bob = assign("bob")
    assert assign(None) is None
    with pytest.raises(ValidationFailed) as not_a_collector:
        assign("fay")
    with pytest.raises(LendkitError) as unknown:
        assign("nobody")

    assert (not_a_collector.value.code, unknown.value.code) == (
        "collector_not_allowed",
        "unknown_collector",
    )
    with runtime.read_sessions() as session:
        history = [
            (a.previous_id, a.collector_id, a.assigned_by, a.note)
            for a in session.scalars(select(Assignment).order_by(Assignment.id))
        ]
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "collections.assigned")
        ).all()
        view = collection_queue.case_view(session, loan_id)
    assert history == [
        (None, alice, "staff:rita", "首次分案"),
        (alice, bob, "staff:rita", None),
        (bob, None, "staff:rita", None),
    ]
    assert [
        (e.actor, e.object, e.details["collector"], e.details["previous"]) for e in audited
    ] == [
        ("staff:rita", f"loan:{loan_id}", "alice", None),
        ("staff:rita", f"loan:{loan_id}", "bob", "alice"),
        ("staff:rita", f"loan:{loan_id}", None, "bob"),
    ]
    assert [a["collector"] for a in view["assignments"]] == ["alice", "bob", None]
    assert view["case"]["collector"] is None


# -- Promises to pay --------------------------------------------------------------------


def test_promises_are_judged_kept_or_broken_once_their_date_has_passed(runtime):
    paying, silent = overdue_loans(runtime, [(1, START, D("12000")), (2, START, D("12000"))])
    made_on = date(2026, 2, 17)
    with runtime.sessions.begin() as session:
        kept = collection_promises.promise(
            session, paying, "1066.66", "2026-02-20", actor="staff:alice", business_date=made_on
        ).id
        broken = collection_promises.promise(
            session, silent, "500.00", "2026-02-20", actor="staff:alice", business_date=made_on
        ).id
    pay(runtime, paying, "1066.66", date(2026, 2, 18), "collect-1")

    with runtime.sessions.begin() as session:
        assert collection_promises.evaluate_promises(session, date(2026, 2, 20)) == {
            "kept": 0,
            "broken": 0,
        }  # the date itself has not passed
    job = {j.name: j for j in registry.jobs(runtime.pm)}["collections-promises"]
    assert job.run(runtime, china(date(2026, 2, 21), 9)) == {"kept": 1, "broken": 1}
    assert job.run(runtime, china(date(2026, 2, 22), 9)) == {"kept": 0, "broken": 0}

    with runtime.read_sessions() as session:
        judged = {
            p.id: (p.status, p.paid, p.evaluated_on) for p in session.scalars(select(Promise))
        }
        kinds = session.scalars(
            select(LoanEvent.kind).where(LoanEvent.kind.like("promise_%")).order_by(LoanEvent.id)
        ).all()
    assert judged == {
        kept: ("kept", D("1066.66"), date(2026, 2, 21)),
        broken: ("broken", D("0.00"), date(2026, 2, 21)),
    }
    assert kinds == ["promise_made", "promise_made", "promise_kept", "promise_broken"]
    # A judged promise never changes again: the database refuses it.
    with pytest.raises(DBAPIError), runtime.sessions.begin() as session:
        session.execute(update(Promise).where(Promise.id == broken).values(status="kept"))
    with pytest.raises(DBAPIError), runtime.sessions.begin() as session:
        session.execute(delete(Promise))


@pytest.mark.parametrize(
    ("amount", "when", "code"),
    [
        ("0", "2026-02-20", "promise_amount_invalid"),
        (12.5, "2026-02-20", "promise_amount_invalid"),  # a float is never money
        ("99999.00", "2026-02-20", "promise_amount_invalid"),  # more than owed
        ("100.00", "2026-02-16", "promise_date_invalid"),  # before today
        ("100.00", "2026-03-20", "promise_date_invalid"),  # beyond 30 days
        ("100.00", "20.2.2026", "promise_date_invalid"),
    ],
)
def test_a_bad_promise_is_refused_with_a_code(runtime, amount, when, code):
    (loan_id,) = overdue_loans(runtime, [(1, START, D("12000"))])
    with pytest.raises(ValidationFailed) as refused, runtime.sessions.begin() as session:
        collection_promises.promise(
            session, loan_id, amount, when, actor="staff:a", business_date=date(2026, 2, 17)
        )
    assert refused.value.code == code
    bilingual(refused.value.detail)
    assert count(runtime, Promise) == 0


# -- Contacts --------------------------------------------------------------------------


def test_contact_limits_refuse_a_fourth_contact_a_day_and_quiet_hours(runtime):
    first, second = overdue_loans(runtime, [(1, START, D("12000")), (1, START, D("6000"))])
    day = date(2026, 2, 17)

    def contact(loan_id, at, channel="call"):
        with runtime.sessions.begin() as session:
            return collection_contacts.record_contact(
                session,
                loan_id,
                channel=channel,
                outcome="no_answer",
                actor="staff:alice",
                now=at,
            )

    contact(first, china(day, 8, 0))  # quiet hours end at 08:00
    contact(second, china(day, 12), channel="sms")  # the same borrower, another loan
    contact(first, china(day, 20, 59), channel="visit")
    with pytest.raises(LendkitError) as fourth:
        contact(second, china(day, 20, 59))
    with pytest.raises(ConflictError) as late:
        contact(first, china(day + timedelta(days=1), 21, 0))
    with pytest.raises(ConflictError) as early:
        contact(first, china(day + timedelta(days=1), 7, 59))
    contact(first, china(day + timedelta(days=1), 9))  # a new day, a new allowance

    assert (fourth.value.status, fourth.value.code) == (429, "contact_limit_reached")
    assert (late.value.code, early.value.code) == ("contact_quiet_hours", "contact_quiet_hours")
    bilingual(fourth.value.detail)
    bilingual(late.value.detail)
    assert count(runtime, Contact) == 4  # refusals wrote nothing


def test_a_bad_channel_or_outcome_is_refused(runtime):
    (loan_id,) = overdue_loans(runtime, [(1, START, D("12000"))])
    for changes, code in (
        ({"channel": "wechat"}, "contact_channel_invalid"),
        ({"outcome": "threatened"}, "contact_outcome_invalid"),
    ):
        with pytest.raises(ValidationFailed) as refused, runtime.sessions.begin() as session:
            collection_contacts.record_contact(
                session,
                loan_id,
                **({"channel": "call", "outcome": "reached"} | changes),
                actor="staff:alice",
                now=china(date(2026, 2, 17), 10),
            )
        assert refused.value.code == code


def test_notes_and_contacts_are_append_only_and_never_keep_a_phone_number(runtime):
    (loan_id,) = overdue_loans(runtime, [(1, START, D("12000"))])
    with runtime.sessions.begin() as session:
        note = collection_cases.add_note(
            session,
            loan_id,
            "借款人换号了，新号 13812345678 / new number",
            actor="staff:alice",
            business_date=date(2026, 2, 17),
        )
        collection_contacts.record_contact(
            session,
            loan_id,
            channel="call",
            outcome="reached",
            note="打了 13812345678",
            actor="staff:alice",
            now=china(date(2026, 2, 17), 10),
        )
    with runtime.read_sessions() as session:
        stored = session.get(Note, note.id).text
        contact_note = session.scalars(select(Contact.note)).one()
    assert "13812345678" not in stored
    assert "138****5678" in stored
    assert contact_note == "打了 138****5678"
    for model in (Note, Contact):
        with pytest.raises(DBAPIError), runtime.sessions.begin() as session:
            session.execute(update(model).values(actor="staff:mallory") if model is Contact
                            else update(model).values(author="staff:mallory"))  # fmt: skip
        with pytest.raises(DBAPIError), runtime.sessions.begin() as session:
            session.execute(delete(model))
    assert (count(runtime, Note), count(runtime, Contact)) == (1, 1)


def test_a_call_nobody_delivers_is_503_but_logged_and_counted(runtime):
    (loan_id,) = overdue_loans(runtime, [(1, START, D("12000"))])
    with pytest.raises(collection_contacts.ContactUnavailable) as unavailable:
        collection_contacts.reach(
            runtime, loan_id, channel="call", actor="staff:alice", now=china(date(2026, 2, 17), 10)
        )
    assert (unavailable.value.status, unavailable.value.code) == (503, "contact_unavailable")
    bilingual(unavailable.value.detail)
    with runtime.read_sessions() as session:
        rows = session.scalars(select(Contact).order_by(Contact.id)).all()
        made_today = collection_contacts.check_contact_allowed(
            session, rows[0].borrower_id, china(date(2026, 2, 17), 11)
        )
    assert [(r.kind, r.outcome, r.note, r.attempt_id) for r in rows] == [
        ("attempt", "requested", None, None),
        ("result", "failed", "no_contact_plugin", rows[0].id),
    ]
    assert made_today == 1  # the attempt counts, its result does not


# -- Reminders -------------------------------------------------------------------------


def test_a_due_soon_reminder_reaches_the_borrower_once_and_not_at_night(runtime):
    (loan_id,) = make_loans(runtime, [(1, START, D("12000"))])
    eod.run(runtime, date(2026, 2, 12))  # three days before the first due date
    deliver(runtime)
    with runtime.read_sessions() as session:
        event = session.scalars(
            select(OutboxEvent).where(OutboxEvent.topic == "loan.due_soon")
        ).one()
    # Delivered again (at least once): still one reminder.
    with runtime.sessions.begin() as session:
        collections_api.on_loan_event(
            event=Event(
                id=event.id, topic=event.topic, occurred_at=event.created_at, payload=event.payload
            ),
            session=session,
        )
    assert count(runtime, Reminder) == 1

    job = {j.name: j for j in registry.jobs(runtime.pm)}["collections-reminders"]
    assert job.run(runtime, china(date(2026, 2, 12), 23, 30)) == {}  # quiet hours: it waits
    assert kept(runtime) == []
    assert job.run(runtime, china(date(2026, 2, 13), 9)) == {"sent": 1}
    assert job.run(runtime, china(date(2026, 2, 13), 10)) == {}

    with runtime.read_sessions() as session:
        [message] = messages(session)
        reminder = session.scalars(select(Reminder)).one()
        phone = session.get(Borrower, session.get(Loan, loan_id).borrower_id).phone
        assert messages(session, to=phone) == [message]
    assert (message.template, message.to_masked) == ("loan_due_soon", "139****0001")
    assert "1066.19" in message.text
    assert "2026-02-15" in message.text
    assert (reminder.status, reminder.message_id, reminder.event_id) == (
        "sent",
        message.message_id,
        event.id,
    )


def test_a_reminder_paid_before_it_is_sent_is_skipped(runtime):
    (loan_id,) = make_loans(runtime, [(1, START, D("12000"))])
    eod.run(runtime, date(2026, 2, 12))
    deliver(runtime)
    pay(runtime, loan_id, "1066.19", date(2026, 2, 12), "early")

    assert collection_reminders.send_reminders(runtime, china(date(2026, 2, 13), 9)) == {
        "skipped": 1
    }
    assert kept(runtime) == []


# -- The staff API ---------------------------------------------------------------------


class Dialer:
    """A call-centre plugin for the test: answers calls, never SMS."""

    def __init__(self) -> None:
        self.requests: list[ContactRequest] = []

    @lendkit.hookimpl
    def contact_borrower(self, contact: ContactRequest, settings) -> ContactReceipt | None:
        if contact.channel != "call":
            return None
        self.requests.append(contact)
        return ContactReceipt("dialer", f"call-{contact.request_no}", "delivered", sandbox=True)


@pytest.fixture
def at_ten(monkeypatch):
    """Collections' clock at 10:00 China time on 2026-02-17 (outside quiet hours)."""
    moment = china(date(2026, 2, 17), 10)
    monkeypatch.setattr(collection_cases, "utcnow", lambda: moment)
    return moment


def test_collections_through_the_http_api(runtime, live_server, at_ten, monkeypatch):
    mine, other, third = overdue_loans(
        runtime, [(1, START, D("12000")), (2, START, D("12000")), (3, START, D("12000"))]
    )
    alice = staff_headers(runtime, "collections", "alice")
    rita = staff_headers(runtime, "risk_officer", "rita")
    fay = staff_headers(runtime, "finance", "fay")
    dialer = Dialer()
    runtime.pm.register(dialer, name="test-dialer")
    base = f"{live_server}/api/collections"
    loan = f"{base}/loans/{mine}"
    with httpx.Client(timeout=30) as http:
        assert http.get(f"{base}/queue", headers=fay).status_code == 403
        queue = http.get(f"{base}/queue", headers=alice).json()
        assert [i["loan_id"] for i in queue["items"]] == [mine, other, third]

        # Assignment: managers only, to collectors only.
        assert (
            http.post(f"{loan}/assign", json={"collector": "alice"}, headers=alice).status_code
            == 403
        )
        wrong = http.post(f"{loan}/assign", json={"collector": "fay"}, headers=rita)
        assert (wrong.status_code, wrong.json()["code"]) == (422, "collector_not_allowed")
        assert wrong.headers["content-type"].startswith("application/problem+json")
        bilingual(wrong.json()["detail"])
        assigned = http.post(f"{loan}/assign", json={"collector": "alice"}, headers=rita)
        assert assigned.status_code == 200
        assert assigned.json()["case"]["collector"] == "alice"
        mine_only = http.get(f"{base}/queue", params={"collector": "me"}, headers=alice).json()
        assert [i["loan_id"] for i in mine_only["items"]] == [mine]

        # Notes and contacts, within the rules.
        note = http.post(f"{loan}/notes", json={"text": "新号 13812345678"}, headers=alice)
        assert note.status_code == 201
        assert note.json()["text"] == "新号 138****5678"
        for channel in ("call", "visit"):
            made = http.post(
                f"{loan}/contacts",
                json={"channel": channel, "outcome": "no_answer"},
                headers=alice,
            )
            assert made.status_code == 201, made.text
        call = http.post(f"{loan}/contacts/send", json={"channel": "call"}, headers=alice)
        assert call.status_code == 201
        assert call.json()["provider"] == "dialer"
        fourth = http.post(
            f"{loan}/contacts", json={"channel": "call", "outcome": "reached"}, headers=alice
        )
        assert (fourth.status_code, fourth.json()["code"]) == (429, "contact_limit_reached")
        bilingual(fourth.json()["detail"])
        # No SMS contact plugin: the tenant's SMS sender (here the stand-in) delivers it.
        sms = http.post(
            f"{base}/loans/{other}/contacts/send", json={"channel": "sms"}, headers=alice
        )
        assert sms.status_code == 201
        assert (sms.json()["provider"], sms.json()["stand_in"]) == ("send_notification", True)

        # Promise to pay.
        promised = http.post(
            f"{loan}/promises", json={"amount": "1066.66", "date": "2026-02-20"}, headers=alice
        )
        assert promised.status_code == 201
        assert promised.json()["status"] == "open"
        again = http.post(
            f"{loan}/promises", json={"amount": "100", "date": "2026-02-20"}, headers=alice
        )
        assert (again.status_code, again.json()["code"]) == (409, "promise_open")

        record = http.get(loan, headers=alice)
        assert record.status_code == 200
        body = record.json()
        assert body["borrower"] == {
            "id": body["borrower"]["id"],
            "name": "张**",
            "phone": "139****0001",
        }
        assert "13900000001" not in record.text
        assert [c["kind"] for c in body["contacts"]] == [
            "recorded",
            "recorded",
            "attempt",
            "result",
        ]
        assert (body["loan"]["amount_due"], body["loan"]["amount_to_cure"]) == (
            "1066.19",
            "1066.66",  # with a day's penalty
        )
        assert len(body["notes"]) == 1
        assert body["promises"][0]["amount"] == "1066.66"

        # Quiet hours.
        monkeypatch.setattr(collection_cases, "utcnow", lambda: china(date(2026, 2, 17), 22))
        night = http.post(
            f"{base}/loans/{third}/contacts",
            json={"channel": "call", "outcome": "reached"},
            headers=alice,
        )
        assert (night.status_code, night.json()["code"]) == (409, "contact_quiet_hours")
        bilingual(night.json()["detail"])
        monkeypatch.setattr(collection_cases, "utcnow", lambda: at_ten)

        # Write-off: a collector asks, a manager approves, never his own request.
        asked = http.post(f"{loan}/write-off", json={"reason": "失联 lost contact"}, headers=alice)
        assert asked.status_code == 200
        assert asked.json()["write_off_request"]["requested_by"] == "staff:alice"
        assert http.post(f"{loan}/write-off/approve", headers=alice).status_code == 403
        no_reason = http.post(f"{base}/loans/{other}/write-off", json={}, headers=rita)
        assert (no_reason.status_code, no_reason.json()["code"]) == (422, "reason_invalid")
        http.post(f"{base}/loans/{other}/write-off", json={"reason": "欺诈 fraud"}, headers=rita)
        own = http.post(f"{base}/loans/{other}/write-off/approve", headers=rita)
        assert (own.status_code, own.json()["code"]) == (409, "four_eyes_required")
        bilingual(own.json()["detail"])
        approved = http.post(f"{loan}/write-off/approve", headers=rita)
        assert approved.status_code == 200
        assert approved.json()["loan"]["status"] == "written_off"
        assert approved.json()["case"] is None
        assert approved.json()["cases"][0]["close_reason"] == "written_off"
        queue = http.get(f"{base}/queue", headers=alice).json()
        assert [i["loan_id"] for i in queue["items"]] == [other, third]

    assert [r.channel for r in dialer.requests] == ["call"]
    assert "13900000001" not in repr(dialer.requests[0])
    with runtime.read_sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.action.like("collections.%"))
        ).all()
        assert session.scalar(select(StaffUser.role).where(StaffUser.username == "alice")) == (
            "collections"
        )
    assert sorted(actions) == [
        "collections.assigned",
        "collections.write_off_approved",
        "collections.write_off_requested",
        "collections.write_off_requested",
    ]
    with runtime.sessions.begin() as session, pytest.raises(ConflictError):
        collection_cases.open_case(session, mine, actor="staff:x", business_date=date(2026, 2, 18))
