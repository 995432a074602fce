"""Key rotation over 100,000 encrypted rows while a reader keeps reading.

Prints rows re-encrypted per second, the reads that succeeded (and failed)
during the rotation, and as a baseline the rate of a plain batched rewrite
of the same rows without any cryptography, measured in the same run.
Runs on SQLite, and on PostgreSQL too when ``LENDKIT_BENCH_POSTGRES`` names
a server (e.g. postgresql+psycopg://postgres@127.0.0.1/test).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from pathlib import Path

from lendkit.crypto.keys import write_master_key
from lendkit.crypto.rotation import rotate
from lendkit.models import Borrower
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import Settings
from rich.progress import Progress
from sqlalchemy import create_engine, select, text, update

from bench.report import emit

ROWS = int(os.environ.get("LENDKIT_BENCH_ROWS", "100000"))
BATCH = 1000


def _tenant(url: str, root: Path) -> Runtime:
    write_master_key(root / "keys" / "master.key")
    runtime = open_runtime(Settings(root=root, database={"url": url}))
    runtime.upgrade()
    return runtime


def _seed(runtime: Runtime, progress: Progress) -> None:
    task = progress.add_task("seeding", total=ROWS)
    for start in range(0, ROWS, BATCH):
        with runtime.sessions.begin() as session:
            session.add_all(
                Borrower(phone=f"13{i:09d}", name=f"借款人{i}")
                for i in range(start, min(start + BATCH, ROWS))
            )
        progress.update(task, completed=min(start + BATCH, ROWS))


def _baseline_rows_per_s(runtime: Runtime) -> float:
    """The same batched walk over the table, rewriting a plain column: no crypto."""
    started = time.perf_counter()
    last = 0
    while True:
        with runtime.sessions.begin() as session:
            ids = session.scalars(
                select(Borrower.id).where(Borrower.id > last).order_by(Borrower.id).limit(BATCH)
            ).all()
            if not ids:
                break
            session.execute(
                update(Borrower).where(Borrower.id.in_(ids)).values(kyc_status="checked")
            )
            last = ids[-1]
    return ROWS / (time.perf_counter() - started)


def _rotate_while_reading(runtime: Runtime, progress: Progress) -> tuple[float, int, int]:
    stop, reads, failures = threading.Event(), [0], [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                with runtime.read_sessions() as session:
                    session.scalars(select(Borrower).order_by(Borrower.id.desc()).limit(20)).all()
                reads[0] += 1
            except Exception:
                failures[0] += 1
            time.sleep(0.005)

    thread = threading.Thread(target=reader)
    thread.start()
    task = progress.add_task("rotating", total=ROWS)
    started = time.perf_counter()
    try:
        result = rotate(
            runtime,
            batch_size=BATCH,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    finally:
        stop.set()
        thread.join()
    assert result.rows == ROWS, result
    return ROWS / (time.perf_counter() - started), reads[0], failures[0]


def _run(label: str, url: str, root: Path) -> dict[str, object]:
    runtime = _tenant(url, root)
    with Progress() as progress:
        _seed(runtime, progress)
        rotation, reads, failures = _rotate_while_reading(runtime, progress)
    baseline = _baseline_rows_per_s(runtime)
    runtime.close()
    return {
        f"{label}_rotation_rows_per_s": round(rotation),
        f"{label}_plain_rewrite_rows_per_s": round(baseline),
        f"{label}_ratio_to_plain_rewrite": round(rotation / baseline, 3),
        f"{label}_reads_during_rotation": reads,
        f"{label}_failed_reads": failures,
    }


def main() -> None:
    figures: dict[str, object] = {"rows": ROWS}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        figures |= _run("sqlite", f"sqlite:///{root / 'bench.db'}", root / "sqlite")
        postgres = os.environ.get("LENDKIT_BENCH_POSTGRES")
        if postgres:
            name = f"lendkit_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = admin.url.set(database=name).render_as_string(hide_password=False)
                figures |= _run("postgresql", url, root / "pg")
            finally:
                with admin.connect() as connection:
                    connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    emit("key_rotation", figures)


if __name__ == "__main__":
    main()
