"""The audit log catches every change, deletion and insertion (SM3 chain, SM2 checkpoints)."""

from __future__ import annotations

import pytest
from lendkit import audit
from lendkit.audit import AuditEntry
from sqlalchemy import delete, insert, select, update


def _write(runtime, n=5):
    with runtime.sessions.begin() as session:
        for i in range(n):
            audit.record(session, "staff:1", "auth.login", f"staff:{i}", ip_class="loopback")
    with runtime.sessions.begin() as session:
        audit.seal(session)
        audit.checkpoint(session)


def _forge(session, mac=None):
    """Insert a row behind the audit module's back, as an intruder with SQL access would."""
    genuine = session.scalars(select(AuditEntry).where(AuditEntry.seq == 1)).one()
    session.execute(
        insert(AuditEntry).values(
            occurred_at=genuine.occurred_at,
            actor="staff:666",
            action="money.transfer",
            object="loan:1",
            outcome="success",
            details={},
            mac=genuine.mac if mac is None else mac,
        )
    )


def _verify(runtime):
    with runtime.sessions() as session:
        return audit.verify(session)


def test_an_intact_log_verifies(runtime):
    _write(runtime)
    verdict = _verify(runtime)
    assert verdict.ok, verdict.problem
    assert verdict.rows == 5
    assert verdict.checkpoints == 1


def test_sealing_chains_rows_in_order_and_is_idempotent(runtime):
    _write(runtime, 3)
    with runtime.sessions.begin() as session:
        assert audit.seal(session) == 0
        seqs = session.scalars(select(AuditEntry.seq).order_by(AuditEntry.id)).all()
    assert seqs == [1, 2, 3]


@pytest.mark.parametrize("column", ["action", "actor", "outcome", "object"])
def test_a_changed_row_is_named(runtime, column):
    _write(runtime)
    with runtime.sessions.begin() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values({column: "forged"}))
    verdict = _verify(runtime)
    assert not verdict.ok
    assert "seq 3" in verdict.problem
    assert "MAC" in verdict.problem


def test_a_deleted_row_is_named(runtime):
    _write(runtime)
    with runtime.sessions.begin() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    verdict = _verify(runtime)
    assert not verdict.ok
    assert "seq 2 is missing" in verdict.problem


def test_deleting_the_newest_rows_is_caught_by_the_signed_checkpoint(runtime):
    _write(runtime)
    with runtime.sessions.begin() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 4))
    verdict = _verify(runtime)
    assert not verdict.ok
    assert "after seq 3 are missing" in verdict.problem


def test_an_inserted_row_is_named(runtime):
    _write(runtime)
    with runtime.sessions.begin() as session:
        _forge(session, mac=bytes(32))
    verdict = _verify(runtime)
    assert not verdict.ok
    assert "unsealed" in verdict.problem
    assert "inserted" in verdict.problem


def test_an_inserted_row_that_was_sealed_is_still_named(runtime):
    _write(runtime)
    with runtime.sessions.begin() as session:
        _forge(session)  # reuses a genuine MAC: the content cannot match it
        audit.seal(session)
    verdict = _verify(runtime)
    assert not verdict.ok
    assert "seq 6" in verdict.problem


def test_a_forged_checkpoint_signature_is_refused(runtime):
    _write(runtime)
    with runtime.sessions.begin() as session:
        point = session.scalars(select(audit.AuditCheckpoint)).one()
        point.signature = point.signature[:-2] + ("00" if point.signature[-2:] != "00" else "11")
    verdict = _verify(runtime)
    assert not verdict.ok
    assert "signature invalid" in verdict.problem


def test_cli_verify_exits_zero_when_intact_and_one_naming_the_row(runtime, lendkit_cli):
    _write(runtime)
    intact = lendkit_cli("audit", "verify")
    assert intact.returncode == 0, intact.stderr
    assert "intact: 5 rows" in intact.stdout
    with runtime.sessions.begin() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(outcome="failure"))
    broken = lendkit_cli("audit", "verify")
    assert broken.returncode == 1
    assert "seq 4" in broken.stderr


def _actions(runtime):
    with runtime.sessions() as session:
        return [
            (e.action, e.object)
            for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        ]


def test_key_rotation_is_audited(runtime):
    from lendkit.crypto.rotation import rotate

    result = rotate(runtime)
    assert ("keys.rotate", f"crypto_key:{result.key_id}") in _actions(runtime)


def test_plugin_changes_from_the_cli_are_audited(make_tenant, runtime, lendkit_cli):
    enabled = lendkit_cli("plugins", "enable", "marketing")
    assert enabled.returncode == 0, enabled.stderr
    disabled = lendkit_cli("plugins", "disable", "marketing")
    assert disabled.returncode == 0, disabled.stderr
    actions = _actions(runtime)
    assert ("plugins.enable", "plugin:marketing") in actions
    assert ("plugins.disable", "plugin:marketing") in actions
