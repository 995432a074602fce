"""The ``lendkit serve`` and ``lendkit worker`` commands: the long-running processes.

Commands that run or inspect the server and the worker belong here (the
worker's scheduled jobs too); each imports what it runs inside its function.
"""

from __future__ import annotations

import click

__all__ = ["serve", "worker"]


@click.command()
@click.option("--host", help="Address to bind (default: server.host).")
@click.option("--port", type=int, help="Port to bind (default: server.port).")
@click.option("--with-worker", is_flag=True, help="Also run the worker in this process.")
def serve(host: str | None, port: int | None, with_worker: bool) -> None:
    """Serve the web app (migrations must be current)."""
    from lendkit.cli import open_checked_runtime, serve_runtime
    from lendkit.logs import configure_logging

    configure_logging()  # before the runtime opens: its start-up warnings are logs too
    runtime = open_checked_runtime(migrated=True)
    server = runtime.settings.server
    serve_runtime(runtime, host or server.host, port or server.port, with_worker=with_worker)


@click.command()
def worker() -> None:
    """Run the outbox dispatcher and scheduled jobs until Ctrl-C."""
    import threading

    from lendkit.cli import open_checked_runtime
    from lendkit.logs import configure_logging
    from lendkit.worker import run_worker

    configure_logging()
    stop = threading.Event()
    try:
        run_worker(open_checked_runtime(migrated=True), stop)
    except KeyboardInterrupt:
        stop.set()
