"""Built-in plugin: the audit sealer job and the ``lendkit audit`` commands."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta

import click

import lendkit
from lendkit import audit
from lendkit.runtime import Runtime
from lendkit.types import Job

__all__: list[str] = []

CHECKPOINT_EVERY = timedelta(minutes=10)


def _seal(runtime: Runtime, now: datetime) -> object:
    with runtime.sessions.begin() as session:
        return audit.seal(session)


def _checkpoint(runtime: Runtime, now: datetime) -> object:
    with runtime.sessions.begin() as session:
        audit.seal(session)
        return audit.checkpoint(session)


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [
        Job(name="audit-seal", every=timedelta(seconds=2), run=_seal),
        Job(name="audit-checkpoint", every=CHECKPOINT_EVERY, run=_checkpoint),
    ]


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
def audit_verify() -> None:
    """Check every row's MAC, the SM3 chain and the SM2-signed checkpoints.

    Exits 0 when intact; otherwise prints the first altered, inserted or
    missing row and exits 1.
    """
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
    from lendkit.cli import open_checked_runtime

    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions.begin() as session:
        sealed = audit.seal(session)
        point = audit.checkpoint(session, note="manual")
    click.echo(f"sealed {sealed} rows; checkpoint at seq {point.seq if point else '-'}")


@lendkit.hookimpl
def register_commands(cli: click.Group) -> None:
    cli.add_command(audit_group)
