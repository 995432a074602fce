"""Test support: a quick sandbox vendor, and a tenant's app served on a chosen port.

For tests of this plugin and of the kernel's contracts (``tests/test_contracts.py``)::

    with SandboxSigner(quick_config()) as vendor:
        monkeypatch.setenv(URL_ENV, vendor.url)  # and MERCHANT_ENV, SECRET_ENV
        ...
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from lendkit.runtime import Runtime

from lendkit_esign_sandbox.plugin import MERCHANT_ENV, SECRET_ENV, URL_ENV
from lendkit_esign_sandbox.server import SandboxSigner, SignerConfig

__all__ = ["point_plugin_at", "quick_config", "serve", "wait_for"]


def quick_config(**changes: Any) -> SignerConfig:
    """A vendor with a random secret that signs and calls back within 50 ms."""
    values: dict[str, Any] = {
        "merchant_id": "TEST-MERCHANT",
        "secret": secrets.token_hex(16),
        "callback_delay": 0.05,
        "duplicate_callbacks": 1,
        "callback_retry_interval": 0.2,
    }
    return SignerConfig(**(values | changes))


def point_plugin_at(monkeypatch: pytest.MonkeyPatch, vendor: SandboxSigner) -> None:
    """Make the plugin talk to ``vendor`` instead of starting its own."""
    monkeypatch.setenv(URL_ENV, vendor.url)
    monkeypatch.setenv(MERCHANT_ENV, vendor.config.merchant_id)
    monkeypatch.setenv(SECRET_ENV, vendor.config.secret)


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, every: float = 0.02) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(every)


@contextmanager
def serve(runtime: Runtime, port: int) -> Iterator[str]:
    """The tenant's web app on ``port`` (the one its ``callback_base_url`` names)."""
    import uvicorn
    from lendkit.web.app import create_app

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
