"""The ``lendkit audit`` commands: verify and seal the tamper-evident audit log."""

from __future__ import annotations

import sys

import click

__all__ = ["audit_group"]


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Check every row's MAC, the SM3 chain and the SM2-signed checkpoints.

    Exits 0 when intact; otherwise prints the first altered, inserted or
    missing row and exits 1.
    """
    from lendkit import audit
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions() as session:
        verdict = audit.verify(session)
    if verdict.ok:
        click.echo(
            f"audit log intact: {verdict.rows} rows, {verdict.checkpoints} signed checkpoints"
        )
        return
    click.echo(f"audit log NOT intact: {verdict.problem}", err=True)
    sys.exit(1)


@audit_group.command("seal")
def audit_seal() -> None:
    """Chain pending rows now and sign a checkpoint (the worker does this on its own)."""
    from lendkit import audit
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions.begin() as session:
        sealed = audit.seal(session)
        point = audit.checkpoint(session, note="manual")
    click.echo(f"sealed {sealed} rows; checkpoint at seq {point.seq if point else '-'}")
