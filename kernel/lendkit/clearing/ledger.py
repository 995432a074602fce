"""The double-entry journal: append-only, balanced, idempotent.

:func:`post` writes one balanced entry (lines summing to zero, debits
positive) in the caller's transaction, with an idempotency key: posting the
same key again returns the first entry. Corrections are reversing entries
(:func:`reverse`); the database refuses updates and deletes of journal rows,
and on PostgreSQL also refuses, at commit, any entry that does not balance.

Balances are kept in the same transaction in ``account_balance``, spread
over a few bucket rows per account so that the accounts every posting
touches (fund pools, channels, income) are not one hot row serializing the
whole system; an account's balance is the sum of its buckets.

A posting that would take a no-overdraft account below zero is refused.
Loan receivables are kept non-negative per loan (and for their lines
without a loan), which implies the account and lets repayments of
different loans run side by side; fund pools as a whole. Two postings
drawing on the same thing at once are checked one after the other (an
advisory lock per account, or per account and loan, until commit).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Engine,
    ForeignKey,
    Index,
    Numeric,
    SmallInteger,
    String,
    and_,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import (
    Mapped,
    Session,
    joinedload,
    make_transient_to_detached,
    mapped_column,
    relationship,
)
from sqlalchemy.orm.attributes import set_committed_value

from lendkit.clearing.accounts import AccountKind, kind_of
from lendkit.clearing.money import ZERO, money
from lendkit.db import Base, BigId, UTCDateTime, utcnow
from lendkit.errors import ConflictError, ValidationFailed

__all__ = [
    "ZERO",
    "Account",
    "AccountBalance",
    "JournalEntry",
    "JournalLine",
    "Line",
    "TrialBalance",
    "balance",
    "post",
    "reverse",
    "statement",
    "trial_balance",
]

BUCKETS = 16
_Row = TypeVar("_Row", bound=Base)
INSERTMANYVALUES_PAGE = 1000  # SQLAlchemy's default page of rows per INSERT
AMOUNT = Numeric(18, 2)


class Account(Base):
    __tablename__ = "ledger_account"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(96), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JournalEntry(Base):
    __tablename__ = "journal_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    business_date: Mapped[date] = mapped_column(Date, index=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    cause: Mapped[str] = mapped_column(String(128))
    memo: Mapped[str] = mapped_column(String(256), default="")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journal_entry.id"), unique=True)

    lines: Mapped[list[JournalLine]] = relationship(
        back_populates="entry", order_by="JournalLine.id"
    )


class JournalLine(Base):
    __tablename__ = "journal_line"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("journal_entry.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount: Mapped[Decimal] = mapped_column(AMOUNT)  # debit > 0 > credit
    loan_id: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str | None] = mapped_column(String(32))  # funding source, for co-lending splits

    entry: Mapped[JournalEntry] = relationship(back_populates="lines")
    account: Mapped[Account] = relationship()

    __table_args__ = (
        Index("ix_journal_line_account", "account_id", "entry_id"),
        Index("ix_journal_line_loan", "loan_id"),
        Index("ix_journal_line_entry", "entry_id"),
    )


class AccountBalance(Base):
    __tablename__ = "account_balance"

    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"), primary_key=True)
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    balance: Mapped[Decimal] = mapped_column(AMOUNT)


@dataclass(frozen=True, slots=True)
class Line:
    """One side of a posting: ``amount`` > 0 debits, < 0 credits ``account``."""

    account: str
    amount: Decimal
    loan_id: int | None = None
    source: str | None = None

    @staticmethod
    def debit(account: str, amount: Decimal, **dims: object) -> Line:
        return Line(account, money(amount), **dims)  # type: ignore[arg-type]

    @staticmethod
    def credit(account: str, amount: Decimal, **dims: object) -> Line:
        return Line(account, -money(amount), **dims)  # type: ignore[arg-type]


# -- Accounts: ids cached per engine ------------------------------------------------
#
# An account row, once committed, never changes or goes away (journal lines
# point at it), so its id is cached per engine. Only ids seen committed are
# cached: an account this session created may still be rolled back.

_ACCOUNT_IDS: WeakKeyDictionary[Engine, dict[str, int]] = WeakKeyDictionary()
_CREATED = "lendkit.ledger.created_accounts"
_BUCKET = "lendkit.ledger.bucket"


def _cache(session: Session) -> dict[str, int]:
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    return _ACCOUNT_IDS.setdefault(engine, {})


def _account_ids(session: Session, codes: Iterable[str], *, create: bool = True) -> dict[str, int]:
    """Ids of the account codes, creating missing accounts unless told not to
    (then they are left out); codes outside the chart are refused."""
    cache = _cache(session)
    found: dict[str, int] = {}
    missing: set[str] = set()
    for code in codes:
        if code in cache:
            found[code] = cache[code]
        else:
            kind_of(code)  # refuses codes outside the chart
            missing.add(code)
    if not missing:
        return found
    created: set[str] = session.info.setdefault(_CREATED, set())
    for code, account_id in session.execute(
        select(Account.code, Account.id).where(Account.code.in_(missing))
    ):
        found[code] = account_id
        if code not in created:
            cache[code] = account_id
    for code in sorted(missing - found.keys()) if create else ():
        statement = (
            _upsert(session)(Account)
            .values(code=code, created_at=utcnow())
            .on_conflict_do_nothing(index_elements=["code"])
            .returning(Account.id)
        )
        new: int | None = session.execute(statement).scalar()
        if new is None:  # created concurrently, and committed: theirs
            new = session.scalars(select(Account.id).where(Account.code == code)).one()
            cache[code] = new
        else:
            created.add(code)
        found[code] = new
    return found


def _account_id(session: Session, code: str) -> int:
    return _account_ids(session, [code])[code]


def _upsert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _add_to_balances(session: Session, amounts: dict[int, Decimal]) -> None:
    """Move balances: one statement, accounts in id order, one bucket per session.

    A session's postings all land in one bucket (chosen at random), so two
    transactions meet on a balance row only when they drew the same bucket,
    and then in the same order: they wait, they do not deadlock.
    """
    rows = [(account_id, amount) for account_id, amount in sorted(amounts.items()) if amount]
    if not rows:
        return
    bucket = session.info.setdefault(_BUCKET, secrets.randbelow(BUCKETS))
    table = AccountBalance.__table__
    statement = _upsert(session)(table)
    statement = statement.on_conflict_do_update(
        index_elements=["account_id", "bucket"],
        set_={"balance": table.c.balance + statement.excluded.balance},
    ).returning(table.c.account_id)
    # Sent as one multi-row statement (see the lines in post), compiled once.
    session.connection().execute(
        statement, [{"account_id": a, "bucket": bucket, "balance": amount} for a, amount in rows]
    ).all()


def _add_to_balance(session: Session, account_id: int, amount: Decimal) -> None:
    _add_to_balances(session, {account_id: amount})


def balance(session: Session, code: str) -> Decimal:
    """The account's current balance (debit positive), from its buckets."""
    total = session.scalar(
        select(func.coalesce(func.sum(AccountBalance.balance), 0))
        .join(Account, Account.id == AccountBalance.account_id)
        .where(Account.code == code)
    )
    return money(total or 0)


