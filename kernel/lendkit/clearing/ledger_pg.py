"""A posting on PostgreSQL in one statement, sent through the driver itself.

Entry, lines and balances are written by one statement that also takes the
overdraft locks (``POST_PG``); the balances of the drawn parts are then read
by a statement that starts after the locks are held (``BALANCES_PG``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached

from lendkit.clearing.ledger_models import JournalEntry
from lendkit.clearing.money import money
from lendkit.clearing.overdraft import Drawn, Part, lock_keys
from lendkit.db import Base

__all__ = ["write_many_postgresql", "write_postgresql"]

_Row = TypeVar("_Row", bound=Base)

# Entry, lines and balances in one statement (data-modifying CTEs run once
# each, whether read or not; the entry's CTE is empty when the key exists,
# and then nothing else is written), which also takes the overdraft locks
# (see overdraft.refuse_overdrafts). The lines come as arrays, so the text never
# changes: the server prepares it once per connection. Sent through the
# driver itself (see on_driver): this is the hottest statement of the system.
POST_PG = """
WITH entry AS (
  INSERT INTO journal_entry (business_date, posted_at, idempotency_key, cause, memo, reverses_id)
  VALUES (%(business_date)s, %(posted_at)s, %(idempotency_key)s, %(cause)s, %(memo)s,
          %(reverses_id)s::bigint)
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id
), lines AS (
  INSERT INTO journal_line (entry_id, account_id, amount, loan_id, source)
  SELECT entry.id, v.account_id, v.amount, v.loan_id, v.source
  FROM entry, unnest(%(accounts)s::integer[], %(amounts)s::numeric[], %(loans)s::bigint[],
                     %(sources)s::varchar[]) WITH ORDINALITY AS v(account_id, amount, loan_id, source, n)
  ORDER BY v.n
  RETURNING id
), balances AS (
  INSERT INTO account_balance (account_id, bucket, balance)
  SELECT b.account_id, %(bucket)s::smallint, b.amount
  FROM entry, unnest(%(moved_accounts)s::integer[], %(moved)s::numeric[]) AS b(account_id, amount)
  ORDER BY b.account_id
  ON CONFLICT (account_id, bucket)
  DO UPDATE SET balance = account_balance.balance + excluded.balance
  RETURNING 1
), locks AS (
  SELECT pg_advisory_xact_lock(hashtextextended(k.key, 0))
  FROM unnest(%(lock_keys)s::text[]) WITH ORDINALITY AS k(key, n)
  ORDER BY k.n
)
SELECT entry.id, (SELECT count(*) FROM lines), (SELECT count(*) FROM locks) FROM entry
"""


def _array(values: Iterable[int | Decimal | str | None]) -> str:
    """A PostgreSQL array literal (the statement casts it to its type): a
    fraction of the cost of the driver's generic list adaptation, which for
    nine small arrays per posting was a good part of a posting's time."""
    return "{" + ",".join(_element(value) for value in values) + "}"


def _element(value: int | Decimal | str | None) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def write_postgresql(
    session: Session,
    header: dict[str, Any],
    rows: list[dict[str, Any]],
    moved: dict[int, Decimal],
    drawn: Drawn,
    bucket: int,
) -> tuple[JournalEntry | None, dict[Part, Decimal] | None]:
    """Entry, lines, balances and locks (see ``POST_PG``); then, if the entry
    draws on no-overdraft parts, their balances (``BALANCES_PG``), read by a
    statement that starts after the locks are held, so it sees what any
    other holder of those locks committed."""
    balances = [(a, amount) for a, amount in sorted(moved.items()) if amount]
    session.flush()  # the driver's SQL bypasses the session: write what it holds first
    connection = session.connection()
    written = on_driver(
        connection,
        POST_PG,
        {
            **header,
            "accounts": _array(row["account_id"] for row in rows),
            "amounts": _array(row["amount"] for row in rows),
            "loans": _array(row["loan_id"] for row in rows),
            "sources": _array(row["source"] for row in rows),
            "bucket": bucket,
            "moved_accounts": _array(a for a, _ in balances),
            "moved": _array(amount for _, amount in balances),
            "lock_keys": _array(lock_keys(drawn)),
        },
    )
    if not written:
        return None, None
    current = None
    if drawn:
        current = _balance_rows(on_driver(connection, BALANCES_PG, _balance_parameters(drawn)))
    # The rows are written: hand back the entry without reading it again (its
    # lines load when first asked for).
    return _persistent(session, JournalEntry(id=written[0][0], **header)), current


