"""Request bodies described in the OpenAPI schema, for routes that read them by hand.

Many routes take ``data: JSONBody[Any]`` and check each field themselves,
so that a wrongly typed field gets its own bilingual 422 rather than the
framework's generic 400 — but then litestar can only describe the body as
``{}``. :func:`described` gives such a route its body's schema instead::

    @post("/api/things", operation_class=described(THING, "A thing to make"))
    def make(data: JSONBody[Any]) -> ...

The builders (:func:`obj`, :func:`text`, :func:`amount`, ...) keep the
schemas short; a schema says what the route's own checks accept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from litestar.openapi.spec import (
    OpenAPIFormat,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    RequestBody,
    Schema,
)

from lendkit.clearing.money import MAX_DIGITS

__all__ = [
    "VENDOR_CALLBACK",
    "amount",
    "described",
    "flag",
    "idempotency_key",
    "nullable",
    "obj",
    "obj_of",
    "strings",
    "text",
    "whole",
]

AMOUNT_PATTERN = rf"^[0-9]{{1,{MAX_DIGITS}}}(\.[0-9]{{1,2}})?$"


def obj(description: str, required: tuple[str, ...] = (), **properties: Schema) -> Schema:
    """A JSON object with these ``properties`` (``required`` among them)."""
    return obj_of(description, properties, required)


def obj_of(
    description: str, properties: Mapping[str, Schema], required: tuple[str, ...] = ()
) -> Schema:
    """:func:`obj` with the properties in a mapping."""
    missing = [name for name in required if name not in properties]
    if missing:
        raise ValueError(f"required but not described: {missing}")
    return Schema(
        type=OpenAPIType.OBJECT,
        description=description,
        properties=dict(properties),
        required=list(required) or None,
    )


def text(
    description: str,
    *,
    max_length: int | None = None,
    min_length: int | None = None,
    pattern: str | None = None,
    enum: tuple[str, ...] | None = None,
    example: str | None = None,
) -> Schema:
    return Schema(
        type=OpenAPIType.STRING,
        description=description,
        max_length=max_length,
        min_length=min_length,
        pattern=pattern,
        enum=list(enum) if enum else None,
        examples=[example] if example is not None else None,
    )


def amount(description: str, example: str = "1066.19") -> Schema:
    """An amount in CNY as a decimal string (:func:`lendkit.clearing.money.parse_amount`)."""
    return Schema(
        type=OpenAPIType.STRING,
        description=f"{description} — CNY as a string: at most {MAX_DIGITS} digits and two "
        "decimals, no exponent (an integer is accepted too, a float never).",
        pattern=AMOUNT_PATTERN,
        examples=[example],
    )


def whole(description: str, minimum: int, maximum: int, example: int | None = None) -> Schema:
    return Schema(
        type=OpenAPIType.INTEGER,
        description=description,
        minimum=minimum,
        maximum=maximum,
        examples=[example] if example is not None else None,
    )


def flag(description: str) -> Schema:
    return Schema(type=OpenAPIType.BOOLEAN, description=description)


def strings(description: str, *, max_items: int, min_items: int | None = None) -> Schema:
    return Schema(
        type=OpenAPIType.ARRAY,
        description=description,
        items=Schema(type=OpenAPIType.STRING),
        max_items=max_items,
        min_items=min_items,
    )


_IDEMPOTENCY = (
    "Idempotency key (or the Idempotency-Key header): a retry with it returns the first result."
)


def idempotency_key() -> Schema:
    """A body's ``idempotency_key`` field (the header may carry it instead), by the
    one rule of :mod:`lendkit.web.idempotency`."""
    from lendkit.web.idempotency import KEY_PATTERN

    return text(_IDEMPOTENCY, max_length=96, pattern=KEY_PATTERN, example="app-7f3c9a21")


def nullable(schema: Schema) -> Schema:
    """``schema`` or JSON ``null``."""
    return Schema(one_of=[schema, Schema(type=OpenAPIType.NULL)], description=schema.description)


# A vendor's notification (payment channel, e-signature): its own format and signature.
VENDOR_CALLBACK = Schema(
    type=OpenAPIType.STRING,
    format=OpenAPIFormat.BINARY,
    description="The vendor's own signed notification, passed unread to its plugin to verify",
)


def described(
    schema: Schema,
    *,
    required: bool = True,
    media_type: str = "application/json",
) -> type[Operation]:
    """An ``operation_class`` for a route: litestar's operation with this request body."""
    body = RequestBody(
        content={media_type: OpenAPIMediaType(schema=schema)},
        description=schema.description,
        required=required,
    )

    @dataclass
    class DescribedOperation(Operation):
        def __post_init__(self) -> None:
            self.request_body = body

    DescribedOperation.__qualname__ = f"DescribedOperation[{schema.description or ''}]"
    return DescribedOperation
