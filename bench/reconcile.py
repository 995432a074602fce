"""Reconciliation of 1,000,000 channel statement lines on PostgreSQL.

A throwaway database is seeded set-based (``INSERT ... SELECT`` over
``generate_series``, not the ORM row by row) with one channel's business
day: N payment orders (three in ten disbursements), their journal entries
(reservation, confirmation or receipt, a few reversals) and balances, and
the channel's statement of that day in memory, as the channel plugin hands
it over. Seven disagreements per 10,000 orders: one order in transit here
but succeeded there, one confirmed here but failed there, one amount off by
a fen, one receipt reversed in the ledger, one order left off the
statement, one line sent twice, and one line for an order we never made.
One collection in a hundred failed on both sides (that is a match).

Timed: ``lendkit.clearing.reconcile.reconcile(runtime, day, "sandbox",
lines=...)`` — import (digest, store the lines), the three-way match, the
exceptions queue, the run record and the fees posting, in one transaction —
then the same call again (a rerun: the statement is known, nothing is
queued twice). The counts found are checked against the ones seeded.
Target: 30 s for 1,000,000 lines.

Baseline, measured in the same run on the same server: the least any
three-way match has to do — COPY the same lines into a bare temporary table
and count the lines that find their order and that order's journal line in
the channel's account (one join of statement, orders, entries and lines by
order number and idempotency key), with no digest, no merging of duplicate
lines, no classification, no exceptions. The ratio says what the real work
costs on top of the bare data movement.

``python -m bench.reconcile --lines 20000`` (or ``LENDKIT_BENCH_LINES=20000
python -m bench reconcile``) for a quick run. The server is
``$LENDKIT_BENCH_POSTGRES`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from lendkit.clearing import ledger, reconcile
from lendkit.clearing.payments import PaymentOrder
from lendkit.crypto.keys import write_master_key
from lendkit.db import utcnow
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import Settings
from lendkit.types import StatementLine
from rich.progress import Progress
from sqlalchemy import create_engine, text

from bench.report import emit

DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_SECONDS = 30.0
DAY = date(2026, 11, 24)
CHANNEL = "sandbox"
FEES = {"disburse": Decimal("1.00"), "collect": Decimal("0.50")}

# One of each disagreement per 10,000 orders, by i % 10,000 (see the docstring).
IN_TRANSIT, FAILED_THERE, AMOUNT_OFF, REVERSED, OMITTED, DOUBLED = 1, 2, 3, 4, 5, 6
PER = 10_000


def _kind(i: int) -> str:
    return "disburse" if i % 10 < 3 else "collect"


def _order_no(i: int) -> str:
    return f"{'D' if i % 10 < 3 else 'C'}{DAY:%Y%m%d}{i:012X}"


def _amount(i: int) -> Decimal:
    return Decimal(10_000 + (i * 7919) % 4_990_000).scaleb(-2)


def _failed_both(i: int) -> bool:
    return i % 100 == 57  # a collection (i % 10 == 7) refused by the bank


# The same rules in SQL, one row per order.
ORDERS_SQL = f"""
CREATE TEMP TABLE bench_order AS
SELECT i,
       CASE WHEN i % 10 < 3 THEN 'disburse' ELSE 'collect' END AS kind,
       CASE WHEN i % 10 < 3 THEN 'D' ELSE 'C' END || '{DAY:%Y%m%d}'
         || lpad(upper(to_hex(i)), 12, '0') AS order_no,
       ((10000 + (i::bigint * 7919) % 4990000) / 100.0)::numeric(18, 2) AS amount,
       CASE WHEN i % {PER} = {IN_TRANSIT} THEN 'in_transit'
            WHEN i % 100 = 57 THEN 'failed' ELSE 'confirmed' END AS status,
       i % {PER} = {REVERSED} AS reversed
FROM generate_series(1, :n) AS i
"""
# Entry ids: 10 + 3i reservation, 11 + 3i result, 12 + 3i reversal of the result.
ENTRIES_SQL = """
INSERT INTO journal_entry (id, business_date, posted_at, idempotency_key, cause, memo, reverses_id)
SELECT 10 + 3 * i, :day, now(), 'payment:' || order_no || '\\:reserve', 'payment:' || order_no,
       'bench', NULL::bigint
  FROM bench_order WHERE kind = 'disburse'