def _same(session: Session, entry: JournalEntry, lines: Sequence[Line]) -> bool:
    theirs = sorted(
        (line.account_id, line.amount, line.loan_id, line.source) for line in entry.lines
    )
    ids = _account_ids(session, {line.account for line in lines}, create=False)
    if len(ids) < len({line.account for line in lines}):
        return False  # an account that does not exist is on no entry
    ours = sorted(
        (ids[line.account], money(line.amount), line.loan_id, line.source) for line in lines
    )
    return theirs == ours


def _posted(session: Session, idempotency_key: str) -> JournalEntry | None:
    """The entry posted under this key, with its lines (one query: retries are common)."""
    return (
        session.scalars(
            select(JournalEntry)
            .where(JournalEntry.idempotency_key == idempotency_key)
            .options(joinedload(JournalEntry.lines))
        )
        .unique()
        .first()
    )


def _the_same_or_conflict(
    session: Session, entry: JournalEntry, lines: Sequence[Line]
) -> JournalEntry:
    if not _same(session, entry, lines):
        raise ConflictError(
            f"idempotency key {entry.idempotency_key!r} was used for a different entry"
        )
    return entry


def post(
    session: Session,
    *,
    business_date: date,
    idempotency_key: str,
    cause: str,
    lines: Sequence[Line],
    memo: str = "",
    reverses_id: int | None = None,
) -> JournalEntry:
    """Post a balanced entry, or return the entry already posted under this key.

    Raises :class:`ValidationFailed` for an unbalanced or empty entry or an
    overdraft of a no-overdraft account, :class:`ConflictError` when the key
    was used for a different entry.

    A posting is on every money path, so it costs few round trips whatever
    its number of lines: on PostgreSQL one statement writes the entry (``ON
    CONFLICT DO NOTHING`` on its key: a retry, or the same key committed
    concurrently, finds the first), all its lines (PostgreSQL checks balance
    per statement), the balances, and takes the locks of what it draws on
    that may not be overdrawn; elsewhere three statements do. A read of
    those balances follows. Account ids come from a cache.
    """
    amounts = [money(line.amount) for line in lines]
    if len(lines) < 2 or any(amount == 0 for amount in amounts) or sum(amounts, ZERO) != ZERO:
        if (existing := _posted(session, idempotency_key)) is not None:
            return _the_same_or_conflict(session, existing, lines)
        raise ValidationFailed(
            f"entry {idempotency_key!r} does not balance"
            if len(lines) >= 2 and all(amounts)
            else "an entry needs at least two non-zero lines",
            code="unbalanced_entry",
        )
    if len(lines) > INSERTMANYVALUES_PAGE:
        raise ValidationFailed(
            f"entry {idempotency_key!r} has {len(lines)} lines: post it with batch.post_lines",
            code="entry_too_large",
        )
    ids = _account_ids(session, [line.account for line in lines])
    moved: dict[int, Decimal] = {}
    for line, amount in zip(lines, amounts, strict=True):
        moved[ids[line.account]] = moved.get(ids[line.account], ZERO) + amount
    header = {
        "business_date": business_date,
        "posted_at": utcnow(),
        "idempotency_key": idempotency_key,
        "cause": cause,
        "memo": memo,
        "reverses_id": reverses_id,
    }
    rows = [
        {
            "account_id": ids[line.account],
            "amount": amount,
            "loan_id": line.loan_id,
            "source": line.source,
        }
        for line, amount in zip(lines, amounts, strict=True)
    ]
    drawn = _drawn(lines, amounts, ids)
    current: dict[_Part, Decimal] | None = None
    if session.get_bind().dialect.name == "postgresql":
        entry, current = _write_postgresql(session, header, rows, moved, drawn)
    else:
        entry = _write(session, header, rows, moved)  # SQLite: one writer at a time, no locks
    if entry is None:  # posted before, or just now by a concurrent transaction
        existing = _posted(session, idempotency_key)
        if existing is None:
            raise ConflictError(f"idempotency key {idempotency_key!r} is being posted")
        return _the_same_or_conflict(session, existing, lines)
    _refuse_overdrafts(session, drawn, current)
    return entry


