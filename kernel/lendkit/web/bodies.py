"""Reading request bodies by hand, so that even a wrongly typed body gets a
specific, bilingual 4xx instead of a framework's generic one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lendkit.errors import ValidationFailed

__all__ = ["json_object"]


def json_object(data: object) -> Mapping[str, Any]:
    """The body as a JSON object (an absent body is an empty one); 422 ``invalid_body``."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValidationFailed(
            "请求体须为 JSON 对象 / the body must be a JSON object", code="invalid_body"
        )
    return data