# Several entries in one statement (``ledger.post_many``): as POST_PG, each
# entry's lines and balance moves carry its key, so an entry whose key exists
# writes nothing; the moves are summed by account, as one INSERT may touch a
# balance row once.
POST_MANY_PG = """
WITH entry AS (
  INSERT INTO journal_entry (business_date, posted_at, idempotency_key, cause, memo, reverses_id)
  SELECT e.business_date, e.posted_at, e.idempotency_key, e.cause, e.memo, e.reverses_id
  FROM unnest(%(dates)s::date[], %(posted)s::timestamptz[], %(keys)s::varchar[],
              %(causes)s::varchar[], %(memos)s::varchar[], %(reverses)s::bigint[])
       WITH ORDINALITY AS e(business_date, posted_at, idempotency_key, cause, memo, reverses_id, n)
  ORDER BY e.n
  ON CONFLICT (idempotency_key) DO NOTHING
  RETURNING id, idempotency_key
), lines AS (
  INSERT INTO journal_line (entry_id, account_id, amount, loan_id, source)
  SELECT entry.id, v.account_id, v.amount, v.loan_id, v.source
  FROM unnest(%(line_keys)s::varchar[], %(accounts)s::integer[], %(amounts)s::numeric[],
              %(loans)s::bigint[], %(sources)s::varchar[])
       WITH ORDINALITY AS v(key, account_id, amount, loan_id, source, n)
  JOIN entry ON entry.idempotency_key = v.key
  ORDER BY v.n
  RETURNING id
), balances AS (
  INSERT INTO account_balance (account_id, bucket, balance)
  SELECT b.account_id, %(bucket)s::smallint, sum(b.amount)
  FROM unnest(%(moved_keys)s::varchar[], %(moved_accounts)s::integer[], %(moved)s::numeric[])
       AS b(key, account_id, amount)
  JOIN entry ON entry.idempotency_key = b.key
  GROUP BY b.account_id
  HAVING sum(b.amount) <> 0
  ORDER BY b.account_id
  ON CONFLICT (account_id, bucket)
  DO UPDATE SET balance = account_balance.balance + excluded.balance
  RETURNING 1
), locks AS (
  SELECT pg_advisory_xact_lock(hashtextextended(k.key, 0))
  FROM unnest(%(lock_keys)s::text[]) WITH ORDINALITY AS k(key, n)
  ORDER BY k.n
)
SELECT entry.idempotency_key, entry.id, (SELECT count(*) FROM lines), (SELECT count(*) FROM locks)
FROM entry
"""

Built = tuple[dict[str, Any], list[dict[str, Any]], dict[int, Decimal], Drawn]