def _write(
    session: Session,
    header: dict[str, Any],
    rows: list[dict[str, Any]],
    moved: dict[int, Decimal],
) -> JournalEntry | None:
    """Entry, lines, balances: three statements (any database)."""
    entry: JournalEntry | None = session.scalars(
        _upsert(session)(JournalEntry)
        .values(**header)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(JournalEntry)
    ).first()
    if entry is None:
        return None
    # With RETURNING, SQLAlchemy sends the rows as one multi-row INSERT
    # ("insertmanyvalues", up to 1,000 rows), a statement it compiles once.
    posted = session.scalars(
        insert(JournalLine).returning(JournalLine, sort_by_parameter_order=True),
        [{"entry_id": entry.id, **row} for row in rows],
        execution_options={"render_nulls": True},  # NULLs too, else rows split by keys
    ).all()
    set_committed_value(entry, "lines", list(posted))
    _add_to_balances(session, moved)
    return entry


# Entry, lines and balances in one statement (data-modifying CTEs run once
# each, whether read or not; the entry's CTE is empty when the key exists,
# and then nothing else is written), which also takes the overdraft locks
# (see _refuse_overdrafts). The lines come as arrays, so the text never
# changes: the server prepares it once per connection. Sent through the
# driver itself (see _on_driver): this is the hottest statement of the system.
_POST_PG = """
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


def _write_postgresql(
    session: Session,
    header: dict[str, Any],
    rows: list[dict[str, Any]],
    moved: dict[int, Decimal],
    drawn: dict[_Part, tuple[str, AccountKind]],
) -> tuple[JournalEntry | None, dict[_Part, Decimal] | None]:
    """Entry, lines, balances and locks (see ``_POST_PG``); then, if the entry
    draws on no-overdraft parts, their balances (``_BALANCES_PG``), read by a
    statement that starts after the locks are held, so it sees what any
    other holder of those locks committed."""
    balances = [(a, amount) for a, amount in sorted(moved.items()) if amount]
    session.flush()  # the driver's SQL bypasses the session: write what it holds first
    connection = session.connection()
    written = _on_driver(
        connection,
        _POST_PG,
        {
            **header,
            "accounts": _array(row["account_id"] for row in rows),
            "amounts": _array(row["amount"] for row in rows),
            "loans": _array(row["loan_id"] for row in rows),
            "sources": _array(row["source"] for row in rows),
            "bucket": session.info.setdefault(_BUCKET, secrets.randbelow(BUCKETS)),
            "moved_accounts": _array(a for a, _ in balances),
            "moved": _array(amount for _, amount in balances),
            "lock_keys": _array(_lock_keys(drawn)),
        },
    )
    if not written:
        return None, None
    current = None
    if drawn:
        current = _balance_rows(_on_driver(connection, _BALANCES_PG, _balance_parameters(drawn)))
    # The rows are written: hand back the entry without reading it again (its
    # lines load when first asked for).
    return _persistent(session, JournalEntry(id=written[0][0], **header)), current


def _on_driver(
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


# A part of an account that may not be overdrawn: the whole account, or, for
# kinds kept by loan, one loan's lines (loan id) or the lines without a loan (None).
_Part = tuple[int, bool, int | None]  # (account id, by loan, loan id)


def _drawn(
    lines: Sequence[Line], amounts: Sequence[Decimal], ids: dict[str, int]
) -> dict[_Part, tuple[str, AccountKind]]:
    """The no-overdraft parts this entry draws on: only those can it overdraw."""
    moved: dict[_Part, Decimal] = {}
    names: dict[_Part, tuple[str, AccountKind]] = {}
    for line, amount in zip(lines, amounts, strict=True):
        kind = kind_of(line.account)
        if kind.no_overdraft:
            part = (ids[line.account], kind.by_loan, line.loan_id if kind.by_loan else None)
            moved[part] = moved.get(part, ZERO) + amount
            names[part] = (line.account, kind)
    return {
        part: names[part]
        for part, amount in moved.items()
        if (amount < 0 if names[part][1].debit_normal else amount > 0)
    }


def _lock_keys(drawn: dict[_Part, tuple[str, AccountKind]]) -> list[str]:
    """Advisory lock names of the drawn parts, sorted (a fixed order: no deadlock
    between two postings drawing on the same parts). A whole account, and the
    lines without a loan of an account kept by loan, share the account's lock;
    one loan's part has its own."""
    keys = {
        f"lendkit.ledger:{a}" if loan is None else f"lendkit.ledger:{a}:{loan}"
        for a, _, loan in drawn
    }
    return sorted(keys)


