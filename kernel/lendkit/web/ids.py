"""Record ids from the outside world, kept within what a database column holds.

An id in a path (``/api/loans/{loan_id:int}``) is any integer litestar can
parse, and one past 2**63 - 1 makes SQLite raise ``OverflowError`` and
PostgreSQL an out-of-range error: a 500. :func:`id_guard`, an app-level
guard, answers 404 ``id_out_of_range`` instead for every integer path
parameter named ``id`` or ``*_id`` outside 1 to :data:`MAX_ID` — no record
can have such an id. :func:`checked_id` does the same for an id in a body
or a query string.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from lendkit.errors import NotFoundError

__all__ = ["MAX_ID", "checked_id", "id_guard"]

# The largest BIGINT (and SQLite INTEGER); ids start at 1.
MAX_ID = 2**63 - 1


def _out_of_range(name: str) -> NotFoundError:
    return NotFoundError(
        f"{name} 超出范围，没有这样的记录（编号为 1 至 {MAX_ID}） / no record has this "
        f"{name}: ids run from 1 to {MAX_ID}",
        code="id_out_of_range",
    )


def checked_id(value: int, name: str = "id") -> int:
    """``value`` if a record could have it as id; 404 ``id_out_of_range`` otherwise."""
    if not 1 <= value <= MAX_ID:
        raise _out_of_range(name)
    return value


def _is_id(name: str) -> bool:
    return name == "id" or name.endswith("_id")


def id_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Refuse a request whose path carries an id no record can have (after sign-in)."""
    for name, value in connection.path_params.items():
        if _is_id(name) and isinstance(value, int) and not isinstance(value, bool):
            checked_id(value, name)
