"""One entry with thousands of lines: the journal writer of batch jobs.

:func:`lendkit.clearing.ledger.post` suits a payment's few lines; end of
day accrues interest on every running loan, so it posts one entry per chunk
of loans, each loan's part on its own lines (``loan_id``, ``source``), and
writes those lines in bulk: ``COPY`` on PostgreSQL, ``executemany`` on
SQLite. The journal's rules hold all the same: the entry balances (checked
here, and by PostgreSQL's trigger, which sums each entry a statement
touched), its key is unique, balances move in the same transaction. A batch
only *debits* no-overdraft accounts (accruals do), so it needs no overdraft
check, and refuses to credit them.

:func:`bulk_insert` and :func:`bulk_update` are the two bulk writes, usable
for any table.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, bindparam, insert, text, update
from sqlalchemy.orm import Session

from lendkit.clearing import ledger
from lendkit.clearing.accounts import kind_of
from lendkit.clearing.ledger import JournalEntry, JournalLine, Line
from lendkit.clearing.money import ZERO, money
from lendkit.db import utcnow
from lendkit.errors import ValidationFailed

__all__ = ["bulk_insert", "bulk_update", "post_lines"]


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def bulk_insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys): ``COPY`` on PostgreSQL."""
    if not rows:
        return
    columns = list(rows[0])
    _insert_tuples(session, table, columns, [tuple(row[c] for c in columns) for row in rows])


def _insert_tuples(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not _postgres(session):
        session.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def bulk_update(
    session: Session, table: Table, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Update rows found by ``keys`` to the other values in each row (same keys in all).

    On PostgreSQL one statement joins the table to the rows sent as arrays
    (``unnest``), instead of one statement per row.
    """
    if not rows:
        return
    values = [c for c in rows[0] if c not in keys]
    if _postgres(session):
        dialect = session.get_bind().dialect
        columns = [*keys, *values]
        arrays = ", ".join(
            f"CAST(:{c} AS {table.c[c].type.compile(dialect=dialect)}[])" for c in columns
        )
        assignments = ", ".join(f"{c} = v.{c}" for c in values)
        matches = " AND ".join(f"t.{k} = v.{k}" for k in keys)
        session.execute(
            text(
                f"UPDATE {table.name} AS t SET {assignments} "  # noqa: S608 - our column names
                f"FROM unnest({arrays}) AS v({', '.join(columns)}) WHERE {matches}"
            ),
            {c: [row[c] for row in rows] for c in columns},
        )
        return
    statement = (
        update(table)
        .where(*(table.c[k] == bindparam(f"k_{k}") for k in keys))
        .values({c: bindparam(f"v_{c}") for c in values})
    )
    session.connection().execute(
        statement,
        [{f"k_{k}": row[k] for k in keys} | {f"v_{c}": row[c] for c in values} for row in rows],
    )


_LINE_COLUMNS = ("entry_id", "account_id", "amount", "loan_id", "source")
_SOURCE = re.compile(r"[A-Za-z0-9_:.-]*")
_NULL = "\\N"  # COPY's text form of NULL


def _copy_lines(session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
    """Journal lines as ``COPY`` text, formatted here: ids, amounts (``Decimal``
    at the fen) and plain source codes need no escaping, and psycopg's
    per-value adaptation was most of the cost of a chunk's lines."""
    for source in {row[4] for row in rows} - {None}:
        if not _SOURCE.fullmatch(source):
            raise ValueError(f"funding source code {source!r} is not plain")
    body = "".join(
        f"{entry_id}\t{account_id}\t{amount}\t{_NULL if loan_id is None else loan_id}"
        f"\t{_NULL if source is None else source}\n"
        for entry_id, account_id, amount, loan_id, source in rows
    )
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY journal_line ({', '.join(_LINE_COLUMNS)}) FROM STDIN") as copy:
        copy.write(body)


def post_lines(
    session: Session,
    *,
    business_date: date,
    idempotency_key: str,
    cause: str,
    lines: Sequence[Line],
    memo: str = "",
) -> int:
    """Post one balanced entry of many lines; returns the number of lines."""
    if not lines:
        return 0
    total = sum((money(line.amount) for line in lines), ZERO)
    if total != ZERO or len(lines) < 2:
        raise ValidationFailed(
            f"entry {idempotency_key!r} does not balance", code="unbalanced_entry"
        )
    codes = {line.account for line in lines}
    for code in codes:
        if kind_of(code).no_overdraft and any(
            line.amount < 0 for line in lines if line.account == code
        ):
            raise ValueError(f"a batch may not credit {code}: post it with ledger.post")
    accounts = ledger._account_ids(session, codes)  # cached per engine
    entry_id = session.execute(
        insert(JournalEntry)
        .values(
            business_date=business_date,
            posted_at=utcnow(),
            idempotency_key=idempotency_key,
            cause=cause,
            memo=memo,
        )
        .returning(JournalEntry.id)
    ).scalar_one()
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    rows = []
    for line in lines:
        account_id = accounts[line.account]
        rows.append((entry_id, account_id, line.amount, line.loan_id, line.source))
        totals[account_id] += line.amount
    # One statement for the whole entry: PostgreSQL's trigger checks per statement.
    if _postgres(session):
        _copy_lines(session, rows)
    else:
        _insert_tuples(session, JournalLine.__table__, _LINE_COLUMNS, rows)  # type: ignore[arg-type]
    ledger._add_to_balances(session, totals)
    return len(rows)
