"""Test support: a quick sandbox vendor, and a tenant's app served on a chosen port.

For tests of this plugin and of the kernel's contracts (``tests/test_contracts.py``)::

    with SandboxSigner(quick_config()) as vendor:
        make_tenant(plugins=["esign-sandbox"], options={"esign-sandbox": vendor_options(vendor)})
        ...  # or hand a hook vendor_settings(vendor)

``serve`` and ``wait_for`` are the kernel test kit's
(:func:`lendkit.testing.serve_app`, :func:`lendkit.testing.wait_for`).
"""

from __future__ import annotations

from typing import Any

from lendkit.settings import Settings
from lendkit.testing import serve_app as serve
from lendkit.testing import wait_for
from lendkit.vendorkit import fake

from lendkit_esign_sandbox.plugin import NAME
from lendkit_esign_sandbox.server import SandboxSigner, SignerConfig

__all__ = ["quick_config", "serve", "vendor_options", "vendor_settings", "wait_for"]


def quick_config(**changes: Any) -> SignerConfig:
    """A vendor with a random secret that signs and calls back within 50 ms."""
    return fake.quick_config(SignerConfig, **changes)


def vendor_options(vendor: SandboxSigner) -> dict[str, str]:
    """The ``[plugins.options.esign-sandbox]`` that make the plugin talk to ``vendor``."""
    return {
        "url": vendor.url,
        "merchant_id": vendor.config.merchant_id,
        "secret": vendor.config.secret,
    }


def vendor_settings(vendor: SandboxSigner) -> Settings:
    """Settings for calling the plugin's hooks directly, pointed at ``vendor``."""
    return Settings(plugins={"enabled": [NAME], "options": {NAME: vendor_options(vendor)}})