def write_many_postgresql(
    session: Session, built: Sequence[Built], bucket: int
) -> tuple[list[JournalEntry | None], dict[Part, Decimal]]:
    """Entries (header, line rows, balance moves, drawn parts) in one statement
    (``POST_MANY_PG``): each written entry, None for a key that exists; then,
    as :func:`write_postgresql`, the balances of the parts the written
    entries draw on."""
    headers = [header for header, _, _, _ in built]
    lines = [(h["idempotency_key"], row) for h, rows, _, _ in built for row in rows]
    moves = [
        (h["idempotency_key"], a, amount)
        for h, _, moved, _ in built
        for a, amount in sorted(moved.items())
        if amount
    ]
    session.flush()  # the driver's SQL bypasses the session: write what it holds first
    connection = session.connection()
    rows = on_driver(
        connection,
        POST_MANY_PG,
        {
            "dates": _array(str(h["business_date"]) for h in headers),
            "posted": _array(str(h["posted_at"]) for h in headers),
            "keys": _array(h["idempotency_key"] for h in headers),
            "causes": _array(h["cause"] for h in headers),
            "memos": _array(h["memo"] for h in headers),
            "reverses": _array(h["reverses_id"] for h in headers),
            "line_keys": _array(key for key, _ in lines),
            "accounts": _array(row["account_id"] for _, row in lines),
            "amounts": _array(row["amount"] for _, row in lines),
            "loans": _array(row["loan_id"] for _, row in lines),
            "sources": _array(row["source"] for _, row in lines),
            "bucket": bucket,
            "moved_keys": _array(key for key, _, _ in moves),
            "moved_accounts": _array(a for _, a, _ in moves),
            "moved": _array(amount for _, _, amount in moves),
            "lock_keys": _array(sorted({k for *_, drawn in built for k in lock_keys(drawn)})),
        },
    )
    ids = {key: entry_id for key, entry_id, _, _ in rows}
    entries: list[JournalEntry | None] = []
    drawn: Drawn = {}
    for header, _, _, parts in built:
        if header["idempotency_key"] in ids:
            entry = JournalEntry(id=ids[header["idempotency_key"]], **header)
            entries.append(_persistent(session, entry))
            drawn.update(parts)
        else:
            entries.append(None)
    current: dict[Part, Decimal] = {}
    if drawn:
        current = _balance_rows(on_driver(connection, BALANCES_PG, _balance_parameters(drawn)))
    return entries, current


def on_driver(
    connection: Connection, sql: str, parameters: dict[str, Any]
) -> list[tuple[Any, ...]]:
    """Run ``sql`` on psycopg itself, in the connection's transaction, prepared
    on the server: for these few small statements SQLAlchemy's own execution
    cost as much client time as the rest of a posting. Driver errors come
    back as SQLAlchemy's (IntegrityError, OperationalError...), as callers
    expect."""
    import psycopg

    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor:
            cursor.execute(sql, parameters, prepare=True)
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows
    except psycopg.Error as error:
        raise DBAPIError.instance(
            sql, parameters, error, psycopg.Error, dialect=connection.dialect
        ) from error


def _persistent(session: Session, row: _Row) -> _Row:
    make_transient_to_detached(row)
    session.add(row)
    return row


BALANCES_PG = """
SELECT p.a, true, p.l,
       (SELECT sum(j.amount) FROM journal_line j WHERE j.account_id = p.a AND j.loan_id = p.l)
FROM unnest(%(loan_accounts)s::integer[], %(loans)s::bigint[]) AS p(a, l)
UNION ALL
SELECT p.a, true, NULL,
       (SELECT sum(j.amount) FROM journal_line j WHERE j.account_id = p.a AND j.loan_id IS NULL)
FROM unnest(%(loanless)s::integer[]) AS p(a)
UNION ALL
SELECT b.account_id, false, NULL, sum(b.balance) FROM account_balance b
WHERE b.account_id = ANY(%(accounts)s::integer[]) GROUP BY b.account_id
"""


def _balance_parameters(drawn: Drawn) -> dict[str, str]:
    loans = [(a, loan) for a, by_loan, loan in drawn if by_loan and loan is not None]
    return {
        "loan_accounts": _array(a for a, _ in loans),
        "loans": _array(loan for _, loan in loans),
        "loanless": _array(a for a, by_loan, loan in drawn if by_loan and loan is None),
        "accounts": _array(a for a, by_loan, _ in drawn if not by_loan),
    }


def _balance_rows(rows: Sequence[tuple[Any, ...]]) -> dict[Part, Decimal]:
    return {(a, by_loan, loan): money(total or 0) for a, by_loan, loan, total in rows}
