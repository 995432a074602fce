"""Built-in plugin: credit applications over HTTP, the offer-expiry job, the clause map.

Borrowers act on their own applications (``/api/borrowers/me/applications``,
permission ``borrower.self``): submit, list, read, accept an offer. Staff
with ``applications.review`` work the manual-review queue
(``/api/applications/...``): read the whole record with every credit
decision, approve (optionally for less) or reject with reason codes. Every
4xx is problem+json with a code and a Chinese and English message, and
changes nothing: the request's transaction rolls back. Bodies are read as
plain JSON objects and checked here, so even a wrongly typed field gets a
bilingual answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from litestar import Response
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.orm import Session

import lendkit
from lendkit.auth.principal import Principal, current
from lendkit.errors import NotFoundError, ValidationFailed
from lendkit.lifecycle import (
    application_input,
    application_views,
    applications,
    booking,
    client_context,
)
from lendkit.lifecycle import applications_bodies as bodies
from lendkit.lifecycle.application_models import Application
from lendkit.types import Job, JobContext
from lendkit.web import paging
from lendkit.web.bodies import json_object
from lendkit.web.idempotency import key_of
from lendkit.web.routes import Body, Db, Json, Req, Rt, Window, get_route, post_route, routes_hook
from lendkit.web.schema import described

__all__ = ["ROUTES"]

SELF = {"permission": "borrower.self"}
REVIEW = {"permission": "applications.review"}
ONE = "/api/applications/{application_id:int}"  # one application, for staff
_NOT_FOUND = "未找到该申请。No such application."
MAX_REASONS = bodies.MAX_REASONS


def _me(request: Req) -> tuple[Principal, int]:
    principal = current(request)
    assert principal.subject_id is not None  # borrower.self: borrowers only
    return principal, principal.subject_id


def _reasons(body: Mapping[str, Any]) -> list[str]:
    reasons = body.get("reasons", [])
    if not isinstance(reasons, list) or len(reasons) > MAX_REASONS:
        raise ValidationFailed(
            f"reasons 须为至多 {MAX_REASONS} 个原因代码的列表 / reasons must be a list of at "
            f"most {MAX_REASONS} reason codes",
            code="reasons_invalid",
        )
    return reasons


def _note(body: Mapping[str, Any]) -> str | None:
    note = body.get("note")
    if note is not None and not isinstance(note, str):
        raise ValidationFailed("备注须为文本 / the note must be text", code="invalid_note")
    return note


# -- The borrower ----------------------------------------------------------------------


@post_route("/api/borrowers/me/applications", SELF, bodies.APPLICATION)
def submit_application(data: Body, request: Req, db_session: Db, runtime: Rt) -> Response[Json]:
    """Apply: ``product_code``, ``amount`` and ``annual_income`` (strings), ``term``
    (months), ``method``, and an ``idempotency_key`` (or the ``Idempotency-Key``
    header); optionally ``referral_code`` and ``client``, the app's device and
    network facts (``device_id``, ``ip``, ``user_agent``, ``location``,
    ``app_version``). 201 with the decided application; 200 with the first one
    when the key was used before with the same terms."""
    principal, borrower_id = _me(request)
    body = json_object(data)
    submission = application_input.parse_submission(
        body,
        key_of(body, request),
        seen_ip=client_context.seen_address(request.client.host if request.client else None),
    )
    result = applications.submit(
        db_session, runtime.pm, runtime.settings, borrower_id, submission, actor=principal.actor
    )
    return Response(
        application_views.application_view(db_session, result.application),
        status_code=HTTP_201_CREATED if result.created else HTTP_200_OK,
    )


@get_route("/api/borrowers/me/applications", SELF)
def my_applications(request: Req, db_session: Db, window: Window) -> Json:
    """My applications, newest first, each with its offer if it has one (a page)."""
    _, borrower_id = _me(request)
    return paging.page_of(
        db_session,
        window,
        application_views.of_borrower(borrower_id),
        lambda app: application_views.application_view(db_session, app),
    )


def _mine(db_session: Session, borrower_id: int, application_id: int) -> Application:
    app = db_session.get(Application, application_id)
    if app is None or app.borrower_id != borrower_id:
        raise NotFoundError(_NOT_FOUND)
    return app


@get_route("/api/borrowers/me/applications/{application_id:int}", SELF)
def my_application(application_id: FromPath[int], request: Req, db_session: Db) -> Json:
    """One of my applications (another borrower's is 404)."""
    _, borrower_id = _me(request)
    return application_views.application_view(
        db_session, _mine(db_session, borrower_id, application_id)
    )


@post_route(
    "/api/borrowers/me/applications/{application_id:int}/accept", SELF, status_code=HTTP_200_OK
)
def accept_offer(application_id: FromPath[int], request: Req, db_session: Db, runtime: Rt) -> Json:
    """Accept my open offer (409 ``offer_expired`` once it has lapsed): the loan
    is booked on its terms (``loan_id``), ready for its contract."""
    principal, borrower_id = _me(request)
    app = applications.accept(db_session, borrower_id, application_id, actor=principal.actor)
    booking.book_offer(db_session, runtime, app)
    return application_views.application_view(db_session, app)


# -- Staff -------------------------------------------------------------------------------


@get_route("/api/applications/reviews", REVIEW)
def review_queue(db_session: Db, window: Window) -> Json:
    """Applications waiting for a person, oldest first, with the decision's reasons (a page)."""
    return paging.page_of(
        db_session,
        window,
        application_views.review_queue(),
        lambda app: application_views.queue_view(db_session, app),
    )


@get_route(ONE, REVIEW)
def application_record(application_id: FromPath[int], db_session: Db) -> Json:
    """The whole record: terms, income, offer, every credit decision explained, history."""
    app = db_session.get(Application, application_id)
    if app is None:
        raise NotFoundError(_NOT_FOUND)
    return application_views.application_view(db_session, app, staff=True)


@post_route(
    f"{ONE}/approve",
    REVIEW,
    status_code=HTTP_200_OK,
    operation_class=described(bodies.APPROVAL, required=False),
)
def approve_application(
    application_id: FromPath[int], request: Req, db_session: Db, runtime: Rt, data: Body = None
) -> Json:
    """Approve an application under review: ``reasons`` (codes), ``note``, and
    optionally a lower ``amount``; the borrower gets a priced offer."""
    body = json_object(data)
    app = applications.approve(
        db_session,
        runtime.pm,
        runtime.settings,
        application_id,
        actor=current(request).actor,
        reasons=_reasons(body),
        note=_note(body),
        amount=body.get("amount"),
    )
    return application_views.application_view(db_session, app, staff=True)


@post_route(
    f"{ONE}/reject",
    REVIEW,
    bodies.REJECTION,
    status_code=HTTP_200_OK,
)
def reject_application(
    application_id: FromPath[int], request: Req, db_session: Db, data: Body = None
) -> Json:
    """Reject an application under review: at least one reason code, and a note."""
    body = json_object(data)
    app = applications.reject(
        db_session,
        application_id,
        actor=current(request).actor,
        reasons=_reasons(body),
        note=_note(body),
    )
    return application_views.application_view(db_session, app, staff=True)


# Order matters: litestar 2.25 registers the first handler of a shared path again when
# the next one joins it, wrapping its sync function twice, and a handler that returns a
# ``Response`` then hands back a coroutine (a 500). So the GET comes first.
ROUTES = [
    my_applications,
    submit_application,
    my_application,
    accept_offer,
    review_queue,
    application_record,
    approve_application,
    reject_application,
]


# -- Hook implementations ------------------------------------------------------------


def _expire_offers(ctx: JobContext, now: datetime) -> int:
    with ctx.sessions.begin() as session:
        return applications.expire_offers(session, now)


register_routes = routes_hook(ROUTES)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [Job(name="application-offers", every=timedelta(minutes=1), run=_expire_offers)]
