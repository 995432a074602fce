"""Built-in plugin: collections over HTTP, its jobs, its event subscriber, the clause map.

Staff with ``collections.work`` (the ``collections`` role, risk officers)
work the overdue queue (``/api/collections/queue``) and the loans in it
(``/api/collections/loans/{loan_id}``): notes, contacts made by hand or
through an SMS or call plugin, promises to pay, write-off requests. Staff
with ``collections.manage`` (risk officers) assign cases to collectors and
approve write-offs — never their own request (four eyes). Every 4xx is
problem+json with a code and a Chinese and English message, and changes
nothing. Borrowers' names and numbers are masked in every answer.

The subscriber (``on_loan_event``) opens and closes cases as loans go
overdue and come back, and queues the SMS reminder of each ``loan.due_soon``;
the jobs send those reminders (outside quiet hours) and judge promises to
pay whose date has passed.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK
from litestar.types import ControllerRouterHandler
from sqlalchemy.orm import Session

import lendkit
from lendkit.auth.principal import current
from lendkit.clearing.payments import business_today
from lendkit.errors import ValidationFailed
from lendkit.lifecycle import (
    collection_cases,
    collection_contacts,
    collection_promises,
    collection_queue,
    collection_reminders,
)
from lendkit.lifecycle import collections_bodies as bodies
from lendkit.runtime import runtime_of
from lendkit.types import Event, Job, JobContext, Permission
from lendkit.web.bodies import json_object
from lendkit.web.routes import Body, Db, Json, Req, Rt, Window, get_route, post_route, routes_hook

__all__ = ["ROUTES"]

# The only topics the subscriber acts on, for an outbox that filters by them.
EVENT_TOPICS = collection_cases.TOPICS
WORK = {"permission": "collections.work"}
MANAGE = {"permission": "collections.manage"}
BASE = "/api/collections/loans/{loan_id:int}"


def _actor_and_day(request: Req) -> tuple[str, Any]:
    now = collection_cases.clock()
    return current(request).actor, business_today(now)


# -- The queue and a loan in collections --------------------------------------------


@get_route("/api/collections/queue", WORK)
def overdue_queue(request: Req, db_session: Db, window: Window) -> Json:
    """Overdue loans, worst bucket first, then days past due, then amount due (a page).

    Query: ``bucket`` (M1, M2, M3, M3+), ``collector`` (a username, ``me``,
    or ``none`` for unassigned), ``limit`` (1–200, default 50), ``offset``.
    """
    query = request.query_params
    collector = query.get("collector") or None
    if collector == "me":
        principal = current(request)
        if principal.kind != "staff":
            raise ValidationFailed(
                "collector=me 仅适用于已登录的员工 / collector=me is for signed-in staff",
                code="collector_invalid",
            )
        collector = principal.actor.removeprefix("staff:")
    found = collection_queue.queue(
        db_session,
        bucket=query.get("bucket") or None,
        collector=collector,
        limit=window.limit,
        offset=window.offset,
    )
    return {**found, "next": window.next_url(found["total"])}


@get_route(BASE, WORK)
def collection_record(loan_id: FromPath[int], db_session: Db) -> Json:
    """The loan's standing, the borrower (masked), its cases and their whole history."""
    return collection_queue.case_view(db_session, loan_id)


# -- Working a case -----------------------------------------------------------------


@post_route(f"{BASE}/assign", MANAGE, bodies.ASSIGNMENT, status_code=HTTP_200_OK)
def assign_case(loan_id: FromPath[int], request: Req, db_session: Db, data: Body = None) -> Json:
    """Give the loan's case to ``collector`` (a username; null takes it back), with a ``note``."""
    body = json_object(data)
    collector = body.get("collector")
    if collector is not None and not isinstance(collector, str):
        raise ValidationFailed(
            "collector 须为员工用户名或 null / collector must be a username or null",
            code="collector_invalid",
        )
    actor, day = _actor_and_day(request)
    matrix = request.app.state.permissions
    collection_cases.assign(
        db_session,
        loan_id,
        collector,
        actor=actor,
        may_collect=lambda role: bool(matrix.allows(role, "collections.work")),
        business_date=day,
        note=body.get("note"),
    )
    return collection_queue.case_view(db_session, loan_id)


@post_route(f"{BASE}/notes", WORK, bodies.NOTE)
def add_note(loan_id: FromPath[int], request: Req, db_session: Db, data: Body = None) -> Json:
    """Add a note (``text``) to the loan's case; notes are never changed or deleted."""
    actor, day = _actor_and_day(request)
    note = collection_cases.add_note(
        db_session, loan_id, json_object(data).get("text"), actor=actor, business_date=day
    )
    return collection_cases.note_view(note)


