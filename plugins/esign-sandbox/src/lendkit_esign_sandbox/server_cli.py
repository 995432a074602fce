"""The ``lendkit esign-sandbox-server`` command (entry point in ``lendkit.commands``).

Only click at the top: the CLI imports this module to list the command, and
the server itself is imported when the command runs.
"""

from __future__ import annotations

import click

__all__ = ["esign_sandbox_server"]


@click.command("esign-sandbox-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8766, show_default=True)
@click.option("--callback-delay", default=0.3, show_default=True, help="Seconds to the signature.")
def esign_sandbox_server(host: str, port: int, callback_delay: float) -> None:
    """Run the sandbox e-sign vendor on its own (loopback only; NOT legally valid).

    Point the app at it with url = "http://HOST:PORT" in [plugins.options.esign-sandbox].
    """
    from lendkit_esign_sandbox.server import main

    main(["--host", host, "--port", str(port), "--callback-delay", str(callback_delay)])
