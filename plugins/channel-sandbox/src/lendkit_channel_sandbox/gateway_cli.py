"""The ``lendkit sandbox-gateway`` command (entry point in ``lendkit.commands``).

Only click at the top: the CLI imports this module to list the command, and
the gateway itself is imported when the command runs.
"""

from __future__ import annotations

import click

__all__ = ["sandbox_gateway"]


@click.command("sandbox-gateway")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True)
@click.option("--callback-delay", default=0.5, show_default=True, help="Seconds to the callback.")
def sandbox_gateway(host: str, port: int, callback_delay: float) -> None:
    """Run the fake payment gateway the sandbox channel talks to (loopback only)."""
    from lendkit_channel_sandbox.gateway import main

    main(["--host", host, "--port", str(port), "--callback-delay", str(callback_delay)])