UNION ALL
SELECT 11 + 3 * i, :day, now(),
       'payment:' || order_no || CASE kind WHEN 'disburse' THEN '\\:confirm' ELSE '\\:receive' END,
       'payment:' || order_no, 'bench', NULL::bigint
  FROM bench_order WHERE status = 'confirmed'
UNION ALL
SELECT 12 + 3 * i, :day, now(), 'reversal:' || (11 + 3 * i), 'payment:' || order_no,
       'bench', 11 + 3 * i
  FROM bench_order WHERE status = 'confirmed' AND reversed
"""
LINES_SQL = """
INSERT INTO journal_line (entry_id, account_id, amount, loan_id, source)
SELECT 10 + 3 * i, :transit, amount, i, NULL FROM bench_order WHERE kind = 'disburse'
UNION ALL
SELECT 10 + 3 * i, :pool, -amount, i, 'own' FROM bench_order WHERE kind = 'disburse'
UNION ALL
SELECT 11 + 3 * i, :principal, amount, i, 'own'
  FROM bench_order WHERE kind = 'disburse' AND status = 'confirmed'
UNION ALL
SELECT 11 + 3 * i, :transit, -amount, i, NULL
  FROM bench_order WHERE kind = 'disburse' AND status = 'confirmed'
UNION ALL
SELECT 11 + 3 * i, :transit, amount, i, NULL
  FROM bench_order WHERE kind = 'collect' AND status = 'confirmed'
UNION ALL
SELECT 11 + 3 * i, :suspense, -amount, i, NULL
  FROM bench_order WHERE kind = 'collect' AND status = 'confirmed'
UNION ALL
SELECT 12 + 3 * i, :transit, -amount, i, NULL
  FROM bench_order WHERE status = 'confirmed' AND reversed
UNION ALL
SELECT 12 + 3 * i, :suspense, amount, i, NULL
  FROM bench_order WHERE status = 'confirmed' AND reversed
"""
PAYMENT_ORDERS_SQL = """
INSERT INTO payment_order (row_key, order_no, idempotency_key, kind, channel, loan_id, amount,
    payee_name, payee_card, business_date, status, result_date, channel_ref, failure_code,
    reserve_entry_id, result_entry_id, attempts, next_attempt_at, created_at, updated_at)
SELECT t.row_key, o.order_no, 'bench:' || o.i, o.kind, :channel, o.i, o.amount,
       t.payee_name, t.payee_card, :day, o.status,
       CASE WHEN o.status = 'in_transit' THEN NULL ELSE CAST(:day AS date) END,
       'SBX' || o.i, CASE WHEN o.status = 'failed' THEN 'CARD_FROZEN' ELSE '' END,
       CASE WHEN o.kind = 'disburse' THEN 10 + 3 * o.i END,
       CASE WHEN o.status = 'confirmed' THEN 11 + 3 * o.i END,
       1, NULL, now(), now()
  FROM bench_order o
 CROSS JOIN (SELECT row_key, payee_name, payee_card FROM payment_order WHERE id = :template) t
"""
BASELINE_JOIN_SQL = """
SELECT count(*)
  FROM bench_statement l
  JOIN payment_order o ON o.order_no = l.order_no AND o.channel = :channel
  JOIN journal_entry e ON e.idempotency_key = 'payment:' || o.order_no
       || CASE o.kind WHEN 'disburse' THEN '\\:confirm' ELSE '\\:receive' END
  JOIN journal_line j ON j.entry_id = e.id AND j.account_id = :transit
