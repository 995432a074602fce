"""The pytest plugin of lendkit: fixtures for real tenants on real databases.

Loaded automatically (entry point ``pytest11``) wherever lendkit is
installed; the fixtures are described in :mod:`lendkit.testing`. Only this
module of the test kit imports pytest, so the kit's helpers (and the demo
that uses its factories) run without it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from lendkit.crypto.keys import write_master_key
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import CONFIG_ENV
from lendkit.testing import postgres_admin_url, serve_app
from lendkit.vendorkit.recorder import Recorder

__all__ = [
    "callback_recorder",
    "database_url",
    "lendkit_cli",
    "live_server",
    "make_tenant",
    "runtime",
]


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
    """Run database tests on both backends, unless the test picks one itself."""
    if "backend" not in metafunc.fixturenames:
        return
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if "backend" in (
            [n.strip() for n in names.split(",")] if isinstance(names, str) else names
        ):
            return
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
    def make(
        plugins: list[str] | None = None,
        products: Iterable[Mapping[str, Any]] = (),
        options: Mapping[str, Mapping[str, Any]] | None = None,
        **sections: dict[str, Any],
    ) -> Path:
        root = tmp_path / "tenant"
        root.mkdir(exist_ok=True)
        document: dict[str, Any] = {
            "database": {"url": database_url},
            # options: each plugin's [plugins.options.<name>] section.
            "plugins": {"enabled": list(plugins or []), "options": dict(options or {})},
            **sections,
        }
        seeds = [dict(p) for p in products]
        if seeds:
            document["products"] = seeds
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


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[str]:
    """Serve ``runtime`` with uvicorn on loopback in a thread; yield the base URL."""
    with serve_app(runtime) as url:
        yield url


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


@pytest.fixture
def callback_recorder() -> Iterator[Recorder]:
    """A merchant's callback endpoint on a free loopback port, recording what arrives."""
    with Recorder() as recorder:
        yield recorder
