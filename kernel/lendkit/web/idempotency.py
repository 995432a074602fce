"""The one rule for idempotency keys on every route that moves money or creates records.

A client names its request with a key, in the JSON body's ``idempotency_key``
or, when the body has none, in the ``Idempotency-Key`` header; a retry with
the same key gets the first result. A key is 1 to 96 letters, digits or
``. _ : -`` (so a route may prefix it with its own scope and still fit the
128 characters the tables keep). Anything else, or no key, is one problem:
400 ``idempotency_key_invalid``, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from litestar import Request

from lendkit.errors import FieldProblem, LendkitError

__all__ = ["FIELD", "HEADER", "KEY_PATTERN", "IdempotencyKeyInvalid", "check_key", "key_of"]

HEADER: Final = "Idempotency-Key"
FIELD: Final = "idempotency_key"
KEY_PATTERN: Final = r"^[A-Za-z0-9._:-]{1,96}$"
_KEY = re.compile(KEY_PATTERN)
_DETAIL = (
    "须提供幂等键：1 至 96 个字母、数字或 . _ : -（请求体的 idempotency_key，或 Idempotency-Key 头）"
    " / an idempotency key is required: 1 to 96 letters, digits or . _ : - "
    "(idempotency_key in the body, or the Idempotency-Key header)"
)


class IdempotencyKeyInvalid(LendkitError):
    """No idempotency key, or one outside the rule."""

    status = 400
    code = "idempotency_key_invalid"
    title = "幂等键无效 / Invalid idempotency key"

    def __init__(self) -> None:
        super().__init__(_DETAIL, errors=[FieldProblem(FIELD, self.code, _DETAIL)])


def check_key(value: object) -> str:
    """``value`` if it is a key by the rule; else :class:`IdempotencyKeyInvalid`."""
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        raise IdempotencyKeyInvalid()
    return value


def key_of(body: Mapping[str, Any], request: Request[Any, Any, Any]) -> str:
    """The request's idempotency key: the body's ``idempotency_key``, else the header."""
    return check_key(body.get(FIELD) or request.headers.get(HEADER))
