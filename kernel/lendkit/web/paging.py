"""List endpoints, one page at a time, saying how many there are and where the rest is.

Every list answer is one shape::

    {"items": [...], "total": 1234, "limit": 50, "offset": 0,
     "next": "/api/loans?status=active&limit=50&offset=50"}

``next`` is the path and query of the next page (the same filters, the
offset moved on), or ``null`` on the last page. The query parameters are
``limit`` (1 to :data:`MOST`, default :data:`DEFAULT`) and ``offset`` (0 to
:data:`MAX_OFFSET`); anything else is 422 ``page_invalid``. A handler takes
the ``window`` dependency (:func:`provide_window`, installed by the app, so
the parameters show in the OpenAPI schema) and answers with :func:`page_of`
(a query, counted and windowed in SQL) or :func:`page_of_list` (a list it
has already built).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from litestar import Request
from litestar.params import QueryParameter
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from lendkit.errors import ValidationFailed

__all__ = [
    "DEFAULT",
    "MAX_OFFSET",
    "MOST",
    "Window",
    "page_of",
    "page_of_list",
    "provide_window",
]

DEFAULT, MOST = 50, 200
# Far past any real list, far inside a BIGINT: an offset never overflows a database.
MAX_OFFSET = 10**9


@dataclass(frozen=True)
class Window:
    """The page asked for, and the request it came with (for the ``next`` link)."""

    limit: int
    offset: int
    path: str = ""
    query: tuple[tuple[str, str], ...] = ()

    def next_url(self, total: int) -> str | None:
        after = self.offset + self.limit
        if after >= total:
            return None
        kept = [(k, v) for k, v in self.query if k not in {"limit", "offset"}]
        return f"{self.path}?{urlencode([*kept, ('limit', self.limit), ('offset', after)])}"


def _whole(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 10 and low <= int(value) <= high):
        raise ValidationFailed(
            f"{name} 须为 {low} 至 {high} 的整数 / {name} must be a whole number from {low} "
            f"to {high}",
            code="page_invalid",
        )
    return int(value)


def provide_window(
    request: Request[Any, Any, Any],
    limit: Annotated[
        str | None,
        QueryParameter(description=f"Items per page, 1 to {MOST} (default {DEFAULT})."),
    ] = None,
    offset: Annotated[
        str | None,
        QueryParameter(description="Items to skip (or follow `next`)."),
    ] = None,
) -> Window:
    """The ``window`` dependency: ``limit`` and ``offset`` from the query, checked."""
    return Window(
        limit=_whole(limit, "limit", DEFAULT, 1, MOST),
        offset=_whole(offset, "offset", 0, 0, MAX_OFFSET),
        path=request.url.path,
        query=tuple(parse_qsl(request.url.query, keep_blank_values=True)),
    )


def _page(window: Window, items: list[Any], total: int) -> dict[str, Any]:
    return {
        "items": items,
        "total": total,
        "limit": window.limit,
        "offset": window.offset,
        "next": window.next_url(total),
    }


def page_of(
    session: Session,
    window: Window,
    query: Select[*tuple[Any, ...]],
    view: Callable[[Any], Any],
) -> dict[str, Any]:
    """One page of ``query`` (which sets its own order), each row through ``view``:
    the entity itself when the query selects one, else the row's tuple."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    windowed = query.limit(window.limit).offset(window.offset)
    rows: Sequence[Any] = (
        session.scalars(windowed).all()
        if len(query.column_descriptions) == 1
        else [tuple(row) for row in session.execute(windowed)]
    )
    return _page(window, [view(row) for row in rows], total or 0)


def page_of_list(window: Window, items: Sequence[Any]) -> dict[str, Any]:
    """One page of ``items``, a list built whole (short lists: texts, plugins, queues)."""
    return _page(window, list(items[window.offset : window.offset + window.limit]), len(items))
