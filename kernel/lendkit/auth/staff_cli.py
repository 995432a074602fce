"""The ``lendkit staff`` commands: create staff users, enrol TOTP, unlock."""

from __future__ import annotations

import click

__all__ = ["staff"]


@click.group()
def staff() -> None:
    """Staff sign-ins: add users, enrol their TOTP authenticator, unlock."""


def _echo_totp(secret: str, username: str, issuer: str) -> None:
    from lendkit.auth.totp import provisioning_uri

    click.echo("TOTP secret (shown once; add it to an authenticator app):")
    click.echo(f"  {secret}")
    click.echo(f"  {provisioning_uri(secret, username, issuer)}")


@staff.command("add")
@click.argument("username")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "risk_officer", "finance", "collections", "auditor", "support"]),
)
@click.option("--name", "display_name", required=True, help="Display name (stored encrypted).")
@click.password_option(envvar="LENDKIT_STAFF_PASSWORD", help="Or set LENDKIT_STAFF_PASSWORD.")
def staff_add(username: str, role: str, display_name: str, password: str) -> None:
    """Create a staff user; prints a TOTP secret when the role needs one."""
    from sqlalchemy import select

    from lendkit import audit
    from lendkit.auth.passwords import check_staff_password, hasher_for
    from lendkit.auth.totp import new_secret
    from lendkit.cli import open_checked_runtime
    from lendkit.errors import ConflictError
    from lendkit.models import StaffUser

    runtime = open_checked_runtime(migrated=True)
    check_staff_password(password, username)
    secret = new_secret() if role in runtime.settings.auth.totp_roles else None
    with runtime.sessions.begin() as session:
        if session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
            raise ConflictError(f"staff user {username!r} exists already")
        session.add(
            StaffUser(
                username=username,
                display_name=display_name,
                role=role,
                password_hash=hasher_for(runtime.settings).hash(password),
                totp_secret=secret,
            )
        )
        audit.record(session, "cli", "staff.create", f"staff:{username}", role=role)
    click.echo(f"created {username} ({role})")
    if secret:
        _echo_totp(secret, username, runtime.settings.tenant.display_name)


@staff.command("totp")
@click.argument("username")
def staff_totp(username: str) -> None:
    """Give a staff user a new TOTP secret (replaces the old one) and print it."""
    from sqlalchemy import select

    from lendkit import audit
    from lendkit.auth.totp import new_secret
    from lendkit.cli import open_checked_runtime
    from lendkit.errors import NotFoundError
    from lendkit.models import StaffUser

    runtime = open_checked_runtime(migrated=True)
    secret = new_secret()
    with runtime.sessions.begin() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        if user is None:
            raise NotFoundError(f"no staff user {username!r}")
        user.totp_secret = secret
        audit.record(session, "cli", "staff.totp_enrol", f"staff:{username}")
    _echo_totp(secret, username, runtime.settings.tenant.display_name)


@staff.command("unlock")
@click.argument("username")
def staff_unlock(username: str) -> None:
    """Lift a lock-out after failed sign-ins."""
    from sqlalchemy import select

    from lendkit import audit
    from lendkit.cli import open_checked_runtime
    from lendkit.errors import NotFoundError
    from lendkit.models import StaffUser

    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions.begin() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username))
        if user is None:
            raise NotFoundError(f"no staff user {username!r}")
        user.failed_logins = 0
        user.locked_until = None
        audit.record(session, "cli", "staff.unlock", f"staff:{username}")
    click.echo(f"unlocked {username}")
