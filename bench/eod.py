"""End of day for 1,000,000 running loans on PostgreSQL (target ≤ 60 s, ≤ 1 GiB).

Seeds a throwaway database set-based: 12-month loans disbursed over the past
300 days, each with its schedule; about 1 in 30 falls due on the business
date, 5 % are overdue (their oldest unpaid instalment), 10 % are co-lent
30/70 with a partner. Then runs ``lendkit.lifecycle.eod.run`` for the day
with parallel workers and reports wall time, loans per second and the peak
resident memory of the run (the coordinator and each worker), each target
beside its figure with ``met`` or ``MISSED``.

Baseline, measured in the same run on the same data: one set-based SQL
statement that reads every running loan's current and late instalments and
writes one row per loan — the floor of any per-loan pass over this data.

    python -m bench eod          # LENDKIT_BENCH_LOANS (1000000), LENDKIT_BENCH_WORKERS (2)

The server is ``LENDKIT_BENCH_POSTGRES`` (default postgresql+psycopg://postgres@127.0.0.1/test).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import tomlkit
from lendkit.crypto.keys import write_master_key
from lendkit.lifecycle import eod
from lendkit.runtime import open_runtime
from lendkit.testing.factories import borrower
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy import create_engine, text

from bench.report import emit, target

DAY = date(2026, 6, 15)
SERVER = os.environ.get("LENDKIT_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1/test")

SEED = [
    # Loans: ids 1..N, disbursed 1..300 days before DAY; every 20th overdue.
    """
    INSERT INTO loan (id, borrower_id, product_code, idempotency_key, principal, term, method,
        annual_rate, penalty_rate, day_count, grace_days, upfront_fee, instalment_fee,
        shift_holidays, allocation_order, status, disbursed_on, next_period, dpd, bucket, classification, created_at)
    SELECT g, :borrower, 'cash', 'bench-' || g, 1000 + (g % 50) * 1000, 12, 'equal-principal',
        0.12, 0.18, 360, 0, 0, 0, false,
        'penalty,overdue_interest,overdue_principal,current_interest,current_principal', CASE WHEN g % 20 = 0 THEN 'overdue' ELSE 'active' END,
        CAST(:day AS date) - (1 + g % 300), 1, 0, 'M0', 'normal', now()
    FROM generate_series(1, :n) AS g
    """,
    # Schedules: equal principal, interest on the opening balance at 1 % a month.
    """
    INSERT INTO loan_instalment (loan_id, period, start_date, due_date, principal, interest, fee,
        interest_accrued, fee_accrued, paid_principal, paid_interest, paid_fee, status)
    SELECT l.id, p,
        (l.disbursed_on + make_interval(months => p - 1))::date,
        (l.disbursed_on + make_interval(months => p))::date,
        round(l.principal / 12, 2) + CASE WHEN p = 12 THEN l.principal - 12 * round(l.principal / 12, 2) ELSE 0 END,
        round((l.principal - round(l.principal / 12, 2) * (p - 1)) * 0.01, 2), 0, 0, 0, 0, 0, 0,
        'pending'
    FROM loan l CROSS JOIN generate_series(1, 12) AS p
    """,
    # Past instalments are paid, except the latest one of an overdue loan.
    """
    UPDATE loan_instalment i SET status = 'paid', paid_principal = i.principal,
        paid_interest = i.interest, interest_accrued = i.interest
    FROM loan l WHERE l.id = i.loan_id AND i.due_date < :day
        AND NOT (l.status = 'overdue' AND i.due_date >= CAST(:day AS date) - interval '1 month')
    """,
    """
    UPDATE loan_instalment SET status = 'overdue', interest_accrued = interest
    WHERE status = 'pending' AND due_date < :day
    """,
    # The current period's interest accrued to yesterday is derived from the
    # dates (lifecycle/accrual.py): nothing to seed for it.
    """
    UPDATE loan l SET next_period = c.period FROM (
        SELECT loan_id, min(period) AS period FROM loan_instalment
        WHERE status = 'pending' GROUP BY loan_id) c
    WHERE c.loan_id = l.id
    """,
    """
    UPDATE loan l SET dpd = CAST(:day AS date) - 1 - i.due_date, bucket = 'M1',
        classification = 'special_mention'
    FROM loan_instalment i WHERE i.loan_id = l.id AND i.status = 'overdue'
    """,
    """
    INSERT INTO loan_funding (loan_id, source, share, created_at)
    SELECT id, 'own', CASE WHEN id % 10 = 0 THEN 0.3 ELSE 1 END, now() FROM loan
    UNION ALL SELECT id, 'bank', 0.7, now() FROM loan WHERE id % 10 = 0
    """,
    "INSERT INTO eod_run (business_date, chunks, loans, started_at, finished_at) "
    "VALUES (CAST(:day AS date) - 1, 0, 0, now(), now())",
    "SELECT setval(pg_get_serial_sequence('loan', 'id'), :n)",
    "ANALYZE",
]

BASELINE = """
CREATE TEMP TABLE floor AS
SELECT l.id, sum(i.interest - i.interest_accrued) AS left_to_accrue, count(*) AS rows
FROM loan l JOIN loan_instalment i ON i.loan_id = l.id
    AND i.status <> 'paid' AND (i.status <> 'pending' OR i.period = l.next_period)
