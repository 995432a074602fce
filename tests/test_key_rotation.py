"""Key rotation re-encrypts every row while reads keep working, and resumes after a crash."""

from __future__ import annotations

import threading

import pytest
from lendkit.crypto.rotation import key_usage, rotate
from lendkit.models import Borrower, CryptoKey
from sqlalchemy import select


def _borrowers(runtime, n=300):
    with runtime.sessions.begin() as session:
        for i in range(n):
            session.add(Borrower(phone=f"138{i:08d}", name=f"借款人{i}", id_number=None))


def test_rotation_moves_every_value_to_the_new_key_and_retires_the_old(runtime):
    _borrowers(runtime)
    with runtime.sessions() as session:
        (old,) = key_usage(session)
    result = rotate(runtime, batch_size=64)
    assert result.key_id != old
    assert result.rows == 300
    assert result.retired == [old]
    with runtime.sessions() as session:
        assert key_usage(session) == {result.key_id: 600}
        assert session.get(Borrower, 150).phone == "13800000149"
        assert session.get(CryptoKey, old).retired_at is not None


def test_reads_keep_succeeding_during_rotation(runtime):
    _borrowers(runtime)
    stop, reads, errors = threading.Event(), [0], []

    def reader():
        while not stop.is_set():
            try:
                with runtime.read_sessions() as session:
                    rows = session.scalars(select(Borrower).order_by(Borrower.id).limit(50)).all()
                    assert rows[7].phone == "13800000007"
                reads[0] += 1
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        rotate(runtime, batch_size=25)
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert reads[0] > 0


def test_an_interrupted_rotation_resumes_instead_of_starting_another(runtime):
    _borrowers(runtime)

    def crash_after_first_batch(done, total):
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rotate(runtime, batch_size=50, progress=crash_after_first_batch)
    with runtime.sessions() as session:
        assert len(key_usage(session)) == 2  # half-way: two keys in use
    result = rotate(runtime, batch_size=50)
    assert result.resumed
    assert result.rows == 250
    with runtime.sessions() as session:
        assert set(key_usage(session)) == {result.key_id}


def test_keys_status_and_rotate_commands(runtime, lendkit_cli):
    _borrowers(runtime, 20)
    rotated = lendkit_cli("keys", "rotate", "--batch-size", "7")
    assert rotated.returncode == 0, rotated.stderr
    assert "20 rows re-encrypted" in rotated.stdout
    status = lendkit_cli("keys", "status")
    assert status.returncode == 0, status.stderr
    lines = [line.split() for line in status.stdout.splitlines()[1:]]
    states = {(parts[1], parts[4]) for parts in lines}
    assert ("field", "retired") in states
    assert ("field", "active") in states
    assert any(parts[1] == "field" and parts[3] == "40" for parts in lines)  # 20 rows x 2 fields
