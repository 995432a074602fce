"""The test kit of lendkit and its plugins: real tenants on real databases.

Every name below is importable from :mod:`lendkit.testing` itself; the
modules behind it:

:mod:`lendkit.testing.helpers`
    helpers that need no pytest: :func:`wait_for`, :func:`serve_app`,
    :func:`free_port`, :func:`add_borrower`, :func:`opened_tenant`,
    :data:`SAMPLE_PRODUCTS`.
:mod:`lendkit.testing.clients`
    signed-in staff and borrower clients of the app in memory
    (:func:`app_client`, :func:`staff_client`, :func:`borrower_client`),
    their headers for a served app (:func:`staff_headers`,
    :func:`borrower_headers`), and events (:func:`publish_event`,
    :func:`dispatch_events`).
:mod:`lendkit.testing.conformance`
    the plugin conformance check :func:`check_plugin` and :data:`PUBLIC_API`.
:mod:`lendkit.testing.fixtures`
    the pytest plugin, loaded automatically (entry point ``pytest11``)
    wherever lendkit is installed; its fixtures are listed below.
:mod:`lendkit.testing.factories`
    loans booked and disbursed without a gateway, for tests, benchmarks
    and the demo's loan book.

Every test that asks for ``database_url`` runs on SQLite and, when
PostgreSQL answers at ``$LENDKIT_TEST_POSTGRES`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), on a fresh
PostgreSQL database too. Set ``LENDKIT_TEST_REQUIRE_POSTGRES=1`` (CI does)
to fail instead of skipping when PostgreSQL is down.

Fixtures:

``database_url``
    A fresh, empty database, once per backend.
``make_tenant(plugins=[...], products=[...], **sections)``
    Writes ``lendkit.toml`` for a tenant in a temporary folder on
    ``database_url`` and points ``$LENDKIT_CONFIG`` at it; returns its path.
    ``products`` become its ``[[products]]`` seeds (the kernel ships none):
    pass :data:`SAMPLE_PRODUCTS` for two ordinary ones.
``runtime``
    An opened, migrated :class:`~lendkit.runtime.Runtime` of the tenant
    ``make_tenant`` made last (or a default one with no plugins).
``live_server``
    The tenant's web app served by uvicorn on a free loopback port
    (:func:`serve_app`); yields its base URL.
``lendkit_cli``
    Runs the ``lendkit`` command in a subprocess against the tenant.
``callback_recorder``
    A merchant's callback endpoint on a free loopback port for vendor
    plugins' tests (:class:`lendkit.vendorkit.recorder.Recorder`): POSTs
    land in ``received`` as ``(headers, body)``; set ``refuse = N`` to
    answer the next N with 500.

And the conformance check every plugin's tests should run::

    def test_it_passes_the_conformance_check(database_url):
        assert check_plugin("marketing", database_url=database_url) == []

:func:`check_plugin` returns one line per problem: hook implementations that
do not match their specifications, migrations that do not upgrade and
downgrade cleanly, imports of kernel internals, routes without a (known)
permission, and personal-data columns left unencrypted.
"""

from __future__ import annotations

from lendkit.testing.clients import (
    app_client,
    borrower_client,
    borrower_headers,
    dispatch_events,
    publish_event,
    staff_client,
    staff_headers,
)
from lendkit.testing.conformance import PUBLIC_API, check_plugin, kernel_tables, table_problems
from lendkit.testing.helpers import (
    DEFAULT_POSTGRES,
    SAMPLE_PRODUCTS,
    add_borrower,
    free_port,
    opened_tenant,
    postgres_admin_url,
    serve_app,
    wait_for,
)

__all__ = [
    "DEFAULT_POSTGRES",
    "PUBLIC_API",
    "SAMPLE_PRODUCTS",
    "add_borrower",
    "app_client",
    "borrower_client",
    "borrower_headers",
    "check_plugin",
    "dispatch_events",
    "free_port",
    "kernel_tables",
    "opened_tenant",
    "postgres_admin_url",
    "publish_event",
    "serve_app",
    "staff_client",
    "staff_headers",
    "table_problems",
    "wait_for",
]
