"""Repayments posted per second in-process on PostgreSQL, beside pgbench.

A throwaway database is seeded set-based with ``--loans`` loans (default
100,000; every other one co-lent 30 % own / 70 % ``bank_a``), each with its
disbursement and accrued interest in the journal, so the journal has the
size of a small lender's (about ten lines per loan). Then two worker
processes post repayments for ``--seconds`` (default 10) over random loans.
One repayment is one transaction of three ``ledger.post`` calls, as the
payment flow and the loan lifecycle post them, each with its idempotency
key, their lines built by the kernel's own builders
(:mod:`lendkit.clearing.postings`): ``repayment_received`` (Dr channel /
Cr suspense), then ``repayment``'s two entries, the allocation (suspense
to principal and interest, split by what each funder is owed: one read of
the journal for a co-lent loan, none for own funds) and the settlement (the
channel pays each funder's pool).
One repayment in a hundred is sent again (a duplicate callback): its keys
return the first entries and post nothing; it is not counted. A deadlock
or serialization failure is retried, as the worker would.

Baseline, on the same server in the same run: pgbench's TPC-B-like
transaction (``pgbench -i -s 2`` on a throwaway database, then ``pgbench -c
2 -j 2 -T 10``; scale 2 so the two clients do not queue on one branch
row), run before and after the repayments and averaged, so that a change
in the machine's load during the run weighs on both sides alike. Target:
repayments per second / pgbench TPS ≥ 0.4, printed beside the ratio.

Both sides make about the same round trips per transaction (pgbench seven
statements; a repayment the pool's ping, BEGIN, three postings, one
overdraft read, COMMIT, and for a co-lent loan the read of what each
funder is owed); the repayment writes three entries, ten lines and their
balances, and its client is Python.

``python -m bench.repayments --seconds 5 --loans 10000`` for a quick run
(or ``LENDKIT_BENCH_SECONDS`` / ``LENDKIT_BENCH_LOANS`` through ``python -m
bench repayments``). The server is ``$LENDKIT_BENCH_POSTGRES`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from lendkit.clearing import ledger, postings
from lendkit.clearing.colending import Funder, Repayment
from lendkit.crypto.keys import write_master_key
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import Settings
from rich.progress import Progress
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bench.report import emit, target

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 0.4
WORKERS = 2
DAY = date(2026, 11, 24)
CHANNEL = "sandbox"
PAID = Repayment(principal=Decimal("100.00"), interest=Decimal("10.00"))
SHARED = (Funder("own", Decimal("0.3")), Funder("bank_a", Decimal("0.7")))
OWN = (Funder("own", Decimal(1)),)
RETRY_EVERY = 100

# Loan i: principal 100,000.00 disbursed from the pools, interest 3,000.00
# accrued; even loans 30 % own / 70 % bank_a, odd ones own funds alone.
# Entry ids 10 + 2i (disbursement) and 11 + 2i (interest).
SEED_SQL = """
CREATE TEMP TABLE bench_split AS
SELECT i, s.source, s.share
  FROM generate_series(1, :loans) AS i
  JOIN (VALUES ('own', 0.3, true), ('bank_a', 0.7, true), ('own', 1.0, false))
       AS s(source, share, shared) ON s.shared = (i % 2 = 0);
INSERT INTO journal_entry (id, business_date, posted_at, idempotency_key, cause, memo)
SELECT 10 + 2 * i, :day, now(), 'bench:disburse:' || i, 'loan:' || i, 'bench'
  FROM generate_series(1, :loans) AS i
UNION ALL
SELECT 11 + 2 * i, :day, now(), 'bench:interest:' || i, 'loan:' || i, 'bench'
  FROM generate_series(1, :loans) AS i;
INSERT INTO journal_line (entry_id, account_id, amount, loan_id, source)
SELECT 10 + 2 * i, :principal, 100000 * share, i, source FROM bench_split
UNION ALL
SELECT 10 + 2 * i, CASE source WHEN 'own' THEN :pool_own ELSE :pool_bank END,
       -100000 * share, i, source FROM bench_split
UNION ALL
SELECT 11 + 2 * i, :interest, 3000 * share, i, source FROM bench_split
UNION ALL
SELECT 11 + 2 * i, CASE source WHEN 'own' THEN :income ELSE :payable END,
       -3000 * share, i, source FROM bench_split;
INSERT INTO journal_entry (id, business_date, posted_at, idempotency_key, cause, memo)
VALUES (1, :day, now(), 'bench:capital:own', 'funding:own', 'bench'),
       (2, :day, now(), 'bench:capital:bank_a', 'funding:bank_a', 'bench');
