"""One worker or many: each slot of a scheduled job runs once, in the worker that
claims it in ``job_run``; a crashed worker's slot is taken over once its lease
passes; three ``lendkit worker`` processes on PostgreSQL run each slot once."""

from __future__ import annotations

import importlib
import multiprocessing
import textwrap
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from lendkit import job_runs
from lendkit.cli import cli
from lendkit.db import utcnow
from lendkit.models import JobRun
from lendkit.runtime import open_runtime
from lendkit.types import Job
from lendkit.worker import Worker, run_worker
from sqlalchemy import select

CHINA = timezone(timedelta(hours=8))
# Slot starts of a 1-minute job, and moments inside them.
T0 = datetime(2026, 12, 9, 2, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def rows(runtime, job=None):
    with runtime.sessions() as session:
        query = select(JobRun).order_by(JobRun.job, JobRun.slot)
        if job is not None:
            query = query.where(JobRun.job == job)
        return session.scalars(query).all()


# -- slots -----------------------------------------------------------------------


def test_a_daily_slot_is_the_business_date_and_shorter_slots_are_aligned():
    late_evening_utc = datetime(2026, 12, 9, 17, 30, tzinfo=UTC)  # 01:30 on the 10th in China

    daily = job_runs.slot_of(timedelta(days=1), late_evening_utc)
    hourly = job_runs.slot_of(timedelta(hours=1), late_evening_utc)
    quarter = job_runs.slot_of(timedelta(minutes=15), late_evening_utc + timedelta(minutes=14))

    assert daily.astimezone(CHINA).date() == date(2026, 12, 10)
    assert daily.astimezone(CHINA).time().isoformat() == "00:00:00"
    assert hourly == datetime(2026, 12, 9, 17, 0, tzinfo=UTC)
    assert quarter == datetime(2026, 12, 9, 17, 30, tzinfo=UTC)
    assert job_runs.slot_of(MINUTE, T0 + timedelta(seconds=59.9)) == T0


# -- claiming --------------------------------------------------------------------


def test_the_second_claim_of_a_slot_is_refused(runtime):
    first = job_runs.claim(runtime.sessions, "tick", T0, "a", T0)
    second = job_runs.claim(runtime.sessions, "tick", T0, "b", T0 + timedelta(seconds=1))
    other_job = job_runs.claim(runtime.sessions, "tock", T0, "b", T0 + timedelta(seconds=1))

    assert first == job_runs.Claim("tick", T0, "a", T0)
    assert second == job_runs.Taken("a", finished=False, lease_until=T0 + job_runs.LEASE)
    assert isinstance(other_job, job_runs.Claim)
    [run] = rows(runtime, "tick")
    assert (run.worker, run.attempt, run.finished_at, run.outcome) == ("a", 1, None, None)


def test_a_finished_slot_is_never_run_again_not_even_after_its_lease(runtime):
    claim = job_runs.claim(runtime.sessions, "tick", T0, "a", T0)
    assert isinstance(claim, job_runs.Claim)
    assert job_runs.finish(runtime.sessions, claim, T0 + timedelta(seconds=2))

    much_later = T0 + 10 * job_runs.LEASE
    again = job_runs.claim(runtime.sessions, "tick", T0, "b", much_later)

    assert isinstance(again, job_runs.Taken)
    assert again.finished
    [run] = rows(runtime, "tick")
    assert (run.worker, run.outcome, run.error, run.attempt) == ("a", "ok", None, 1)


def test_a_failed_slot_keeps_its_short_masked_error_and_is_not_retried(runtime):
    claim = job_runs.claim(runtime.sessions, "tick", T0, "a", T0)
    assert isinstance(claim, job_runs.Claim)
    error = RuntimeError("gateway said no for 13812345678 " + "x" * 500)

    job_runs.finish(runtime.sessions, claim, T0 + timedelta(seconds=1), error)
    again = job_runs.claim(runtime.sessions, "tick", T0, "b", T0 + 2 * job_runs.LEASE)

    [run] = rows(runtime, "tick")
    assert run.outcome == "failed"
    assert run.error.startswith("RuntimeError: gateway said no for 138****5678 xxx")
    assert len(run.error) == job_runs.ERROR_CHARS
    assert isinstance(again, job_runs.Taken)
    assert again.finished


def test_an_expired_lease_is_taken_over_once_and_the_old_holder_cannot_finish(runtime):
    crashed = job_runs.claim(runtime.sessions, "tick", T0, "a", T0)
    assert isinstance(crashed, job_runs.Claim)
    expired = T0 + job_runs.LEASE + timedelta(seconds=1)

    early = job_runs.claim(runtime.sessions, "tick", T0, "b", T0 + job_runs.LEASE)
    taken_over = job_runs.claim(runtime.sessions, "tick", T0, "b", expired)
    third = job_runs.claim(runtime.sessions, "tick", T0, "c", expired)

    assert isinstance(early, job_runs.Taken)  # the lease is still running at its very end
    assert taken_over == job_runs.Claim("tick", T0, "b", expired)
    assert third == job_runs.Taken("b", finished=False, lease_until=expired + job_runs.LEASE)
    # The first worker wakes up: its renewal and its finish no longer count.
    assert not job_runs.renew(runtime.sessions, crashed, expired)
    assert not job_runs.finish(runtime.sessions, crashed, expired)
    assert job_runs.finish(runtime.sessions, taken_over, expired + timedelta(seconds=5))
    [run] = rows(runtime, "tick")
    assert (run.worker, run.attempt, run.outcome) == ("b", 2, "ok")


def test_a_job_never_overlaps_itself_the_next_slot_waits_for_a_live_run(runtime):
    started = T0 + timedelta(seconds=30)
    long_run = job_runs.claim(runtime.sessions, "seal", T0, "a", started)
    assert isinstance(long_run, job_runs.Claim)
    next_slot = T0 + MINUTE
    at = next_slot + timedelta(seconds=1)  # within the long run's lease

    waiting = job_runs.claim(runtime.sessions, "seal", next_slot, "b", at)
    job_runs.finish(runtime.sessions, long_run, at)
    after = job_runs.claim(runtime.sessions, "seal", next_slot, "b", at)

    assert waiting == job_runs.Taken("a", finished=False, lease_until=at)
    assert after == job_runs.Claim("seal", next_slot, "b", at)


def test_a_dead_run_of_an_earlier_slot_does_not_hold_the_next_one(runtime):
    dead = job_runs.claim(runtime.sessions, "seal", T0, "a", T0)
    assert isinstance(dead, job_runs.Claim)
    later = T0 + job_runs.LEASE + MINUTE

    claimed = job_runs.claim(runtime.sessions, "seal", later, "b", later)

    assert isinstance(claimed, job_runs.Claim)


def test_a_running_job_keeps_renewing_its_lease(runtime):
    lease = timedelta(seconds=0.3)
    claim = job_runs.claim(runtime.sessions, "slow", T0, "a", utcnow(), lease)
    assert isinstance(claim, job_runs.Claim)
    [before] = rows(runtime, "slow")

    with job_runs.holding(runtime.sessions, claim, lease):
        deadline = time.monotonic() + 10
        while rows(runtime, "slow")[0].lease_until == before.lease_until:
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.05)

    [after] = rows(runtime, "slow")
    assert after.lease_until > before.lease_until
    assert (after.worker, after.finished_at) == ("a", None)


