"""The demo's products: a consumer instalment loan and a business loan, as data.

They are the test kit's sample products (:data:`lendkit.testing.SAMPLE_PRODUCTS`),
so the demo offers exactly what the suite prices. Written with
:class:`~lendkit.types.ProductSpec`'s field names, they go into the demo
tenant's ``lendkit.toml`` as ``[[products]]`` tables, seeded into the
products table on the first start (the kernel ships none).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lendkit.testing import SAMPLE_PRODUCTS

__all__ = ["DEMO_PRODUCTS", "as_settings"]

DEMO_PRODUCTS: tuple[Mapping[str, Any], ...] = SAMPLE_PRODUCTS


def as_settings() -> list[dict[str, Any]]:
    """The products as ``[[products]]`` tables."""
    return [dict(product) for product in DEMO_PRODUCTS]