INSERT INTO journal_line (entry_id, account_id, amount)
SELECT 1, :pool_own, -sum(amount) FROM journal_line WHERE account_id = :pool_own
UNION ALL
SELECT 1, :capital_own, sum(amount) FROM journal_line WHERE account_id = :pool_own
UNION ALL
SELECT 2, :pool_bank, -sum(amount) FROM journal_line WHERE account_id = :pool_bank
UNION ALL
SELECT 2, :capital_bank, sum(amount) FROM journal_line WHERE account_id = :pool_bank;
INSERT INTO account_balance (account_id, bucket, balance)
SELECT account_id, 0, sum(amount) FROM journal_line GROUP BY account_id;
SELECT setval(pg_get_serial_sequence('journal_entry', 'id'), (SELECT max(id) FROM journal_entry));
"""
ACCOUNTS = {
    "principal": "loan_principal",
    "interest": "loan_interest",
    "pool_own": "fund_pool:own",
    "pool_bank": "fund_pool:bank_a",
    "income": "interest_income",
    "payable": "partner_payable:bank_a",
    "capital_own": "funding_capital:own",
    "capital_bank": "funding_capital:bank_a",
}


@contextmanager
def _database(server: str) -> Iterator[str]:
    """A fresh database on ``server``, dropped afterwards whatever happens."""
    name = f"lendkit_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def _runtime(url: str, root: Path) -> Runtime:
    return open_runtime(Settings(root=root, database={"url": url}))


def _seed(url: str, root: Path, loans: int) -> None:
    write_master_key(root / "keys" / "master.key")
    runtime = _runtime(url, root)
    runtime.upgrade()
    try:
        with runtime.engine.begin() as connection:
            # Balanced by construction; the per-row triggers would only slow seeding.
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            ids = {
                name: connection.execute(
                    text(
                        "INSERT INTO ledger_account (code, created_at) VALUES (:c, now())"
                        " RETURNING id"
                    ),
                    {"c": code},
                ).scalar_one()
                for name, code in ACCOUNTS.items()
            }
            for statement in SEED_SQL.split(";\n"):
                if statement.strip():
                    connection.execute(text(statement), {"loans": loans, "day": DAY, **ids})
        with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
    finally:
        runtime.close()


def _repay(runtime: Runtime, key: str, loan: int) -> None:
    funders = SHARED if loan % 2 == 0 else OWN
    with runtime.sessions.begin() as session:
        # As the payment flow and the lifecycle post them: the money received
        # (payment_orders), then the allocation and settlement in one call
        # (lifecycle.allocation.post_repayment).
        ledger.post(
            session,
            business_date=DAY,
            idempotency_key=f"{key}:received",
            cause=f"loan:{loan}",
            lines=postings.repayment_received(PAID.total, CHANNEL, loan),
        )
        allocated, settled = postings.repayment(session, loan, PAID, CHANNEL, funders)
        ledger.post_many(
            session,
            business_date=DAY,
            postings=[
                ledger.Posting(f"{key}:allocated", f"loan:{loan}", allocated),
                ledger.Posting(f"{key}:settled", f"loan:{loan}", settled),
            ],
        )


def _worker(
    url: str, root: str, number: int, loans: int, start: float, seconds: float
) -> dict[str, Any]:
    """One process: from ``start`` (wall clock), post repayments for ``seconds``; count them."""
    runtime = _runtime(url, Path(root))
    _repay(runtime, f"warm-up-repay:{number}", 1 + number)  # connect, compile, fill the caches
    rng = random.Random(number)
    posted = retried = conflicts = 0
    time.sleep(max(0.0, start - time.time()))
    deadline = start + seconds
    try:
        while time.time() < deadline:
            key, loan = f"repay:{number}:{posted}", rng.randint(1, loans)
            for _ in range(5):
                try:
                    _repay(runtime, key, loan)
                    break
                except OperationalError as exc:  # deadlock / serialization: retry
                    if "deadlock" not in str(exc) and "serializ" not in str(exc):
                        raise
                    conflicts += 1
            posted += 1
            if posted % RETRY_EVERY == 0:
                _repay(runtime, key, loan)  # a duplicate: posts nothing
                retried += 1
        ended = time.time()
    finally:
        runtime.close()
    return {"posted": posted, "retried": retried, "conflicts": conflicts, "ended": ended}


def _pgbench(server: str, seconds: int) -> float:
    """pgbench's TPC-B-like TPS on a throwaway database of the same server."""
    binary = shutil.which("pgbench") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)), None
    )
    if binary is None:
        raise SystemExit("pgbench not found: apt-get install postgresql-client")
    with _database(server) as url:
        parsed = make_url(url)
        base = [
            str(binary),
            "-h",
            parsed.host or "127.0.0.1",
            "-p",
            str(parsed.port or 5432),
            "-U",
            parsed.username or "postgres",
        ]
        env = {**os.environ, **({"PGPASSWORD": parsed.password} if parsed.password else {})}
        database = parsed.database or ""
        subprocess.run(
            [*base, "-i", "-s", str(WORKERS), "-q", database],
            check=True,
            capture_output=True,
            env=env,
        )
        done = subprocess.run(
            [*base, "-c", str(WORKERS), "-j", str(WORKERS), "-T", str(seconds), database],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
    found = re.search(r"tps = ([0-9.]+)", done.stdout)
    if found is None:
        raise RuntimeError(f"no tps in pgbench's output: {done.stdout!r}")
    return float(found.group(1))


def _check(url: str, root: Path) -> tuple[bool, int]:
    runtime = _runtime(url, root)
    try:
        with runtime.sessions() as session:
            entries = session.scalar(
                text("SELECT count(*) FROM journal_entry WHERE idempotency_key LIKE '%repay%'")
            )
            return ledger.trial_balance(session).balanced, int(entries or 0)
    finally:
        runtime.close()


def _run(server: str, root: Path, loans: int, seconds: float) -> dict[str, Any]:
    with Progress() as progress:
        task = progress.add_task("pgbench -c 2 -j 2 (tpcb-like), before", total=None)
        tps_before = _pgbench(server, round(seconds))
        progress.update(task, total=1, completed=1)
        with _database(server) as url:
            task = progress.add_task(f"seeding {loans:,} loans (SQL)", total=None)
            _seed(url, root, loans)
            progress.update(task, total=1, completed=1)
            task = progress.add_task(f"posting repayments, {WORKERS} processes", total=seconds)
            context = multiprocessing.get_context("spawn")
            with context.Pool(WORKERS) as pool:
                # Every worker starts at the same moment, once its interpreter is up.
                start = time.time() + 10
                pending = pool.starmap_async(
                    _worker, [(url, str(root), n, loans, start, seconds) for n in range(WORKERS)]
                )
                while not pending.ready():
                    pending.wait(0.5)
                    progress.update(task, completed=min(seconds, max(0, time.time() - start)))
                counts = pending.get()
                elapsed = max(c["ended"] for c in counts) - start
            task = progress.add_task("checking the trial balance", total=None)
            balanced, entries = _check(url, root)
            progress.update(task, total=1, completed=1)
        task = progress.add_task("pgbench -c 2 -j 2 (tpcb-like), after", total=None)
        tps_after = _pgbench(server, round(seconds))
        progress.update(task, total=1, completed=1)
    tps = (tps_before + tps_after) / 2
    posted = sum(c["posted"] for c in counts)
    assert balanced, "the trial balance does not balance"
    # The duplicates posted nothing; each worker's warm-up repayment did.
    assert entries == 3 * (posted + WORKERS), (entries, posted)
    rate = posted / elapsed
    return {
        "loans": loans,
        "workers": WORKERS,
        "seconds": round(elapsed, 1),
        "repayments": posted,
        "duplicates_sent": sum(c["retried"] for c in counts),
        "deadlock_retries": sum(c["conflicts"] for c in counts),
        "repayments_per_s": round(rate, 1),
        "postings_per_s": round(3 * rate, 1),
        "pgbench_tps_before": round(tps_before, 1),
        "pgbench_tps_after": round(tps_after, 1),
        "pgbench_tps": round(tps, 1),
        "ratio_to_pgbench": round(rate / tps, 3),
        "target_ratio": TARGET_RATIO,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.repayments", description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("LENDKIT_BENCH_SECONDS", "10"))
    )
    parser.add_argument(
        "--loans", type=int, default=int(os.environ.get("LENDKIT_BENCH_LOANS", "100000"))
    )
    args = parser.parse_args(argv if argv is not None else [])
    server = os.environ.get("LENDKIT_BENCH_POSTGRES", DEFAULT_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        figures = _run(server, Path(folder), args.loans, args.seconds)
    print("target (wall clock, both sides in the same run):")
    figures["meets_target"] = target(
        "repayments a second ÷ pgbench tpcb-like TPS",
        figures["ratio_to_pgbench"],
        "≥",
        TARGET_RATIO,
    )
    emit("repayments", figures)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