def test_pruning_keeps_recent_slots_and_each_jobs_latest(runtime):
    for job, slot in [
        ("hourly", T0),
        ("hourly", T0 + timedelta(hours=1)),
        ("hourly", T0 + timedelta(days=3)),
        ("weekly", T0),  # its current slot, however old: deleting it would run it again
    ]:
        claim = job_runs.claim(runtime.sessions, job, slot, "a", slot)
        assert isinstance(claim, job_runs.Claim)
        job_runs.finish(runtime.sessions, claim, slot)

    with runtime.sessions.begin() as session:
        deleted = job_runs.prune(session, T0 + timedelta(days=3, hours=1))

    assert deleted == 2
    assert [(r.job, r.slot) for r in rows(runtime)] == [
        ("hourly", T0 + timedelta(days=3)),
        ("weekly", T0),
    ]


# -- the worker --------------------------------------------------------------------


def counting_job(name, every=MINUTE, *, every_worker=False, fail=False):
    runs: list[datetime] = []

    def run(runtime, now):
        runs.append(now)
        if fail:
            raise ValueError("no statement yet")

    return Job(name=name, every=every, run=run, every_worker=every_worker), runs


def test_two_workers_run_each_slot_once(runtime):
    job, runs = counting_job("tick")
    one, two = Worker(runtime, [job]), Worker(runtime, [job])

    ran = [
        one.step(T0 + timedelta(seconds=1)),
        two.step(T0 + timedelta(seconds=2)),
        one.step(T0 + timedelta(seconds=30)),
        two.step(T0 + MINUTE + timedelta(seconds=1)),
        one.step(T0 + MINUTE + timedelta(seconds=2)),
    ]

    assert ran == [["tick"], [], [], ["tick"], []]
    assert runs == [T0 + timedelta(seconds=1), T0 + MINUTE + timedelta(seconds=1)]
    assert [(r.slot, r.worker, r.outcome) for r in rows(runtime, "tick")] == [
        (T0, one.id, "ok"),
        (T0 + MINUTE, two.id, "ok"),
    ]


