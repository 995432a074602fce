"""Signed-in clients of a tenant's app, in memory, and delivering its events now.

A partner's test drives the app the way a staff member or a borrower would,
without a server or a sign-in flow::

    with staff_client(runtime, "support") as client:
        assert client.get("/api/marketing/coupons").status_code == 200
    with borrower_client(runtime, borrower_id) as client:
        client.post("/api/borrowers/me/applications", json={...})
    publish_event(runtime, "loan.disbursed", {"loan_id": 7})
    dispatch_events(runtime)  # the outbox delivers to the plugins' event hooks

The clients are litestar's in-memory ``TestClient`` over the real app
(:func:`lendkit.web.app.create_app`): every guard, transaction and error
handler runs. Their headers carry a fresh session cookie and its CSRF
token, so unsafe methods work; for an app served over HTTP
(:func:`~lendkit.testing.serve_app`, the ``live_server`` fixture) use
:func:`staff_headers` and :func:`borrower_headers` with ``httpx``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.runtime import Runtime

if TYPE_CHECKING:
    from litestar.testing import TestClient

__all__ = [
    "app_client",
    "borrower_client",
    "borrower_headers",
    "dispatch_events",
    "publish_event",
    "staff_client",
    "staff_headers",
]


@contextmanager
def app_client(
    runtime: Runtime, headers: Mapping[str, str] | None = None
) -> Iterator[TestClient[Any]]:
    """The tenant's app in memory (anonymous unless ``headers`` sign someone in)."""
    from litestar.testing import TestClient

    from lendkit.web.app import create_app

    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        client.headers.update(dict(headers or {}))
        yield client


@contextmanager
def staff_client(
    runtime: Runtime, role: str = "admin", username: str | None = None
) -> Iterator[TestClient[Any]]:
    """The app in memory, signed in as a member of staff with ``role``."""
    with app_client(runtime, staff_headers(runtime, role, username)) as client:
        yield client


@contextmanager
def borrower_client(runtime: Runtime, borrower_id: int) -> Iterator[TestClient[Any]]:
    """The app in memory, signed in as borrower ``borrower_id`` (see ``add_borrower``)."""
    with app_client(runtime, borrower_headers(runtime, borrower_id)) as client:
        yield client


def publish_event(runtime: Runtime, topic: str, payload: Mapping[str, Any]) -> int:
    """Commit an event as the kernel would (ids and amounts only); returns its id."""
    from lendkit import outbox

    with runtime.sessions.begin() as session:
        return outbox.publish(session, topic, dict(payload)).id


def dispatch_events(runtime: Runtime) -> int:
    """Deliver every committed event to the enabled plugins' event hooks now, as the
    worker's outbox job would; returns how many deliveries succeeded (a failing
    hook's delivery waits for its retry, as with the worker)."""
    from lendkit import outbox

    return outbox.drain(runtime.sessions, runtime.pm, runtime.settings.outbox).delivered
