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
from datetime import date
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from lendkit.clearing.accounts import kind_of
from lendkit.clearing.ledger_models import Account, AccountBalance, JournalEntry, JournalLine
from lendkit.clearing.ledger_pg import write_many_postgresql, write_postgresql
from lendkit.clearing.ledger_queries import TrialBalance, balance, statement, trial_balance
from lendkit.clearing.money import ZERO, money
from lendkit.clearing.overdraft import Drawn, Part, drawn_parts, part_moves, refuse_overdrafts
from lendkit.db import utcnow
from lendkit.errors import ConflictError, ValidationFailed

# The tables and the reads are their own modules; they are named here too, the
# clearing ledger's one face for the kernel and plugins (``ledger.balance``...).
__all__ = [
    "ZERO",
    "Account",
    "AccountBalance",
    "JournalEntry",
    "JournalLine",
    "Line",
    "Posting",
    "TrialBalance",
    "balance",
    "post",
    "post_many",
    "reverse",
    "statement",
    "trial_balance",
]

BUCKETS = 16
INSERTMANYVALUES_PAGE = 1000  # SQLAlchemy's default page of rows per INSERT


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
    bucket = _bucket(session)
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


def _bucket(session: Session) -> int:
    bucket: int = session.info.setdefault(_BUCKET, secrets.randbelow(BUCKETS))
    return bucket


def _add_to_balance(session: Session, account_id: int, amount: Decimal) -> None:
    _add_to_balances(session, {account_id: amount})


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
    prepared = _prepare(session, business_date, idempotency_key, cause, lines, memo, reverses_id)
    if isinstance(prepared, JournalEntry):
        return prepared
    ids = _account_ids(session, [line.account for line in lines])
    header, rows, moved, drawn = _rows(prepared, ids)
    current: dict[Part, Decimal] | None = None
    if session.get_bind().dialect.name == "postgresql":
        entry, current = write_postgresql(session, header, rows, moved, drawn, _bucket(session))
    else:
        entry = _write(session, header, rows, moved)  # SQLite: one writer at a time, no locks
    if entry is None:  # posted before, or just now by a concurrent transaction
        return _existing(session, idempotency_key, lines)
    refuse_overdrafts(session, drawn, current)
    return entry


@dataclass(frozen=True, slots=True)
class Posting:
    """One entry of :func:`post_many`: what :func:`post` takes, the date aside."""

    idempotency_key: str
    cause: str
    lines: Sequence[Line]
    memo: str = ""
    reverses_id: int | None = None


def post_many(
    session: Session, *, business_date: date, postings: Sequence[Posting]
) -> list[JournalEntry]:
    """Post several entries, each as :func:`post` would, in one round trip on
    PostgreSQL: each stays its own entry with its own key (reports classify a
    line by the other lines of its entry), a key posted before returns its
    entry and posts nothing, and each entry's no-overdraft parts are checked
    as they stood after it, as posting them one after the other would. An
    error leaves the transaction to be rolled back. Elsewhere, or for one
    entry, :func:`post` each in turn.
    """
    if len({p.idempotency_key for p in postings}) < len(postings):
        raise ValidationFailed("an idempotency key twice in one call", code="duplicate_key")
    if len(postings) < 2 or session.get_bind().dialect.name != "postgresql":
        return [
            post(
                session,
                business_date=business_date,
                idempotency_key=p.idempotency_key,
                cause=p.cause,
                lines=p.lines,
                memo=p.memo,
                reverses_id=p.reverses_id,
            )
            for p in postings
        ]
    results: list[JournalEntry | None] = []
    pending: list[_Prepared] = []
    for p in postings:
        prepared = _prepare(
            session, business_date, p.idempotency_key, p.cause, p.lines, p.memo, p.reverses_id
        )
        results.append(prepared if isinstance(prepared, JournalEntry) else None)
        if not isinstance(prepared, JournalEntry):
            pending.append(prepared)
    ids = _account_ids(session, [line.account for p in pending for line in p.lines])
    built = [_rows(p, ids) for p in pending]
    moves = [part_moves(p.lines, p.amounts, ids) for p in pending]
    written, current = write_many_postgresql(session, built, _bucket(session))
    # Each written entry's parts as they stood right after it: what was read,
    # less what the entries written after it moved.
    later: dict[Part, Decimal] = {}
    after: list[dict[Part, Decimal]] = []
    for (_, _, _, drawn), move, entry in reversed(list(zip(built, moves, written, strict=True))):
        after.append({part: current.get(part, ZERO) - later.get(part, ZERO) for part in drawn})
        if entry is not None:
            for part, amount in move.items():
                later[part] = later.get(part, ZERO) + amount
    after.reverse()
    outcomes = iter(zip(pending, built, written, after, strict=True))
    for i, result in enumerate(results):
        if result is None:
            prepared, (_, _, _, drawn), entry, balances = next(outcomes)
            if entry is None:  # posted before, or just now by a concurrent transaction
                entry = _existing(session, prepared.idempotency_key, prepared.lines)
            else:
                refuse_overdrafts(session, drawn, balances)
            results[i] = entry
    return [entry for entry in results if entry is not None]


@dataclass(frozen=True, slots=True)
class _Prepared:
    header: dict[str, Any]
    idempotency_key: str
    lines: Sequence[Line]
    amounts: list[Decimal]


def _prepare(
    session: Session,
    business_date: date,
    idempotency_key: str,
    cause: str,
    lines: Sequence[Line],
    memo: str,
    reverses_id: int | None,
) -> _Prepared | JournalEntry:
    """The entry checked and ready to write, or the one posted before under its
    key if this one does not balance (it then has to be the same)."""
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
    header = {
        "business_date": business_date,
        "posted_at": utcnow(),
        "idempotency_key": idempotency_key,
        "cause": cause,
        "memo": memo,
        "reverses_id": reverses_id,
    }
    return _Prepared(header, idempotency_key, lines, amounts)


def _rows(
    prepared: _Prepared, ids: dict[str, int]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[int, Decimal], Drawn]:
    """Header, line rows, balance moves by account id and drawn parts of an entry."""
    lines, amounts = prepared.lines, prepared.amounts
    moved: dict[int, Decimal] = {}
    for line, amount in zip(lines, amounts, strict=True):
        moved[ids[line.account]] = moved.get(ids[line.account], ZERO) + amount
    rows = [
        {
            "account_id": ids[line.account],
            "amount": amount,
            "loan_id": line.loan_id,
            "source": line.source,
        }
        for line, amount in zip(lines, amounts, strict=True)
    ]
    return prepared.header, rows, moved, drawn_parts(lines, amounts, ids)


def _existing(session: Session, idempotency_key: str, lines: Sequence[Line]) -> JournalEntry:
    """The entry posted before under this key, or just now by a concurrent transaction."""
    existing = _posted(session, idempotency_key)
    if existing is None:
        raise ConflictError(f"idempotency key {idempotency_key!r} is being posted")
    return _the_same_or_conflict(session, existing, lines)


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
