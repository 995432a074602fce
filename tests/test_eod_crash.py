"""Kill end of day at random points (SIGKILL, no clean-up): rerunning completes,
and the books and loans equal those of an uninterrupted run of the same day."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal

from lendkit.clearing import funding, ledger
from lendkit.clearing.colending import Funder
from lendkit.lifecycle import booking, eod
from lendkit.runtime import open_runtime
from lendkit.testing import postgres_admin_url
from lendkit.testing.factories import add_capital, borrower, disbursed_loan
from sqlalchemy import create_engine, make_url, text

D = Decimal
START = date(2026, 1, 10)
DAY = date(2026, 2, 12)  # some loans fall due, some go overdue, all accrue
CHUNK = 3
SEED = 20261125

# Runs `lendkit eod` for argv[1] after arranging to SIGKILL itself at one point:
# "plan" (planned, not committed), or the k-th chunk "before" it starts,
# "inside" its transaction, or "after" its commit.
KILLER = """
import os, signal, sys
from datetime import date
from lendkit.lifecycle import eod
from lendkit.runtime import open_runtime

day, point, k = date.fromisoformat(sys.argv[1]), sys.argv[2], int(sys.argv[3])
calls = 0

def die():
    os.kill(os.getpid(), signal.SIGKILL)

real_plan, real_chunk, real_claim = eod.plan, eod.process_chunk, eod._claim_and_process

def plan(*args, **kwargs):
    result = real_plan(*args, **kwargs)
    if point == "plan":
        die()
    return result

def process_chunk(*args, **kwargs):
    global calls
    calls += 1
    if point == "before" and calls == k:
        die()
    result = real_chunk(*args, **kwargs)
    if point == "inside" and calls == k:
        die()
    return result

def claim(*args, **kwargs):
    result = real_claim(*args, **kwargs)
    if point == "after" and result and calls == k:
        die()
    return result

eod.plan, eod.process_chunk, eod._claim_and_process = plan, process_chunk, claim
eod.run(open_runtime(), day, chunk_size=int(sys.argv[4]))
"""


def _seed(runtime) -> None:
    rng = random.Random(SEED)
    with runtime.sessions.begin() as session:
        funding.add_source(session, code="bank", name="合作银行", actor="test")
        add_capital(session, "own", D("5000000"), START, "cap-own")
        add_capital(session, "bank", D("5000000"), START, "cap-bank")
        for n in range(30):
            colent = n % 3 == 0
            disbursed_loan(
                session,
                runtime,
                booking.Terms(
                    borrower_id=borrower(session, n),
                    product_code="cash",
                    principal=D(rng.randrange(1000, 50000)),
                    term=rng.choice([3, 6, 12]),
                    method=rng.choice(["equal-installment", "equal-principal", "interest-first"]),
                    annual_rate=D(rng.choice(["0.09", "0.12", "0.18"])),
                    grace_days=rng.choice([0, 3]),
                ),
                channel="sandbox",
                key=f"loan-{n}",
                # Every fifth loan falls due on DAY; the others at other dates.
                day=DAY.replace(month=1) if n % 5 == 0 else START + timedelta(rng.randrange(2)),
                funders=[Funder("own", D("0.3")), Funder("bank", D("0.7"))] if colent else None,
            )
    day = START + timedelta(days=1)
    while day < DAY:
        eod.run(runtime, day, chunk_size=100)
        day += timedelta(days=1)


def _clone(url: str, tmp_path) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        copy = tmp_path / "clone.db"
        shutil.copy(parsed.database, copy)
        return f"sqlite:///{copy}"
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"{parsed.database}_clone"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{parsed.database}"'))
    admin.dispose()
    return parsed.set(database=name).render_as_string(hide_password=False)


def _drop(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        admin.dispose()


STATE = {
    "journal": """
        SELECT e.idempotency_key, e.business_date, a.code, l.amount, l.loan_id, l.source
        FROM journal_entry e JOIN journal_line l ON l.entry_id = e.id
        JOIN ledger_account a ON a.id = l.account_id
        ORDER BY e.idempotency_key, a.code, l.source, l.amount""",
    "balances": """
        SELECT a.code, SUM(b.balance) FROM account_balance b
        JOIN ledger_account a ON a.id = b.account_id GROUP BY a.code ORDER BY a.code""",
    "loans": """
        SELECT id, status, next_period, dpd, bucket, classification
        FROM loan ORDER BY id""",
    "instalments": """
        SELECT loan_id, period, status, interest_accrued, fee_accrued
        FROM loan_instalment ORDER BY loan_id, period""",
    "history": """
        SELECT loan_id, business_date, kind, from_status, to_status
        FROM loan_event ORDER BY loan_id, id""",
    "events": "SELECT topic, payload FROM outbox_event WHERE topic LIKE 'loan.%' ORDER BY id",
    "chunks": """
        SELECT chunk, first_loan_id, last_loan_id, done_at IS NOT NULL
        FROM eod_chunk WHERE business_date = :day ORDER BY chunk""",
}


def _plain(value: object) -> object:
    """Rows as comparable values: SQLite's sums come back as floats."""
    if isinstance(value, float | Decimal):
        return D(value).quantize(D("0.01"))
    return str(value) if isinstance(value, dict) else value


def _state(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = {
            name: [
                tuple(_plain(v) for v in row)
                for row in connection.execute(text(query), {"day": DAY})
            ]
            for name, query in STATE.items()
        }
    engine.dispose()
    # Events are compared as a multiset: chunks commit in a different order.
    found["events"].sort()
    return found


def test_killed_end_of_day_resumes_to_the_uninterrupted_result(
    runtime, database_url, tmp_path, monkeypatch
):
    _seed(runtime)
    runtime.close()
    clone = _clone(database_url, tmp_path)
    try:
        reference = open_runtime()
        summary = eod.run(reference, DAY, chunk_size=CHUNK)
        reference.close()
        assert summary.chunks == 10
        assert summary.counts["fell_due"] > 0
        assert summary.counts.get("went_overdue", 0) + summary.counts.get("penalty_accruals", 0)

        monkeypatch.setenv("LENDKIT_DATABASE__URL", clone)
        rng = random.Random(SEED)
        points = [("plan", 1)] + [
            (rng.choice(["before", "inside", "after"]), rng.randint(1, 2)) for _ in range(9)
        ]
        killed = 0
        for point, k in points:
            result = subprocess.run(
                [sys.executable, "-c", KILLER, DAY.isoformat(), point, str(k), str(CHUNK)],
                capture_output=True,
                text=True,
                timeout=120,
                env=dict(os.environ),
                check=False,
            )
            if result.returncode == -signal.SIGKILL:
                killed += 1
            else:
                assert result.returncode == 0, result.stderr
        assert killed >= 5  # the last runs may find too few chunks left to reach k
        resumed = open_runtime()
        final = eod.run(resumed, DAY, chunk_size=CHUNK)
        with resumed.read_sessions() as session:
            assert ledger.trial_balance(session).balanced
        resumed.close()
        assert final.counts == summary.counts
        assert _state(clone) == _state(database_url)
    finally:
        _drop(clone)
