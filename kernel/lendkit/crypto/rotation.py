"""Key rotation without downtime, and which key protects how many values.

``rotate`` adds a new field key (unless an earlier rotation was interrupted,
which it then finishes), re-encrypts rows in batches — each batch its own
transaction, so the app keeps serving and a crash loses at most one batch —
and retires old keys once nothing uses them. Readers accept every
unretired key throughout.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, inspect, literal_column, or_, select, update
from sqlalchemy.orm import Mapper, Session
from sqlalchemy.orm.attributes import flag_modified

from lendkit import audit
from lendkit.crypto.keys import create_data_key
from lendkit.crypto.orm import Encrypted
from lendkit.db import Base, utcnow
from lendkit.models import CryptoKey
from lendkit.runtime import Runtime

__all__ = ["RotationResult", "encrypted_columns", "key_usage", "rotate"]


def encrypted_columns(bind: Connection | Session) -> list[tuple[Mapper[Any], list[str]]]:
    """Every mapped class with encrypted columns whose table exists in ``bind``'s database.

    A plugin's models may be imported in a process whose tenant never
    enabled the plugin (tests, the conformance check): no table, nothing to rotate.
    """
    connection = bind.connection() if isinstance(bind, Session) else bind
    present = set(inspect(connection).get_table_names())
    found = []
    for mapper in Base.registry.mappers:
        if getattr(mapper.local_table, "name", None) not in present:
            continue
        keys = [p.key for p in mapper.column_attrs if isinstance(p.columns[0].type, Encrypted)]
        if keys:
            found.append((mapper, keys))
    return found


def _key_id_sql(column: Any) -> Any:
    # Bytes 2..5 of every stored value are its key id (see fields.py).
    # Inline literals: PostgreSQL must see the same expression in GROUP BY.
    return func.substr(column, literal_column("2"), literal_column("4"))


def key_usage(session: Session) -> Counter[int]:
    """How many stored values each key id protects, across all tables."""
    usage: Counter[int] = Counter()
    for mapper, keys in encrypted_columns(session):
        for key in keys:
            column = mapper.attrs[key].columns[0]
            rows = session.execute(
                select(_key_id_sql(column), func.count())
                .where(column.is_not(None))
                .group_by(_key_id_sql(column))
            )
            for key_id, count in rows:
                usage[int.from_bytes(bytes(key_id), "big")] += count
    return usage


@dataclass(frozen=True, slots=True)
class RotationResult:
    key_id: int
    resumed: bool
    rows: int
    retired: list[int]


def _stale(mapper: Mapper[Any], keys: list[str], active: bytes) -> Any:
    columns = [mapper.attrs[k].columns[0] for k in keys]
    return or_(*(c.is_not(None) & (_key_id_sql(c) != active) for c in columns))


def rotate(
    runtime: Runtime,
    batch_size: int = 500,
    progress: Callable[[int, int], object] = lambda done, total: None,
) -> RotationResult:
    """Rotate to a new field key (or finish an interrupted rotation)."""
    with runtime.sessions.begin() as session:
        active_before = runtime.keyring.active_key_id(session.connection())
        pending = sum(n for key_id, n in key_usage(session).items() if key_id != active_before)
        resumed = pending > 0
        if not resumed:
            create_data_key(session.connection(), runtime.keyring.wrapper, "field")
        runtime.keyring.load(session.connection())
        active = runtime.keyring.active_key_id(session.connection())
        audit.record(session, "cli", "keys.rotate", f"crypto_key:{active}", resumed=resumed)
    active_bytes = active.to_bytes(4, "big")
    with runtime.sessions() as session:
        tables = encrypted_columns(session)
        total = sum(
            session.scalar(
                select(func.count()).select_from(m.local_table).where(_stale(m, keys, active_bytes))
            )
            or 0
            for m, keys in tables
        )
    done = 0
    progress(done, total)
    for mapper, keys in tables:
        while True:
            with runtime.sessions.begin() as session:
                rows = session.scalars(
                    select(mapper)
                    .where(_stale(mapper, keys, active_bytes))
                    .order_by(*mapper.primary_key)
                    .limit(batch_size)
                    .with_for_update(skip_locked=True)
                ).all()
                for row in rows:
                    for key in keys:
                        flag_modified(row, key)
            if not rows:
                break
            done += len(rows)
            progress(done, total)
    return RotationResult(active, resumed, done, _retire_unused(runtime, active))


def _retire_unused(runtime: Runtime, active: int) -> list[int]:
    with runtime.sessions.begin() as session:
        used = key_usage(session)
        candidates = session.scalars(
            select(CryptoKey.id).where(
                CryptoKey.purpose == "field", CryptoKey.retired_at.is_(None), CryptoKey.id != active
            )
        ).all()
        retired = [key_id for key_id in candidates if not used.get(key_id)]
        if retired:
            session.execute(
                update(CryptoKey).where(CryptoKey.id.in_(retired)).values(retired_at=utcnow())
            )
    return retired