WHERE l.status IN ('active', 'overdue')
GROUP BY l.id
"""


def _tenant(url: str, root: Path) -> None:
    write_master_key(root / "keys" / "master.key")
    config = root / "lendkit.toml"
    config.write_text(tomlkit.dumps({"database": {"url": url}}), encoding="utf-8")
    os.environ["LENDKIT_CONFIG"] = str(config)  # the workers open the tenant from here


def _seed(loans: int, progress: Progress) -> None:
    runtime = open_runtime()
    runtime.upgrade()
    with runtime.sessions.begin() as session:
        from lendkit.clearing import funding

        funding.add_source(session, code="bank", name="合作银行", actor="bench")
        person = borrower(session, 1)
    task = progress.add_task("seeding", total=len(SEED))
    with runtime.engine.begin() as connection:
        for n, statement in enumerate(SEED):
            connection.execute(text(statement), {"n": loans, "day": DAY, "borrower": person})
            progress.update(task, completed=n + 1)
    runtime.close()


def _baseline() -> float:
    runtime = open_runtime()
    started = time.perf_counter()
    with runtime.engine.begin() as connection:
        connection.execute(text(BASELINE))
    elapsed = time.perf_counter() - started
    runtime.close()
    return elapsed


def _peak_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # kilobytes on Linux


def main() -> None:
    args = argparse.Namespace(
        loans=int(os.environ.get("LENDKIT_BENCH_LOANS", "1000000")),
        workers=int(os.environ.get("LENDKIT_BENCH_WORKERS", "2")),
    )
    admin = create_engine(SERVER, isolation_level="AUTOCOMMIT")
    name = f"lendkit_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        with tempfile.TemporaryDirectory() as folder:
            _tenant(url, Path(folder))
            columns = (
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            with Progress(*columns) as progress:
                _seed(args.loans, progress)
                baseline = _baseline()
                runtime = open_runtime()
                task = progress.add_task(f"end of day {DAY}", total=None)
                started = time.perf_counter()
                summary = eod.run(
                    runtime,
                    DAY,
                    workers=args.workers,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
                seconds = time.perf_counter() - started
                runtime.close()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    assert summary.loans == args.loans, summary
    peak = max(_peak_mib(resource.RUSAGE_SELF), _peak_mib(resource.RUSAGE_CHILDREN))
    print(f"targets (issue 10 item 5; the set-based SQL floor took {baseline:.2f} s):")
    met = [
        target(
            f"end of day, {args.loans:,} loans, {args.workers} workers",
            round(seconds, 1),
            "≤",
            60,
            " s",
        ),
        target("peak resident memory of a process", round(peak), "≤", 1024, " MiB"),
    ]
    emit(
        "eod",
        {
            "loans": args.loans,
            "workers": args.workers,
            "seconds": round(seconds, 1),
            "loans_per_s": round(args.loans / seconds),
            "journal_lines": summary.counts.get("lines", 0),
            "fell_due": summary.counts.get("fell_due", 0),
            "penalty_accruals": summary.counts.get("penalty_accruals", 0),
            "peak_mib_coordinator": round(_peak_mib(resource.RUSAGE_SELF)),
            "peak_mib_largest_worker": round(_peak_mib(resource.RUSAGE_CHILDREN)),
            "baseline_sql_floor_seconds": round(baseline, 2),
            "ratio_to_floor": round(seconds / baseline, 1),
            "target_seconds": 60,
            "target_peak_mib": 1024,
            "meets_targets": all(met),
        },
    )


if __name__ == "__main__":
    main()
