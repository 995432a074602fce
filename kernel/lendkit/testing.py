"""pytest plugin for lendkit and its plugins: real tenants on real databases.

Loaded automatically (entry point ``pytest11``) wherever lendkit is
installed. Every test that asks for ``database_url`` runs on SQLite and, when
PostgreSQL answers at ``$LENDKIT_TEST_POSTGRES`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), on a fresh
PostgreSQL database too. Set ``LENDKIT_TEST_REQUIRE_POSTGRES=1`` (CI does)
to fail instead of skipping when PostgreSQL is down.

Fixtures:

``database_url``
    A fresh, empty database, once per backend.
``make_tenant(plugins=[...], **sections)``
    Writes ``lendkit.toml`` for a tenant in a temporary folder on
    ``database_url`` and points ``$LENDKIT_CONFIG`` at it; returns its path.
``runtime``
    An opened, migrated :class:`~lendkit.runtime.Runtime` of the tenant
    ``make_tenant`` made last (or a default one with no plugins).
``live_server``
    The tenant's web app served by uvicorn on a free loopback port; yields
    its base URL.
``lendkit_cli``
    Runs the ``lendkit`` command in a subprocess against the tenant.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lendkit.crypto.keys import write_master_key
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import CONFIG_ENV

__all__ = ["postgres_admin_url"]

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    return os.environ.get("LENDKIT_TEST_POSTGRES", DEFAULT_POSTGRES)


def _postgres_available() -> bool:
    try:
        engine = create_engine(postgres_admin_url(), connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ["sqlite", "postgresql"], scope="function")


@pytest.fixture(scope="session")
def _postgres_up() -> bool:
    up = _postgres_available()
    if not up and os.environ.get("LENDKIT_TEST_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL required but not reachable at {postgres_admin_url()}")
    return up


@pytest.fixture
def database_url(backend: str, tmp_path: Path, _postgres_up: bool) -> Iterator[str]:
    """A fresh empty database on ``backend``; dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'tenant.db'}"
        return
    if not _postgres_up:
        pytest.skip("PostgreSQL is not reachable")
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"lendkit_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def make_tenant(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Path]:
    def make(plugins: list[str] | None = None, **sections: dict[str, Any]) -> Path:
        root = tmp_path / "tenant"
        root.mkdir(exist_ok=True)
        document: dict[str, Any] = {
            "database": {"url": database_url},
            "plugins": {"enabled": list(plugins or [])},
            **sections,
        }
        if not (root / "keys" / "master.key").exists():
            write_master_key(root / "keys" / "master.key")
        config = root / "lendkit.toml"
        config.write_text(tomlkit.dumps(document), encoding="utf-8")
        monkeypatch.setenv(CONFIG_ENV, str(config))
        monkeypatch.chdir(root)
        return config

    return make


@pytest.fixture
def runtime(make_tenant: Callable[..., Path]) -> Iterator[Runtime]:
    if CONFIG_ENV not in os.environ:
        make_tenant()
    opened = open_runtime()
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[str]:
    """Serve ``runtime`` with uvicorn on loopback in a thread; yield the base URL."""
    import uvicorn

    from lendkit.web.app import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(runtime), host="127.0.0.1", port=port, log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def lendkit_cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``lendkit ARGS`` in a subprocess with the test's environment."""

    def run(
        *args: str, timeout: float = 120, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own CLI, argv list
            [sys.executable, "-m", "lendkit", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )

    return run