def test_a_failing_job_is_recorded_and_tried_in_its_next_slot(runtime):
    job, runs = counting_job("reconcile", fail=True)
    worker = Worker(runtime, [job])

    worker.step(T0)
    worker.step(T0 + timedelta(seconds=30))
    worker.step(T0 + MINUTE)

    assert runs == [T0, T0 + MINUTE]
    assert [(r.outcome, r.error) for r in rows(runtime, "reconcile")] == [
        ("failed", "ValueError: no statement yet"),
    ] * 2


def test_a_crashed_workers_slot_is_run_by_another_after_its_lease(runtime):
    job, _ = counting_job("backup", every=timedelta(hours=1))
    crashed = job_runs.claim(runtime.sessions, "backup", T0, "gone:1:abc", T0)
    assert isinstance(crashed, job_runs.Claim)
    survivor = Worker(runtime, [job])

    within = survivor.step(T0 + timedelta(seconds=10))
    after = survivor.step(T0 + job_runs.LEASE + timedelta(seconds=1))
    again = survivor.step(T0 + job_runs.LEASE + timedelta(seconds=2))

    assert (within, after, again) == ([], ["backup"], [])
    [run] = rows(runtime, "backup")
    assert (run.worker, run.attempt, run.outcome) == (survivor.id, 2, "ok")


def test_every_worker_jobs_run_in_each_worker_and_leave_no_rows(runtime):
    job, runs = counting_job("outbox", timedelta(seconds=1), every_worker=True)
    one, two = Worker(runtime, [job]), Worker(runtime, [job])

    for worker in (one, two, one, two):
        worker.step(T0)

    assert len(runs) == 2
    assert rows(runtime) == []


def test_the_kernels_scheduled_jobs_claim_slots_and_its_queue_drainers_do_not(runtime):
    worker = Worker(runtime)
    every_worker = {job.name for job in worker.jobs if job.every_worker}

    assert every_worker == {"outbox", "payments-instruct"}
    assert {"audit-seal", "backup", "reconcile-daily", "job-runs-prune"} <= {
        job.name for job in worker.jobs
    } - every_worker


# -- lendkit jobs --------------------------------------------------------------------


def test_lendkit_jobs_lists_schedule_last_run_and_next_slot(runtime):
    now = utcnow()
    seal_slot = job_runs.slot_of(timedelta(seconds=2), now)
    backup_slot = job_runs.slot_of(timedelta(hours=1), now)
    seal = job_runs.claim(runtime.sessions, "audit-seal", seal_slot, "host:1:aa", now)
    backup = job_runs.claim(runtime.sessions, "backup", backup_slot, "host:2:bb", now)
    assert isinstance(seal, job_runs.Claim)
    assert isinstance(backup, job_runs.Claim)
    job_runs.finish(runtime.sessions, seal, now)

    listed = CliRunner().invoke(cli, ["jobs"], prog_name="lendkit")

    assert listed.exit_code == 0, listed.output
    lines = {line.split()[0]: line for line in listed.output.splitlines()}
    hour = backup_slot.astimezone(CHINA)
    assert lines["backup"].split()[1:3] == ["every", "1h"]
    assert f"last {hour:%Y-%m-%d %H:%M:%S} running (host:2:bb)" in lines["backup"]
    assert f"next {hour + timedelta(hours=1):%Y-%m-%d %H:%M:%S}" in lines["backup"]
    assert "every 2s" in lines["audit-seal"]
    assert " ok " in lines["audit-seal"]
    assert lines["auth-cleanup"].split()[1:5] == ["every", "10min", "last", "-"]
    assert lines["auth-cleanup"].endswith("next now")
    assert lines["outbox"].split()[1:] == ["every", "1s", "runs", "in", "every", "worker"]


