"""The ``lendkit crypto`` commands: the national-cryptography self-test and a demonstration."""

from __future__ import annotations

import sys

import click

__all__ = ["crypto"]


@click.group()
def crypto() -> None:
    """National-cryptography checks and a demonstration."""


@crypto.command("selftest")
def crypto_selftest() -> None:
    """Check both backends (OpenSSL, gmssl) on the standard vectors; exit 0 if all pass."""
    from lendkit.crypto import selftest

    results = selftest.run()
    for check in results:
        click.echo(f"{'PASS' if check.passed else 'FAIL'}  {check.name}")
    failed = sum(not c.passed for c in results)
    click.echo(
        f"{failed} of {len(results)} checks failed"
        if failed
        else f"all {len(results)} checks passed"
    )
    sys.exit(1 if failed else 0)


@crypto.command("demo")
@click.option(
    "--value", default="110101199003071235", show_default=True, help="Sample value to encrypt."
)
def crypto_demo(value: str) -> None:
    """Encrypt a sample value with SM4-GCM; show that only the right key opens it."""
    import secrets

    from lendkit.crypto.fields import context, open_value, seal_value
    from lendkit.crypto.sm4 import BACKENDS, DecryptionError

    backend = BACKENDS["openssl"]
    right, wrong = secrets.token_bytes(16), secrets.token_bytes(16)
    ctx = context("borrower", "id_number", secrets.token_bytes(16))
    sealed = seal_value(backend, 1, right, value.encode(), ctx)
    click.echo(f"plaintext             {value}")
    click.echo(f"stored (hex)          {sealed.hex()}")
    click.echo(
        "                      = version | key id | nonce (12 B) | SM4-GCM ciphertext | tag (16 B)"
    )
    try:
        open_value(backend, wrong, sealed, ctx)
        click.echo("wrong key             OPENED (this must never happen)")
        sys.exit(1)
    except DecryptionError as exc:
        click.echo(f"wrong key             refused: {exc}")
    try:
        open_value(
            backend, right, sealed, context("borrower", "id_number", secrets.token_bytes(16))
        )
        sys.exit(1)
    except DecryptionError as exc:
        click.echo(f"right key, other row  refused: {exc}")
    click.echo(f"right key             {open_value(backend, right, sealed, ctx).decode()}")