"""


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


def _tenant(url: str, root: Path) -> Runtime:
    write_master_key(root / "keys" / "master.key")
    runtime = open_runtime(Settings(root=root, database={"url": url}))
    runtime.upgrade()
    return runtime


def _template_order(runtime: Runtime) -> int:
    """One order written through the ORM: its sealed payee is copied to the seeded rows."""
    now = utcnow()
    with runtime.sessions.begin() as session:
        order = PaymentOrder(
            order_no="BENCH-TEMPLATE",
            idempotency_key="bench:template",
            kind="collect",
            channel="bench-template",
            loan_id=0,
            amount=Decimal("1.00"),
            payee_name="李四",
            payee_card="6222020200112233445",
            business_date=DAY,
            status="created",
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        session.add(order)
        session.flush()
        return order.id


def _seed(runtime: Runtime, orders: int, progress: Progress) -> None:
    task = progress.add_task("seeding orders and journal (SQL)", total=6)
    template = _template_order(runtime)
    with runtime.engine.begin() as connection:
        # The rows are balanced by construction; the per-row triggers (deferred
        # balance check, foreign keys) would only make seeding slow.
        connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
        ids = {}
        for name, code in (
            ("transit", f"channel_in_transit:{CHANNEL}"),
            ("pool", "fund_pool:own"),
            ("principal", "loan_principal"),
            ("suspense", "borrower_suspense"),
            ("capital", "funding_capital:own"),
        ):
            ids[name] = connection.execute(
                text(
                    "INSERT INTO ledger_account (code, created_at) VALUES (:c, now()) RETURNING id"
                ),
                {"c": code},
            ).scalar_one()
        connection.execute(text(ORDERS_SQL), {"n": orders})
        progress.advance(task)
        connection.execute(text(ENTRIES_SQL), {"day": DAY})
        progress.advance(task)
        connection.execute(text(LINES_SQL), ids)
        progress.advance(task)
        capital = connection.execute(
            text(
                "SELECT coalesce(sum(amount), 0) + 1000000 FROM bench_order WHERE kind = 'disburse'"
            )
        ).scalar_one()
        connection.execute(
            text(
                "INSERT INTO journal_entry (id, business_date, posted_at, idempotency_key, cause,"
                " memo) VALUES (1, :day, now(), 'bench:capital', 'funding:own', 'bench')"
            ),
            {"day": DAY},
        )
        connection.execute(
            text(
                "INSERT INTO journal_line (entry_id, account_id, amount) VALUES"
                " (1, :pool, :amount), (1, :capital, -:amount)"
            ),
            {"pool": ids["pool"], "capital": ids["capital"], "amount": capital},
        )
        connection.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('journal_entry', 'id'),"
                " (SELECT max(id) FROM journal_entry))"
            )
        )
        connection.execute(
            text(
                "INSERT INTO account_balance (account_id, bucket, balance)"
                " SELECT account_id, 0, sum(amount) FROM journal_line GROUP BY account_id"
            )
        )
        progress.advance(task)
        connection.execute(
            text(PAYMENT_ORDERS_SQL), {"channel": CHANNEL, "day": DAY, "template": template}
        )
        progress.advance(task)
    with runtime.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    progress.advance(task)


def _statement(orders: int) -> tuple[list[StatementLine], Counter[str]]:
    """The channel's file for the day, and the findings it must produce."""
    lines: list[StatementLine] = []
    expect: Counter[str] = Counter()
    for i in range(1, orders + 1):
        which, kind, number, amount = i % PER, _kind(i), _order_no(i), _amount(i)
        if which == OMITTED:
            expect["missing_theirs"] += 1
            continue
        failed = which == FAILED_THERE or _failed_both(i)
        if which == AMOUNT_OFF:
            amount += Decimal("0.01")
        line = StatementLine(
            settled_on=DAY,
            order_no=number,
            channel_ref=f"SBX{i}",
            kind=kind,  # type: ignore[arg-type]
            amount=amount,
            status="failed" if failed else "succeeded",
            fee=Decimal("0.00") if failed else FEES[kind],
            code="CARD_FROZEN" if failed else "",
        )
        lines.append(line)
        if which == DOUBLED:
            lines.append(line)
        if which in (IN_TRANSIT, FAILED_THERE):
            expect["status_mismatch"] += 1
        elif which in (AMOUNT_OFF, REVERSED, DOUBLED):
            expect["amount_mismatch"] += 1
        else:
            expect["matched"] += 1
    for j in range(max(1, orders // PER)):
        lines.append(
            StatementLine(
                DAY,
                f"C{DAY:%Y%m%d}X{j:011X}",
                f"SBXX{j}",
                "collect",
                Decimal("88.00"),
                "succeeded",
                Decimal("0.50"),
            )
        )
        expect["missing_ours"] += 1
    return lines, expect


def _baseline(runtime: Runtime, lines: list[StatementLine]) -> tuple[float, int]:
    """COPY into a bare temp table + one count(*) of the three-way join (see the docstring)."""
    started = time.perf_counter()
    with runtime.engine.begin() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE bench_statement (order_no text, kind text,"
                " amount numeric(18,2), status text) ON COMMIT DROP"
            )
            with cursor.copy("COPY bench_statement FROM STDIN") as copy:
                for line in lines:
                    copy.write_row((line.order_no, line.kind, line.amount, line.status))
        transit = connection.execute(
            text("SELECT id FROM ledger_account WHERE code = :c"),
            {"c": f"channel_in_transit:{CHANNEL}"},
        ).scalar_one()
        connection.exec_driver_sql("ANALYZE bench_statement")
        found = connection.execute(
            text(BASELINE_JOIN_SQL), {"channel": CHANNEL, "transit": transit}
        ).scalar_one()
    return time.perf_counter() - started, int(found)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run(url: str, root: Path, orders: int) -> dict[str, Any]:
    runtime = _tenant(url, root)
    try:
        with Progress() as progress:
            started = time.perf_counter()
            _seed(runtime, orders, progress)
            seeded = time.perf_counter() - started
            task = progress.add_task("building the statement (the channel's file)", total=1)
            lines, expect = _statement(orders)
            progress.advance(task)
            rss_before = _rss_mib()

            task = progress.add_task(f"reconciling {len(lines):,} lines", total=None)
            started = time.perf_counter()
            run = reconcile.reconcile(runtime, DAY, CHANNEL, lines=lines)[CHANNEL]
            seconds = time.perf_counter() - started
            progress.update(task, total=1, completed=1)
            rss_after = _rss_mib()

            task = progress.add_task("reconciling again (a rerun)", total=None)
            started = time.perf_counter()
            again = reconcile.reconcile(runtime, DAY, CHANNEL, lines=lines)[CHANNEL]
            rerun = time.perf_counter() - started
            progress.update(task, total=1, completed=1)

            task = progress.add_task("baseline: COPY + one three-way join", total=None)
            baseline, joined = _baseline(runtime, lines)
            progress.update(task, total=1, completed=1)
        assert run is not None
        assert again is not None
        found = {
            "matched": run.matched,
            "missing_ours": run.missing_ours,
            "missing_theirs": run.missing_theirs,
            "amount_mismatch": run.amount_mismatch,
            "status_mismatch": run.status_mismatch,
        }
        assert found == dict(expect), (found, dict(expect))
        assert (again.matched, again.exceptions) == (run.matched, run.exceptions)
        fees = sum((line.fee for line in lines), Decimal(0))
        assert run.fees == fees, (run.fees, fees)
        with runtime.sessions() as session:
            queued = len(reconcile.exceptions(session, business_date=DAY, channel=CHANNEL))
            booked = ledger.balance(session, "channel_fee_expense")
        assert queued == run.exceptions, (queued, run.exceptions)
        return {
            "orders": orders,
            "statement_lines": len(lines),
            "seed_s": round(seeded, 1),
            "reconcile_s": round(seconds, 2),
            "lines_per_s": round(len(lines) / seconds),
            "rerun_s": round(rerun, 2),
            "baseline_copy_and_join_s": round(baseline, 2),
            "baseline_joined_rows": joined,
            "ratio_to_baseline": round(seconds / baseline, 2),
            "target_s": TARGET_SECONDS,
            "meets_target": seconds <= TARGET_SECONDS,
            "matched": run.matched,
            "exceptions": run.exceptions,
            **{kind: found[kind] for kind in reconcile.KINDS},
            "fees": str(run.fees),
            "fees_booked": str(booked),
            "rss_before_reconcile_mib": round(rss_before),
            "peak_rss_mib": round(rss_after),
        }
    finally:
        runtime.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reconcile", description=__doc__)
    parser.add_argument(
        "--lines",
        type=int,
        default=int(os.environ.get("LENDKIT_BENCH_LINES", "1000000")),
        help="payment orders, and so about as many statement lines (default 1,000,000)",
    )
    args = parser.parse_args(argv if argv is not None else [])
    server = os.environ.get("LENDKIT_BENCH_POSTGRES", DEFAULT_SERVER)
    with tempfile.TemporaryDirectory() as folder, _database(server) as url:
        figures = _run(url, Path(folder), args.lines)
    emit("reconcile", figures)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
