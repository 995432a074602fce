"""Values read off a table row (or another value) by the names they share.

Views, plugin values, specs and API answers copy most of their fields from a
row of the same names; listing each ``name=row.name`` again hides the few
that differ, so these helpers take the shared names and only the differing
ones by hand.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["from_fields", "plain_view"]

T = TypeVar("T", bound="DataclassInstance")


def from_fields(cls: type[T], source: object, **given: Any) -> T:
    """A ``cls`` whose fields are ``source``'s attributes of the same names, but for
    those ``given``."""
    read = {f.name: getattr(source, f.name) for f in fields(cls) if f.name not in given}
    return cls(**read, **given)


def plain_view(row: object, names: str, **given: Any) -> dict[str, Any]:
    """An API answer of ``row``'s attributes ``names`` (separated by spaces, as
    ``namedtuple`` takes them; dates and times in ISO 8601, None as it is),
    followed by ``given``."""
    view = {name: _plain(getattr(row, name)) for name in names.split()}
    return view | given


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
