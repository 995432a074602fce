"""Encrypted columns for SQLAlchemy models, declared in one word.

::

    class Borrower(EncryptedRow, Base):
        __tablename__ = "borrower"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(Encrypted())
        phone: Mapped[str] = mapped_column(Encrypted())
        phone_index: Mapped[bytes] = mapped_column(BlindIndex("phone", kind="phone"), unique=True)

Attributes hold plain ``str`` in Python; the database holds only SM4-GCM
ciphertext bound to table, column and the row's random ``row_key``. Sealing
happens in the ORM's flush (``before_insert``/``before_update``), opening
when rows load, both through the key ring in ``session.info["keyring"]``
(sessions made by the runtime carry it). Writing an encrypted column any
other way — a Core insert with plain text — raises instead of storing it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, LargeBinary, event, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Mapper, QueryContext, Session, mapped_column, object_session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator

from lendkit.crypto.fields import context, key_id_of
from lendkit.db import Base

if TYPE_CHECKING:
    from lendkit.crypto.keys import KeyRing

__all__ = ["BlindIndex", "Encrypted", "EncryptedRow", "SealedStr", "keyring_of", "lookup"]


class SealedStr(str):
    """A plaintext string that also carries the ciphertext it was stored as."""

    ciphertext: bytes

    def __new__(cls, plaintext: str, ciphertext: bytes) -> SealedStr:
        value = super().__new__(cls, plaintext)
        value.ciphertext = ciphertext
        return value


class _Stored(bytes):
    """Ciphertext read from the database, waiting for the load event to open it."""


class Encrypted(TypeDecorator[str]):
    """A personal-data column: plain ``str`` in Python, SM4-GCM ciphertext at rest."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if isinstance(value, SealedStr):
            return value.ciphertext
        if isinstance(value, _Stored):
            return bytes(value)
        raise TypeError(
            "encrypted columns are written through ORM objects only (plain text refused)"
        )

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else _Stored(value)


class BlindIndex(TypeDecorator[bytes]):
    """HMAC-SM3 of another encrypted attribute, kept in step by the flush."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, source: str, kind: str = "text") -> None:
        super().__init__(32)
        self.source = source
        self.kind = kind


class EncryptedRow:
    """Mixin for models with encrypted columns: the row's random binding key."""

    row_key: Mapped[bytes] = mapped_column(LargeBinary(16), default=lambda: secrets.token_bytes(16))


@dataclass(frozen=True, slots=True)
class _Plan:
    table: str
    encrypted: tuple[tuple[str, str], ...]  # (attribute key, column name)
    indexes: tuple[tuple[str, str, str], ...]  # (attribute key, source attribute, kind)


_plans: dict[Mapper[Any], _Plan] = {}


def _plan(mapper: Mapper[Any]) -> _Plan:
    plan = _plans.get(mapper)
    if plan is None:
        encrypted, indexes = [], []
        for prop in mapper.column_attrs:
            column = prop.columns[0]
            if isinstance(column.type, Encrypted):
                encrypted.append((prop.key, column.name))
            elif isinstance(column.type, BlindIndex):
                indexes.append((prop.key, column.type.source, column.type.kind))
        if encrypted and "row_key" not in mapper.column_attrs:
            raise TypeError(f"{mapper.class_.__name__} has encrypted columns: inherit EncryptedRow")
        plan = _plans[mapper] = _Plan(mapper.local_table.name, tuple(encrypted), tuple(indexes))  # type: ignore[attr-defined]
    return plan


def keyring_of(session: Session | None) -> KeyRing:
    # Duck-typed: importing KeyRing here would be circular (keys -> models -> orm).
    ring = session.info.get("keyring") if session is not None else None
    if ring is None:
        raise RuntimeError(
            "this session has no key ring: make sessions with the runtime's sessionmaker"
        )
    return cast("KeyRing", ring)


def _seal(mapper: Mapper[Any], connection: Connection, target: Any, changed_only: bool) -> None:
    plan = _plan(mapper)
    if not plan.encrypted and not plan.indexes:
        return
    ring = keyring_of(object_session(target))
    if target.row_key is None:
        target.row_key = secrets.token_bytes(16)
    state = inspect(target)
    active = ring.active_key_id(connection)
    for key, column in plan.encrypted:
        value = getattr(target, key)
        if value is None:
            continue
        stale = not isinstance(value, SealedStr) or key_id_of(value.ciphertext) != active
        if stale or (changed_only is False) or state.attrs[key].history.has_changes():
            ctx = context(plan.table, column, target.row_key)
            setattr(target, key, SealedStr(str(value), ring.seal(connection, str(value), ctx)))
    for key, source, kind in plan.indexes:
        value = getattr(target, source)
        if not changed_only or state.attrs[source].history.has_changes():
            setattr(
                target,
                key,
                None if value is None else ring.blind_index(connection, kind, str(value)),
            )


def _open(target: Any, connection: Connection, ring: KeyRing) -> None:
    plan = _plan(inspect(target).mapper)
    for key, column in plan.encrypted:
        value = target.__dict__.get(key)
        if isinstance(value, _Stored):
            ctx = context(plan.table, column, target.row_key)
            set_committed_value(
                target, key, SealedStr(ring.open(connection, value, ctx), bytes(value))
            )


def register(base: type[Any]) -> None:
    """Install the sealing and opening events on every model of ``base``."""

    @event.listens_for(base, "before_insert", propagate=True)
    def _before_insert(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
        _seal(mapper, connection, target, changed_only=False)

    @event.listens_for(base, "before_update", propagate=True)
    def _before_update(mapper: Mapper[Any], connection: Connection, target: Any) -> None:
        _seal(mapper, connection, target, changed_only=True)

    @event.listens_for(base, "load", propagate=True)
    def _on_load(target: Any, context_: QueryContext) -> None:
        session = context_.session
        if _plan(inspect(target).mapper).encrypted:
            _open(target, session.connection(), keyring_of(session))

    @event.listens_for(base, "refresh", propagate=True)
    def _on_refresh(target: Any, context_: QueryContext, attrs: Any) -> None:
        _on_load(target, context_)


register(Base)


def lookup(session: Session, kind: str, value: str) -> bytes:
    """The blind index of ``value``, to compare with a :class:`BlindIndex` column."""
    return keyring_of(session).blind_index(session.connection(), kind, value)