def test_lendkit_jobs_exits_1_when_a_last_run_failed(runtime):
    now = utcnow()
    claim = job_runs.claim(
        runtime.sessions, "backup", job_runs.slot_of(timedelta(hours=1), now), "w", now
    )
    assert isinstance(claim, job_runs.Claim)
    job_runs.finish(runtime.sessions, claim, now, OSError("disk full\nsecond line"))

    listed = CliRunner().invoke(cli, ["jobs"], prog_name="lendkit")

    assert listed.exit_code == 1
    [backup] = [line for line in listed.output.splitlines() if line.startswith("backup ")]
    assert "failed: OSError: disk full second line" in backup


# -- three worker processes on PostgreSQL ----------------------------------------------

COUNTER = """
    import os
    from datetime import timedelta

    import lendkit
    from lendkit.types import Job


    def _count(runtime, now):
        with open(runtime.settings.path("runs.log"), "a", encoding="utf-8") as log:
            log.write(f"{now.isoformat()} {os.getpid()}\\n")


    @lendkit.hookimpl
    def register_jobs():
        return [Job(name="tick-counter", every=timedelta(seconds=1), run=_count)]
"""


@pytest.fixture
def counter_plugin(tmp_path, monkeypatch):
    """A plugin distribution whose job notes every run in the tenant's runs.log."""
    site = tmp_path / "site"
    (site / "lendkit_counter").mkdir(parents=True)
    (site / "lendkit_counter" / "__init__.py").write_text(textwrap.dedent(COUNTER))
    info = site / "lendkit_counter-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lendkit-counter\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lendkit]\ncounter = lendkit_counter\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    yield
    importlib.invalidate_caches()


def lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def work(ready, stop) -> None:
    """One worker process: its own runtime and engine, the loop `lendkit worker` runs."""
    runtime = open_runtime()
    ready.set()
    run_worker(runtime, stop)
    runtime.close()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_three_worker_processes_run_each_slot_exactly_once(make_tenant, counter_plugin):
    config = make_tenant(plugins=["counter"])
    runtime = open_runtime()
    runtime.upgrade()
    runtime.close()  # no connection of ours crosses the fork
    runs_log = config.parent / "runs.log"
    # Forked, not spawned: each child is a process of its own with its own
    # engine, without paying the CLI's imports again three times.
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    readies = [context.Event() for _ in range(3)]
    workers = [context.Process(target=work, args=(ready, stop)) for ready in readies]
    for w in workers:
        w.start()
    try:
        deadline = time.monotonic() + 60
        for ready in readies:
            assert ready.wait(max(0.0, deadline - time.monotonic())), "a worker did not start"
        # Now that all three compete, let five more slots come and go.
        seen = len(lines(runs_log))
        while len(lines(runs_log)) < seen + 5:
            assert all(w.is_alive() for w in workers), "a worker died"
            assert time.monotonic() < deadline, "the job stopped running"
            time.sleep(0.1)
    finally:
        stop.set()
        for w in workers:
            w.join(timeout=15)
            if w.is_alive():
                w.kill()
                w.join()

    runs = [line.split() for line in lines(runs_log)]
    per_slot = Counter(
        job_runs.slot_of(timedelta(seconds=1), datetime.fromisoformat(at)) for at, _ in runs
    )
    runtime = open_runtime()
    recorded = rows(runtime, "tick-counter")
    runtime.close()
    assert len(per_slot) >= 5
    assert max(per_slot.values()) == 1, per_slot.most_common(3)  # never twice
    # Every run is in job_run, and every slot recorded as done ran.
    assert set(per_slot) == {r.slot for r in recorded}
    assert all(r.outcome == "ok" for r in recorded)
    assert [w.exitcode for w in workers] == [0, 0, 0]  # stopped when told, none crashed
    print(
        f"{len(per_slot)} slots, {len(runs)} runs; runs per worker process: "
        f"{sorted(Counter(pid for _, pid in runs).values(), reverse=True)}"
    )