def _refuse_overdrafts(
    session: Session,
    drawn: dict[_Part, tuple[str, AccountKind]],
    current: dict[_Part, Decimal] | None = None,
) -> None:
    """Refuse the posting if it took a drawn part below zero.

    On PostgreSQL the posting's statement took a transaction-level advisory
    lock on each drawn part (see _lock_keys), so two postings drawing on one
    part at once are checked one after the other: this read comes after the
    lock, in a statement that sees what the other committed. Locks by loan
    mean repayments of different loans never wait for each other, where a
    lock on ``loan_principal`` would serialize them all.
    """
    if not drawn:
        return
    if current is None:
        current = _balances(session, drawn)
    for part, (code, kind) in drawn.items():
        balance_ = current.get(part, ZERO)
        if (balance_ < 0) if kind.debit_normal else (balance_ > 0):
            of = f" for loan {part[2]}" if part[1] and part[2] is not None else ""
            raise ValidationFailed(
                f"{code}{of} would be overdrawn ({balance_})", code="insufficient_funds"
            )


_BALANCES_PG = """
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


def _balance_parameters(drawn: dict[_Part, tuple[str, AccountKind]]) -> dict[str, str]:
    loans = [(a, loan) for a, by_loan, loan in drawn if by_loan and loan is not None]
    return {
        "loan_accounts": _array(a for a, _ in loans),
        "loans": _array(loan for _, loan in loans),
        "loanless": _array(a for a, by_loan, loan in drawn if by_loan and loan is None),
        "accounts": _array(a for a, by_loan, _ in drawn if not by_loan),
    }


def _balance_rows(rows: Sequence[tuple[Any, ...]]) -> dict[_Part, Decimal]:
    return {(a, by_loan, loan): money(total or 0) for a, by_loan, loan, total in rows}


def _balances(
    session: Session, drawn: dict[_Part, tuple[str, AccountKind]]
) -> dict[_Part, Decimal]:
    current: dict[_Part, Decimal] = {}
    accounts = [a for a, by_loan, _ in drawn if not by_loan]
    if accounts:
        for account_id, total in session.execute(
            select(AccountBalance.account_id, func.sum(AccountBalance.balance))
            .where(AccountBalance.account_id.in_(accounts))
            .group_by(AccountBalance.account_id)
        ):
            current[(account_id, False, None)] = money(total or 0)
    parts = [
        and_(
            JournalLine.account_id == a,
            JournalLine.loan_id.is_(None) if loan is None else JournalLine.loan_id == loan,
        )
        for a, by_loan, loan in drawn
        if by_loan
    ]
    if parts:
        for account_id, loan_id, total in session.execute(
            select(JournalLine.account_id, JournalLine.loan_id, func.sum(JournalLine.amount))
            .where(or_(*parts))
            .group_by(JournalLine.account_id, JournalLine.loan_id)
        ):
            current[(account_id, True, loan_id)] = money(total or 0)
    return current


def reverse(session: Session, entry_id: int, *, business_date: date, reason: str) -> JournalEntry:
    """Post the mirror image of an entry (once; reversing again returns the same reversal)."""
    original = session.get(JournalEntry, entry_id)
    if original is None:
        raise ValidationFailed(f"no journal entry {entry_id}", code="entry_unknown")
    if original.reverses_id is not None:
        raise ValidationFailed(
            "a reversal is not reversed; post a new entry", code="reversal_of_reversal"
        )
    return post(
        session,
        business_date=business_date,
        idempotency_key=f"reversal:{original.id}",
        cause=original.cause,
        memo=f"reversal of entry {original.id}: {reason}",
        reverses_id=original.id,
        lines=[
            Line(line.account.code, -line.amount, line.loan_id, line.source)
            for line in original.lines
        ],
    )


@dataclass(frozen=True, slots=True)
class TrialBalance:
    as_of: date | None
    rows: list[tuple[str, Decimal]]  # (account code, balance), debit positive
    total: Decimal
    mismatched: list[str]  # accounts whose kept balance differs from their lines

    @property
    def balanced(self) -> bool:
        return self.total == ZERO and not self.mismatched


def trial_balance(session: Session, as_of: date | None = None) -> TrialBalance:
    """Balances recomputed from the journal lines (up to ``as_of``), cross-checked.

    Without a date, each account's kept balance must also equal its lines.
    """
    query = (
        select(Account.code, func.coalesce(func.sum(JournalLine.amount), 0))
        .join(JournalLine, JournalLine.account_id == Account.id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .group_by(Account.code)
        .order_by(Account.code)
    )
    if as_of is not None:
        query = query.where(JournalEntry.business_date <= as_of)
    rows = [(code, money(total)) for code, total in session.execute(query)]
    mismatched: list[str] = []
    if as_of is None:
        kept = dict(
            session.execute(
                select(Account.code, func.sum(AccountBalance.balance))
                .join(AccountBalance, AccountBalance.account_id == Account.id)
                .group_by(Account.code)
            ).all()
        )
        mismatched = [code for code, total in rows if money(kept.get(code, 0)) != total]
    return TrialBalance(as_of, rows, money(sum((t for _, t in rows), ZERO)), mismatched)


def statement(
    session: Session, code: str, start: date, end: date
) -> list[tuple[JournalEntry, Decimal, Decimal]]:
    """Lines of one account between two business dates: (entry, amount, running balance)."""
    account_id = session.scalar(select(Account.id).where(Account.code == code))
    if account_id is None:
        return []
    opening = money(
        session.scalar(
            select(func.coalesce(func.sum(JournalLine.amount), 0))
            .join(JournalEntry)
            .where(JournalLine.account_id == account_id, JournalEntry.business_date < start)
        )
        or 0
    )
    rows = session.execute(
        select(JournalEntry, JournalLine.amount)
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .where(JournalLine.account_id == account_id, JournalEntry.business_date.between(start, end))
        .order_by(JournalEntry.business_date, JournalEntry.id, JournalLine.id)
    ).all()
    result, running = [], opening
    for entry, amount in rows:
        running += amount
        result.append((entry, money(amount), running))
    return result
