"""Database plumbing: the declarative base, column types, engine and sessions.

Plugins define their models on :class:`Base` (part of the public plugin API)
so that one metadata describes the tenant's schema. The embedded default is
SQLite (WAL, foreign keys on); production runs PostgreSQL through psycopg 3.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Engine,
    Integer,
    MetaData,
    create_engine,
    event,
    select,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "BigId",
    "Json",
    "UTCDateTime",
    "in_order",
    "make_engine",
    "make_sessionmaker",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON()


class Base(DeclarativeBase):
    """Declarative base for kernel and plugin models (stable constraint names)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def in_order(session: Session, model: Any, *conditions: ColumnElement[bool]) -> list[Any]:
    """The rows of ``model`` meeting ``conditions``, oldest first (by ``id``)."""
    return list(session.scalars(select(model).where(*conditions).order_by(model.id)))


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no zone, so naive values are refused on the way in and UTC
    is restored on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for ``url`` with the kernel's connection settings applied."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


READ_ONLY = "lendkit_read_only"


def _sqlite_on_begin(connection: Any) -> None:
    # Writers take the write lock up front (IMMEDIATE): they queue on
    # busy_timeout instead of failing to upgrade a read lock mid-transaction.
    # Read-only sessions begin DEFERRED and, under WAL, never wait for writers.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_sessionmaker(
    engine: Engine, keyring: object = None, *, read_only: bool = False
) -> sessionmaker[Session]:
    """Sessions that carry the tenant's key ring, for encrypted columns.

    ``read_only`` sessions must not write: on SQLite they run beside writers.
    """
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False, info={"keyring": keyring})