@post_route(f"{BASE}/contacts", WORK, bodies.CONTACT)
def log_contact(loan_id: FromPath[int], request: Req, db_session: Db, data: Body = None) -> Json:
    """Log a contact made now: ``channel`` (sms, call, visit), ``outcome``, ``note``.

    Refused outside the contact rules: 409 ``contact_quiet_hours`` (21:00 to
    08:00 China time), 429 ``contact_limit_reached`` (three a day per borrower).
    """
    body = json_object(data)
    row = collection_contacts.record_contact(
        db_session,
        loan_id,
        channel=body.get("channel"),
        outcome=body.get("outcome"),
        note=body.get("note"),
        actor=current(request).actor,
        now=collection_cases.clock(),
    )
    return collection_contacts.contact_view(row)


@post_route(f"{BASE}/contacts/send", WORK, bodies.SEND_CONTACT)
def send_contact(loan_id: FromPath[int], request: Req, runtime: Rt, data: Body = None) -> Json:
    """Reach the borrower through an SMS or call plugin (``channel``: sms or call).

    201 with the vendor's receipt; the same rules as a logged contact; 503
    ``contact_unavailable`` when no plugin delivers (the attempt is logged).
    """
    return collection_contacts.reach(
        runtime,
        loan_id,
        channel=json_object(data).get("channel"),
        actor=current(request).actor,
        now=collection_cases.clock(),
    )


@post_route(f"{BASE}/promises", WORK, bodies.PROMISE)
def make_promise(loan_id: FromPath[int], request: Req, db_session: Db, data: Body = None) -> Json:
    """Record a promise to pay: ``amount`` (a string, CNY) by ``date`` (YYYY-MM-DD)."""
    body = json_object(data)
    actor, day = _actor_and_day(request)
    made = collection_promises.promise(
        db_session, loan_id, body.get("amount"), body.get("date"), actor=actor, business_date=day
    )
    return collection_promises.promise_view(made)


@post_route(f"{BASE}/write-off", WORK, bodies.WRITE_OFF, status_code=HTTP_200_OK)
def request_write_off(
    loan_id: FromPath[int], request: Req, db_session: Db, data: Body = None
) -> Json:
    """Ask for the loan's write-off, with a ``reason``; someone else approves it."""
    actor, day = _actor_and_day(request)
    collection_cases.request_write_off(
        db_session, loan_id, actor=actor, reason=json_object(data).get("reason"), business_date=day
    )
    return collection_queue.case_view(db_session, loan_id)


@post_route(f"{BASE}/write-off/approve", MANAGE, status_code=HTTP_200_OK)
def approve_write_off(loan_id: FromPath[int], request: Req, db_session: Db) -> Json:
    """Write the loan off; 409 ``four_eyes_required`` for the requester's own request."""
    actor, day = _actor_and_day(request)
    collection_cases.approve_write_off(db_session, loan_id, actor=actor, business_date=day)
    return collection_queue.case_view(db_session, loan_id)


ROUTES: list[ControllerRouterHandler] = [
    overdue_queue,
    collection_record,
    assign_case,
    add_note,
    log_contact,
    send_contact,
    make_promise,
    request_write_off,
    approve_write_off,
]


# -- Hook implementations ------------------------------------------------------------


register_routes = routes_hook(ROUTES)


@lendkit.hookimpl
def register_permissions() -> list[Permission]:
    return [
        Permission(
            name="collections.work",
            description="work the overdue queue: read cases (masked), add notes, log and make "
            "contacts within the contact rules, record promises to pay, ask for write-offs",
            roles=("collections", "risk_officer"),
        ),
        Permission(
            name="collections.manage",
            description="assign collection cases to collectors and approve write-offs "
            "(never one's own request)",
            roles=("risk_officer",),
        ),
    ]


# Reminders go through the notification hooks: the jobs need the whole runtime.
def _reminders(ctx: JobContext, now: datetime) -> object:
    return collection_reminders.reminder_job(runtime_of(ctx), now)


def _promises(ctx: JobContext, now: datetime) -> object:
    return collection_promises.promise_job(runtime_of(ctx), now)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [
        Job(
            name="collections-reminders",
            every=timedelta(minutes=1),
            run=_reminders,
        ),
        Job(
            name="collections-promises",
            every=timedelta(minutes=10),
            run=_promises,
        ),
    ]


@lendkit.hookimpl
def on_loan_event(event: Event, session: Session) -> None:
    """Cases follow the loan; reminders queue."""
    if event.topic not in collection_cases.TOPICS:
        return
    kind = event.topic.removeprefix("loan.")
    payload = event.payload
    loan_id = payload.get("loan_id")
    if not isinstance(loan_id, int):
        return
    day = (
        date.fromisoformat(payload["business_date"])
        if payload.get("business_date")
        else business_today()
    )
    if kind == "due_soon":
        collection_reminders.remember_reminder(session, event)
    elif kind in collection_cases.OPENING or kind in collection_cases.CLOSING:
        collection_cases.sync_case(
            session, loan_id, actor=f"event:{event.id}", business_date=day, reason=kind
        )
