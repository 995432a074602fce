"""Test helpers that need no pytest: ports, waiting, a served app, a borrower, products."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lendkit.runtime import Runtime, open_runtime

__all__ = [
    "DEFAULT_POSTGRES",
    "SAMPLE_PRODUCTS",
    "add_borrower",
    "free_port",
    "opened_tenant",
    "postgres_admin_url",
    "serve_app",
    "wait_for",
]

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Two products for tests, as ``[[products]]`` tables: ``make_tenant(products=SAMPLE_PRODUCTS)``.
SAMPLE_PRODUCTS: tuple[Mapping[str, Any], ...] = (
    {
        "code": "consumer-12",
        "name": "消费贷 Consumer instalment loan",
        "min_amount": "1000.00",
        "max_amount": "200000.00",
        "terms_months": [3, 6, 12, 24],
        "annual_rate": "0.1090",
        "repayment_methods": ["equal-installment", "equal-principal"],
        "upfront_fee_rate": "0.0100",
        "description": "等额本息 / 等额本金, monthly instalments.",
    },
    {
        "code": "business-bullet",
        "name": "经营贷 Business loan, interest first",
        "min_amount": "10000.00",
        "max_amount": "300000.00",
        "terms_months": [6, 12],
        "annual_rate": "0.1440",
        "repayment_methods": ["interest-first", "bullet"],
        "description": "先息后本 or 到期一次还本付息.",
    },
)


def postgres_admin_url() -> str:
    return os.environ.get("LENDKIT_TEST_POSTGRES", DEFAULT_POSTGRES)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, every: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy (and return it).

    For what arrives on another thread (a callback, a worker's job); fails
    with :class:`AssertionError` after ``timeout`` seconds. It measures
    nothing: a test asserts on what arrived, never on how soon.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


@contextmanager
def serve_app(runtime: Runtime, port: int | None = None) -> Iterator[str]:
    """The tenant's web app served by uvicorn on loopback, in a thread; yields its URL.

    ``port`` is a free one by default; name it when the tenant's settings
    must know it beforehand (a ``callback_base_url`` vendors call back on).
    """
    import uvicorn

    from lendkit.web.app import create_app

    port = port or free_port()
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=10)
    if not server.started:
        raise RuntimeError("test server did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def opened_tenant(config: Path | None = None) -> Iterator[Runtime]:
    """The tenant of ``config`` (by default the one ``make_tenant`` wrote last, through
    ``$LENDKIT_CONFIG``), opened and migrated; closed afterwards. Opening it checks its
    settings, a plugin's own section among them (:class:`~lendkit.errors.StartupError`)."""
    runtime = open_runtime(config=config)
    try:
        runtime.upgrade()
        yield runtime
    finally:
        runtime.close()


def add_borrower(runtime: Runtime, phone: str, *, kyc_status: str = "registered") -> int:
    """A borrower with mobile ``phone`` in the tenant, committed; returns his id.

    For plugin tests that need a borrower without the registration flow
    (``lendkit.auth.testing.borrower_headers`` then signs him in): a plugin's
    tests never write kernel tables themselves.
    """
    from lendkit.models import Borrower

    with runtime.sessions.begin() as session:
        person = Borrower(phone=phone, kyc_status=kyc_status)
        session.add(person)
        session.flush()
        return person.id
