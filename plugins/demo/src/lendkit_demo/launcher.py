"""``lendkit-demo``: create, seed and serve the demo tenant, with everything it needs.

One process serves the web app, runs the worker and the payment gateway
stand-in (the e-sign stand-in starts inside the app when the first contract
is signed), so every flow of the demo completes — apply, sign, disburse,
repay, reconcile — with no other command. Ctrl-C stops them all. The
tenant's settings follow the ports served on (callbacks reach this app).
Every error is one line and a non-zero exit code.
"""

from __future__ import annotations

import errno
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import click
from lendkit.errors import LendkitError, StartupError
from lendkit.lifecycle.application_models import Application
from lendkit.plugin_options import plugin_options
from lendkit.runtime import Runtime
from lendkit_channel_sandbox.gateway import GatewayConfig, SandboxGateway
from lendkit_channel_sandbox.plugin import Options as ChannelOptions
from sqlalchemy import select

from lendkit_demo import book, signins, statement, tenant

__all__ = ["banner", "main", "signin_loans"]

PROG = "lendkit-demo"


class PortBusy(StartupError):
    pass


def banner(base: str, gateway: str) -> str:
    """What to open and how to sign in, printed when the demo is ready."""
    staff = ", ".join(login.login for login in signins.DEMO_STAFF)
    admin = signins.DEMO_STAFF[0]
    with_totp = [login for login in signins.DEMO_STAFF if login.totp_secret]
    borrower = signins.DEMO_BORROWERS[0]
    phones = ", ".join(b.login for b in signins.DEMO_BORROWERS)
    return "\n".join(
        [
            "",
            f"  Open     {base}/                 home page: products and branding",
            f"           {base}/schema           API documentation (OpenAPI)",
            f"           {base}/readyz           readiness checks",
            f"  Staff    POST {base}/api/auth/staff/login  {{username, password, totp}}",
            f"           usernames {staff}; password {admin.password}",
            *(f"           {login.login} TOTP secret {login.totp_secret}" for login in with_totp),
            "           current code: .venv/bin/python -c "
            "\"import pyotp; print(pyotp.TOTP('<secret>').now())\"",
            f"  Borrower POST {base}/api/auth/borrower/login  {{phone, password}}",
            f"           phones {phones}; password {borrower.password}",
            "           verified, with a signed contract and a loan to repay:",
            f"           POST {base}/api/borrowers/me/loans/ID/repayments",
            f"  Gateway  {gateway}  payment gateway stand-in (e-sign stand-in: inside the app)",
            "  Books    in the demo-tenant folder: lendkit reconcile --date YYYY-MM-DD;",
            "           lendkit reconcile exceptions; lendkit eod --date D",
            "  Stop     Ctrl-C (stops the app, the worker and the gateways)",
            "",
        ]
    )


def signin_loans(runtime: Runtime) -> list[int]:
    """The loans of the borrowers who can sign in (booked by :func:`signins.onboard`)."""
    with runtime.read_sessions() as session:
        return [
            loan_id
            for loan_id in session.scalars(
                select(Application.loan_id)
                .where(Application.idempotency_key.startswith("demo:signin:"))
                .order_by(Application.id)
            )
            if loan_id is not None
        ]


def check_free(host: str, port: int, option: str) -> None:
    """A one-line error now, rather than a traceback later, when ``port`` is taken."""
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortBusy(
                    f"port {port} on {host} is in use (another demo?): stop what uses it, "
                    f"or pick another with {option} N"
                ) from None
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _gateway(runtime: Runtime, port: int) -> SandboxGateway:
    options = plugin_options(runtime.settings, tenant.CHANNEL_PLUGIN, ChannelOptions)
    config = GatewayConfig(merchant_id=options.merchant_id, secret=options.secret)
    gateway = SandboxGateway(config, "127.0.0.1", port).start()
    # The gateway keeps orders in memory: tell it what its statements said.
    for day, lines in statement.planted_statements(runtime).items():
        gateway.add_faults(
            day,
            {
                "extra": [
                    {
                        "merchant_order_no": line.order_no,
                        "gateway_ref": line.channel_ref,
                        "type": "PAYOUT" if line.kind == "disburse" else "WITHHOLD",
                        "amount": str(line.amount),
                        "fee": str(line.fee),
                        "status": "SUCCESS" if line.status == "succeeded" else "FAIL",
                        "error_code": line.code,
                    }
                    for line in lines
                ]
            },
        )
    return gateway


def _serve(
    runtime: Runtime, host: str, port: int, gateway_port: int, echo: Callable[[str], object]
) -> None:
    import uvicorn
    from lendkit.logs import configure_logging
    from lendkit.web.app import create_app
    from lendkit.worker import run_worker

    configure_logging("WARNING")  # the console shows the banner; warnings still show
    gateway = _gateway(runtime, gateway_port)
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host=host, port=port, log_config=None, access_log=False)
    )
    app = threading.Thread(target=server.run, name="web", daemon=True)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(runtime, stop), name="worker", daemon=True)
    try:
        app.start()
        worker.start()
        while not server.started:
            if not app.is_alive():
                raise StartupError(f"the web app did not start on {host}:{port}")
            app.join(0.05)
        signins.complete(runtime, signin_loans(runtime), echo)
        echo(banner(f"http://{host}:{port}", gateway.url))
        echo(f"demo ready on http://{host}:{port}/ (Ctrl-C to stop)")
        while app.is_alive():
            app.join(0.5)
    except KeyboardInterrupt:
        echo("stopping the demo")
    finally:
        server.should_exit = True
        stop.set()
        app.join(timeout=10)
        worker.join(timeout=10)
        gateway.stop()
        runtime.close()


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-tenant"),
    show_default=True,
    help="Folder of the demo tenant (created and seeded on first run).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the web app.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--gateway-port",
    default=8765,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port of the payment gateway stand-in (loopback).",
)
@click.option(
    "--days",
    default=book.DAYS,
    show_default=True,
    type=click.IntRange(30, 3650),
    help="Business days of lending the first run simulates (fewer: a faster first run).",
)
@click.option("--no-serve", is_flag=True, help="Create and seed, then exit.")
def demo(
    directory: Path, host: str, port: int, gateway_port: int, days: int, no_serve: bool
) -> None:
    """Create and seed a demo tenant on SQLite if absent, then serve it with everything it needs."""
    if not no_serve:
        check_free(host, port, "--port")
        check_free("127.0.0.1", gateway_port, "--gateway-port")
    runtime, _ = tenant.prepare(
        directory,
        f"http://{host}:{port}",
        f"http://127.0.0.1:{gateway_port}",
        echo=click.echo,
        days=days,
    )
    if no_serve:
        runtime.close()
        return
    _serve(runtime, host, port, gateway_port, click.echo)


def main(argv: list[str] | None = None) -> None:
    """The console script: one line and a non-zero exit code on any known error."""
    try:
        demo.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        click.echo(f"{PROG}: interrupted", err=True)
        sys.exit(130)
    except StartupError as exc:
        click.echo(f"{PROG}: error: {exc.detail}", err=True)
        sys.exit(2)
    except LendkitError as exc:
        click.echo(f"{PROG}: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)
