"""Test support: a quick sandbox vendor, and a tenant's app served on a chosen port.

For tests of this plugin and of the kernel's contracts (``tests/test_contracts.py``)::

    with SandboxSigner(quick_config()) as vendor:
        point_plugin_at(monkeypatch, vendor)
        ...

``serve`` and ``wait_for`` are the kernel test kit's
(:func:`lendkit.testing.serve_app`, :func:`lendkit.testing.wait_for`).
"""

from __future__ import annotations

from typing import Any

import pytest
from lendkit.testing import serve_app as serve
from lendkit.testing import wait_for
from lendkit.vendorkit import fake

from lendkit_esign_sandbox.plugin import MERCHANT_ENV, SECRET_ENV, URL_ENV
from lendkit_esign_sandbox.server import SandboxSigner, SignerConfig

__all__ = ["point_plugin_at", "quick_config", "serve", "wait_for"]


def quick_config(**changes: Any) -> SignerConfig:
    """A vendor with a random secret that signs and calls back within 50 ms."""
    return fake.quick_config(SignerConfig, **changes)


def point_plugin_at(monkeypatch: pytest.MonkeyPatch, vendor: SandboxSigner) -> None:
    """Make the plugin talk to ``vendor`` instead of starting its own."""
    monkeypatch.setenv(URL_ENV, vendor.url)
    monkeypatch.setenv(MERCHANT_ENV, vendor.config.merchant_id)
    monkeypatch.setenv(SECRET_ENV, vendor.config.secret)
