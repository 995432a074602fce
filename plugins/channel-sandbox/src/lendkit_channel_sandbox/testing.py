"""pytest kit: a fake gateway on a free port, and a tenant wired to it.

Loaded automatically (entry point ``pytest11``) wherever this plugin is
installed.

``sandbox_gateway``
    A :class:`SandboxGateway` on a free loopback port with a random merchant
    secret and quick callbacks (0.05 s); stopped after the test.
``sandbox_tenant``
    Module-scoped, once per backend (SQLite, and PostgreSQL when it answers
    at ``$LENDKIT_TEST_POSTGRES``): a migrated tenant with this plugin
    enabled, its web app served on loopback (so callbacks arrive over real
    HTTP) and its own gateway. Tests sharing it must not assume an empty
    database: use fresh loan ids, keys and business dates.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from lendkit.crypto.keys import write_master_key
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import CONFIG_ENV
from lendkit.testing import free_port, postgres_admin_url, serve_app, wait_for
from lendkit.vendorkit import fake
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lendkit_channel_sandbox.gateway import GatewayConfig, SandboxGateway

__all__ = ["SandboxTenant", "free_port", "sandbox_tenant_on", "wait_for"]


def quick_config() -> GatewayConfig:
    """A gateway with a random secret that calls back within 50 ms."""
    return fake.quick_config(GatewayConfig)


@pytest.fixture
def sandbox_gateway() -> Iterator[SandboxGateway]:
    with SandboxGateway(quick_config()) as gateway:
        yield gateway


@dataclass
class SandboxTenant:
    runtime: Runtime
    gateway: SandboxGateway
    app_url: str
    config: Path

    @property
    def env(self) -> dict[str, str]:
        """Environment for a ``lendkit`` subprocess against this tenant."""
        return {CONFIG_ENV: str(self.config)}


@contextmanager
def _database(backend: str, root: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{root / 'tenant.db'}"
        return
    try:
        admin = create_engine(
            postgres_admin_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 2}
        )
        with admin.connect() as connection:
            name = f"lendkit_test_{uuid.uuid4().hex[:12]}"
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception:
        if os.environ.get("LENDKIT_TEST_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip("PostgreSQL is not reachable")
    try:
        yield (
            make_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def sandbox_tenant_on(
    backend: str,
    root: Path,
    *,
    plugins: tuple[str, ...] = ("channel-sandbox",),
    gateway_config: GatewayConfig | None = None,
    **sections: dict[str, Any],
) -> Iterator[SandboxTenant]:
    """A migrated tenant on ``backend`` in ``root``, served, with its own gateway."""
    root.mkdir(parents=True, exist_ok=True)
    with _database(backend, root) as url, SandboxGateway(gateway_config or quick_config()) as gw:
        port = free_port()
        write_master_key(root / "keys" / "master.key")
        payments = dict(sections.pop("payments", {}))
        document: dict[str, Any] = {
            "database": {"url": url},
            "plugins": {
                "enabled": list(plugins),
                "options": {
                    "channel-sandbox": {
                        "url": gw.url,
                        "merchant_id": gw.config.merchant_id,
                        "secret": gw.config.secret,
                        "timeout": 5,
                    }
                },
            },
            "payments": {"callback_base_url": f"http://127.0.0.1:{port}", **payments},
            **sections,
        }
        config = root / "lendkit.toml"
        config.write_text(tomlkit.dumps(document), encoding="utf-8")
        runtime = open_runtime(config=config)
        try:
            runtime.upgrade()
            with serve_app(runtime, port) as app_url:
                yield SandboxTenant(runtime, gw, app_url, config)
        finally:
            runtime.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sandbox_tenant(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SandboxTenant]:
    with sandbox_tenant_on(request.param, tmp_path_factory.mktemp("sandbox-tenant")) as tenant:
        yield tenant
