"""The double-entry journal: balanced, append-only, idempotent, safe under concurrency."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from lendkit.clearing import ledger
from lendkit.clearing.ledger import JournalEntry, Line, post, reverse, trial_balance
from lendkit.errors import ConflictError, ValidationFailed
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

D = Decimal
DAY = date(2026, 11, 24)


def fund(session, source="own", amount="1000000.00", key=None):
    return post(
        session,
        business_date=DAY,
        idempotency_key=key or f"capital:{source}",
        cause=f"funding:{source}",
        lines=[
            Line.debit(f"fund_pool:{source}", D(amount)),
            Line.credit(f"funding_capital:{source}", D(amount)),
        ],
    )


def test_a_balanced_entry_posts_and_moves_balances(runtime):
    with runtime.sessions.begin() as session:
        entry = fund(session)
        assert len(entry.lines) == 2
    with runtime.sessions() as session:
        assert ledger.balance(session, "fund_pool:own") == D("1000000.00")
        assert ledger.balance(session, "funding_capital:own") == D("-1000000.00")
        assert trial_balance(session).balanced


def test_an_unbalanced_entry_is_refused_and_nothing_is_written(runtime):
    with (
        pytest.raises(ValidationFailed, match="does not balance"),
        runtime.sessions.begin() as session,
    ):
        post(
            session,
            business_date=DAY,
            idempotency_key="bad",
            cause="test",
            lines=[
                Line.debit("fund_pool:own", D("10.00")),
                Line.credit("funding_capital:own", D("9.99")),
            ],
        )
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 0


def test_an_account_outside_the_chart_is_refused(runtime):
    with pytest.raises(ValueError, match="unknown account"), runtime.sessions.begin() as session:
        post(
            session,
            business_date=DAY,
            idempotency_key="k",
            cause="test",
            lines=[Line.debit("petty_cash", D("1")), Line.credit("funding_capital:own", D("1"))],
        )


def test_a_retry_with_the_same_key_returns_the_first_entry(runtime):
    with runtime.sessions.begin() as session:
        first = fund(session).id
    with runtime.sessions.begin() as session:
        assert fund(session).id == first
    with runtime.sessions() as session:
        assert ledger.balance(session, "fund_pool:own") == D("1000000.00")


def test_the_same_key_for_a_different_entry_is_a_conflict(runtime):
    with runtime.sessions.begin() as session:
        fund(session)
    with pytest.raises(ConflictError), runtime.sessions.begin() as session:
        fund(session, amount="5.00")


def test_a_reversal_mirrors_the_entry_once(runtime):
    with runtime.sessions.begin() as session:
        entry = fund(session)
        reversal = reverse(session, entry.id, business_date=DAY, reason="wrong amount")
        again = reverse(session, entry.id, business_date=DAY, reason="wrong amount")
        assert again.id == reversal.id
        assert sorted(line.amount for line in reversal.lines) == sorted(
            -line.amount for line in entry.lines
        )
        with pytest.raises(ValidationFailed, match="not reversed"):
            reverse(session, reversal.id, business_date=DAY, reason="undo")
    with runtime.sessions() as session:
        assert ledger.balance(session, "fund_pool:own") == D("0.00")


def test_the_fund_pool_cannot_be_overdrawn(runtime):
    with runtime.sessions.begin() as session:
        fund(session, amount="100.00")
    with pytest.raises(ValidationFailed, match="overdrawn"), runtime.sessions.begin() as session:
        post(
            session,
            business_date=DAY,
            idempotency_key="disburse-1",
            cause="loan:1",
            lines=[
                Line.debit("channel_in_transit:sandbox", D("100.01")),
                Line.credit("fund_pool:own", D("100.01")),
            ],
        )


@pytest.mark.parametrize(
    "statement", ["UPDATE journal_line SET amount = 0", "DELETE FROM journal_entry"]
)
def test_the_database_refuses_to_change_the_journal(runtime, statement):
    with runtime.sessions.begin() as session:
        fund(session)
    with pytest.raises(DBAPIError, match="append-only"), runtime.sessions.begin() as session:
        session.execute(text(statement))


def test_postgresql_refuses_an_unbalanced_entry_at_commit(runtime):
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite cannot defer a check to commit; the code enforces balance there")
    with runtime.sessions.begin() as session:
        fund(session)
    with pytest.raises(DBAPIError, match="does not balance"), runtime.sessions.begin() as session:
        session.execute(
            text(
                "INSERT INTO journal_entry (business_date, posted_at, idempotency_key, cause, memo) "
                "VALUES ('2026-11-24', now(), 'sneaky', 'x', '')"
            )
        )
        session.execute(
            text(
                "INSERT INTO journal_line (entry_id, account_id, amount) "
                "SELECT max(e.id), min(a.id), 5 FROM journal_entry e, ledger_account a"
            )
        )


def test_trial_balance_as_of_a_date_and_statement(runtime):
    with runtime.sessions.begin() as session:
        fund(session)
        post(
            session,
            business_date=date(2026, 11, 25),
            idempotency_key="spend",
            cause="campaign:1",
            lines=[
                Line.debit("marketing_expense", D("250.00")),
                Line.credit("fund_pool:own", D("250.00")),
            ],
        )
    with runtime.sessions() as session:
        yesterday = dict(trial_balance(session, DAY).rows)
        assert yesterday["fund_pool:own"] == D("1000000.00")
        assert "marketing_expense" not in yesterday
        rows = ledger.statement(session, "fund_pool:own", DAY, date(2026, 11, 25))
        assert [(amount, running) for _, amount, running in rows] == [
            (D("1000000.00"), D("1000000.00")),
            (D("-250.00"), D("999750.00")),
        ]


def test_cli_trial_balance_exits_non_zero_when_out_of_balance(runtime, lendkit_cli):
    with runtime.sessions.begin() as session:
        fund(session)
    ok = lendkit_cli("ledger", "trial-balance")
    assert ok.returncode == 0, ok.stderr
    assert "fund_pool:own" in ok.stdout
    assert "balanced" in ok.stdout
    dated = lendkit_cli("ledger", "trial-balance", "--date", "2026-11-23")
    assert dated.returncode == 0
    assert "fund_pool:own" not in dated.stdout
    if runtime.engine.dialect.name == "sqlite":
        # Only possible behind the code's back, on SQLite: the CLI must notice.
        with runtime.sessions.begin() as session:
            session.execute(text("UPDATE account_balance SET balance = balance + 1"))
        broken = lendkit_cli("ledger", "trial-balance")
        assert broken.returncode == 1
        assert "OUT OF BALANCE" in broken.stderr


def test_concurrent_repayments_with_retried_keys_post_exactly_once(runtime):
    """200 repayments over 20 loans from 8 threads; 50 are retries of earlier keys."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is PostgreSQL's job; SQLite serializes writers")
    with runtime.sessions.begin() as session:
        fund(session)
    keys = [f"repay:{i}" for i in range(150)] + [f"repay:{i}" for i in range(0, 150, 3)]
    errors: list[Exception] = []

    def worker(chunk):
        for key in chunk:
            n = int(key.split(":")[1])
            try:
                with runtime.sessions.begin() as session:
                    post(
                        session,
                        business_date=DAY,
                        idempotency_key=key,
                        cause=f"loan:{n % 20}",
                        lines=[
                            Line.debit("channel_in_transit:sandbox", D("100.00")),
                            Line.credit("borrower_suspense", D("100.00"), loan_id=n % 20),
                        ],
                    )
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(keys[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 151
        assert ledger.balance(session, "borrower_suspense") == D("-15000.00")
        assert trial_balance(session).balanced


def receivable(session, loan_id, amount, key):
    """Loan ``loan_id`` owes ``amount`` of principal (funded from the own pool)."""
    return post(
        session,
        business_date=DAY,
        idempotency_key=key,
        cause=f"loan:{loan_id}",
        lines=[
            Line.debit("loan_principal", D(amount), loan_id=loan_id, source="own"),
            Line.credit("fund_pool:own", D(amount), loan_id=loan_id, source="own"),
        ],
    )


def repay(session, loan_id, amount, key):
    return post(
        session,
        business_date=DAY,
        idempotency_key=key,
        cause=f"loan:{loan_id}",
        lines=[
            Line.debit("borrower_suspense", D(amount), loan_id=loan_id),
            Line.credit("loan_principal", D(amount), loan_id=loan_id, source="own"),
        ],
    )


def test_a_loan_receivable_cannot_be_overdrawn_even_when_other_loans_cover_it(runtime):
    with runtime.sessions.begin() as session:
        fund(session)
        receivable(session, 1, "100.00", "loan-1")
        receivable(session, 2, "5000.00", "loan-2")
    with (
        pytest.raises(ValidationFailed, match="loan 1 would be overdrawn") as refused,
        runtime.sessions.begin() as session,
    ):
        repay(session, 1, "100.01", "repay-1")
    assert refused.value.code == "insufficient_funds"
    # Lines without a loan are a part of their own, kept at zero or above too.
    with (
        pytest.raises(ValidationFailed, match="loan_principal would be overdrawn"),
        runtime.sessions.begin() as session,
    ):
        post(
            session,
            business_date=DAY,
            idempotency_key="loanless",
            cause="test",
            lines=[Line.debit("write_off", D("1.00")), Line.credit("loan_principal", D("1.00"))],
        )
    with runtime.sessions.begin() as session:
        repay(session, 1, "100.00", "repay-1")
    with runtime.sessions() as session:
        assert ledger.balance(session, "loan_principal") == D("5000.00")
        assert trial_balance(session).balanced


def test_an_account_created_in_a_rolled_back_savepoint_is_created_again(runtime):
    """Account ids are cached, but never one that a rollback may take away."""
    lines = [
        Line.debit("channel_in_transit:fresh", D("10.00")),
        Line.credit("fund_pool:fresh", D("10.00")),
    ]
    with runtime.sessions.begin() as session:
        with pytest.raises(ValidationFailed, match="overdrawn"), session.begin_nested():
            post(session, business_date=DAY, idempotency_key="t-1", cause="t", lines=lines)
        fund(session, source="fresh", amount="10.00")
        post(session, business_date=DAY, idempotency_key="t-1", cause="t", lines=lines)
    with runtime.sessions() as session:
        assert ledger.balance(session, "channel_in_transit:fresh") == D("10.00")
        assert trial_balance(session).balanced


def test_dimensions_with_any_characters_round_trip(runtime):
    odd = 'a"b\\c,{d} NULL'
    with runtime.sessions.begin() as session:
        entry = post(
            session,
            business_date=DAY,
            idempotency_key="odd",
            cause="test",
            lines=[
                Line.debit("fund_pool:own", D("1.00"), loan_id=None, source=odd),
                Line.credit("funding_capital:own", D("1.00"), loan_id=7, source=None),
            ],
        )
        entry_id = entry.id
    with runtime.sessions() as session:
        entry = session.get(JournalEntry, entry_id)
        assert [(ln.account.code, ln.amount, ln.loan_id, ln.source) for ln in entry.lines] == [
            ("fund_pool:own", D("1.00"), None, odd),
            ("funding_capital:own", D("-1.00"), 7, None),
        ]


def test_the_database_refuses_a_second_reversal_of_an_entry(runtime):
    """Under another key, past the code's check: the unique reversal wins, as
    SQLAlchemy's IntegrityError on both backends."""
    with runtime.sessions.begin() as session:
        entry = fund(session)
        reverse(session, entry.id, business_date=DAY, reason="once")
        entry_id = entry.id
    with pytest.raises(IntegrityError), runtime.sessions.begin() as session:
        post(
            session,
            business_date=DAY,
            idempotency_key="another-reversal",
            cause="test",
            reverses_id=entry_id,
            lines=[
                Line.credit("fund_pool:own", D("1000000.00")),
                Line.debit("funding_capital:own", D("1000000.00")),
            ],
        )


def test_repayments_of_one_loan_queue_and_of_another_loan_do_not(runtime):
    """Two postings drawing on one loan's receivable are checked one after the
    other; a posting for another loan does not wait for them."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("concurrency is PostgreSQL's job; SQLite serializes writers")
    with runtime.sessions.begin() as session:
        fund(session)
        receivable(session, 1, "100.00", "loan-1")
        receivable(session, 2, "100.00", "loan-2")
        receivable(session, 3, "0.01", "loan-3")
        repay(session, 3, "0.01", "accounts")  # suspense exists: no one waits to create it
    drawn, release = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def session_on_bucket(bucket):
        # Each transaction picks a balance bucket at random; two on the same
        # bucket wait for each other there. These do not.
        session = runtime.sessions()
        session.info[ledger._BUCKET] = bucket
        return session

    def first():
        with session_on_bucket(1) as session, session.begin():
            repay(session, 1, "80.00", "first")
            drawn.set()
            release.wait(10)

    def second():
        try:
            with session_on_bucket(2) as session, session.begin():
                repay(session, 1, "80.00", "second")
            results["second"] = "posted"
        except ValidationFailed as exc:
            results["second"] = exc.code

    def other_loan():
        with session_on_bucket(3) as session, session.begin():
            repay(session, 2, "80.00", "other")
        results["other"] = "posted"

    holder = threading.Thread(target=first)
    holder.start()
    assert drawn.wait(10)
    waiter = threading.Thread(target=second)
    waiter.start()
    other = threading.Thread(target=other_loan)
    other.start()
    other.join(5)
    assert results.get("other") == "posted"  # while the first still holds loan 1
    waiter.join(0.5)
    assert waiter.is_alive()  # the second waits for the first
    release.set()
    holder.join(10)
    waiter.join(10)
    assert results["second"] == "insufficient_funds"
    with runtime.sessions() as session:
        assert ledger.balance(session, "loan_principal") == D("40.00")  # loans 1, 2: 20 each
        assert trial_balance(session).balanced


def _move(key, debit, credit, amount):
    return ledger.Posting(
        key, "test", [Line.debit(debit, D(amount)), Line.credit(credit, D(amount))]
    )


def test_post_many_posts_separate_entries_and_returns_those_posted_before(runtime):
    with runtime.sessions.begin() as session:
        fund(session)
        first = post(
            session,
            business_date=DAY,
            idempotency_key="a",
            cause="test",
            lines=_move("a", "channel_in_transit:x", "fund_pool:own", "10.00").lines,
        )
        first_id = first.id
    with runtime.sessions.begin() as session:
        entries = ledger.post_many(
            session,
            business_date=DAY,
            postings=[
                _move("a", "channel_in_transit:x", "fund_pool:own", "10.00"),
                _move("b", "channel_in_transit:x", "fund_pool:own", "5.00"),
                _move("c", "fund_pool:own", "channel_in_transit:x", "15.00"),
            ],
        )
        assert [e.idempotency_key for e in entries] == ["a", "b", "c"]
        assert entries[0].id == first_id
        assert [len(e.lines) for e in entries] == [2, 2, 2]
    with runtime.sessions() as session:
        assert ledger.balance(session, "fund_pool:own") == D("1000000.00")
        assert ledger.balance(session, "channel_in_transit:x") == D("0.00")
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 4
        assert trial_balance(session).balanced
    with pytest.raises(ConflictError), runtime.sessions.begin() as session:
        ledger.post_many(
            session,
            business_date=DAY,
            postings=[
                _move("d", "channel_in_transit:x", "fund_pool:own", "1.00"),
                _move("b", "channel_in_transit:x", "fund_pool:own", "6.00"),
            ],
        )


def test_post_many_checks_each_entry_as_it_stood_after_it(runtime):
    """An entry that overdraws is refused even when a later entry of the call
    would make up for it, as posting them one after the other would."""
    with runtime.sessions.begin() as session:
        fund(session, amount="10.00")
    with pytest.raises(ValidationFailed) as refused, runtime.sessions.begin() as session:
        ledger.post_many(
            session,
            business_date=DAY,
            postings=[
                _move("out", "channel_in_transit:x", "fund_pool:own", "15.00"),
                _move("back", "fund_pool:own", "channel_in_transit:x", "15.00"),
            ],
        )
    assert refused.value.code == "insufficient_funds"
    with runtime.sessions.begin() as session:
        entries = ledger.post_many(
            session,
            business_date=DAY,
            postings=[
                _move("in", "fund_pool:own", "funding_capital:own", "5.00"),
                _move("out", "channel_in_transit:x", "fund_pool:own", "15.00"),
            ],
        )
        assert len(entries) == 2
    with runtime.sessions() as session:
        assert ledger.balance(session, "fund_pool:own") == D("0.00")
