"""The ``lendkit keys`` commands: the master key and the data keys."""

from __future__ import annotations

import click

from lendkit.errors import StartupError

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """Master key and data keys: create, inspect, rotate."""


@keys.command("init")
def keys_init() -> None:
    """Create the master key file named by keys.master_key_file (never overwrites)."""
    from lendkit.cli import require_tenant
    from lendkit.crypto.keys import write_master_key
    from lendkit.settings import load_settings

    settings = load_settings(require_tenant())
    if not settings.keys.master_key_file:
        raise StartupError("keys.master_key_file is not set (the master key comes from a variable)")
    path = settings.path(settings.keys.master_key_file)
    if path.exists():
        raise StartupError(f"{path} exists already; a master key is never overwritten")
    write_master_key(path)
    click.echo(f"created {path} (mode 600). Back it up apart from the database; never commit it.")


@keys.command("status")
def keys_status() -> None:
    """Key ids, purposes, ages, and how many stored values each still protects."""
    from sqlalchemy import select

    from lendkit.cli import open_checked_runtime
    from lendkit.crypto.rotation import key_usage
    from lendkit.db import utcnow
    from lendkit.models import CryptoKey

    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions() as session:
        usage = key_usage(session)
        rows = session.scalars(select(CryptoKey).order_by(CryptoKey.id)).all()
    now = utcnow()
    # The newest unretired field key encrypts; older unretired ones only decrypt.
    encrypting = max(r.id for r in rows if r.purpose == "field" and not r.retired_at)
    click.echo(f"{'id':>4}  {'purpose':<8} {'age':>8}  {'values':>8}  {'state':<8} wrapper")
    for row in rows:
        age = f"{(now - row.created_at).days}d"
        if row.retired_at:
            state = "retired"
        elif row.purpose == "field" and row.id != encrypting:
            state = "decrypt"
        else:
            state = "active"
        values = str(usage.get(row.id, 0)) if row.purpose == "field" else "-"
        click.echo(f"{row.id:>4}  {row.purpose:<8} {age:>8}  {values:>8}  {state:<8} {row.wrapper}")


@keys.command("rotate")
@click.option("--batch-size", default=500, show_default=True, help="Rows per transaction.")
def keys_rotate(batch_size: int) -> None:
    """Create a new data key and re-encrypt every row with it, while serving.

    Resumable: after a crash, run it again and it finishes the interrupted
    rotation instead of starting another.
    """
    from lendkit.cli import open_checked_runtime, progress
    from lendkit.crypto.rotation import rotate

    runtime = open_checked_runtime(migrated=True)
    with progress("re-encrypting") as moved:
        result = rotate(runtime, batch_size, moved)
    verb = "resumed rotation to" if result.resumed else "rotated to"
    retired = ", ".join(map(str, result.retired)) or "none"
    click.echo(
        f"{verb} key {result.key_id}: {result.rows} rows re-encrypted; retired keys: {retired}"
    )
