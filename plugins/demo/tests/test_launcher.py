"""Acceptance: `lendkit-demo` on a fresh folder starts everything a buyer needs.

One command, free ports, a temporary folder: once it says it is ready, a
demo borrower signs in over HTTP and repays through the API; then
``lendkit reconcile --date <today>`` in the demo tenant's folder finds the
repayment collected and matched, with no other command run. A rerun of
yesterday's reconciliation keeps the planted exceptions. Ctrl-C stops it
all; a busy port is one line.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from lendkit.auth.cookies import SESSION_COOKIE
from lendkit.auth.testing import session_headers
from lendkit.clearing import payments
from lendkit.clearing.reconcile import ChannelStatement, ChannelStatementLine
from lendkit.runtime import open_runtime
from lendkit.settings import CONFIG_ENV
from lendkit.testing import free_port
from lendkit_demo import signins
from sqlalchemy import select

LAUNCHER = Path(sys.executable).with_name("lendkit-demo")
LENDKIT = Path(sys.executable).with_name("lendkit")
READY = "demo ready on "


def clean_env() -> dict[str, str]:
    """The environment of a new shell: no tenant configured."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LENDKIT_")}


def wait_until_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if READY in log.read_text(encoding="utf-8"):
            return
        if process.poll() is not None:
            pytest.fail(f"the demo exited with {process.returncode}:\n{log.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"the demo was not ready in time:\n{log.read_text()}")


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def lendkit(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LENDKIT), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_the_demo_runs_every_flow_with_one_command(tmp_path):
    port, gateway_port = free_port(), free_port()
    log = tmp_path / "demo.log"
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [
                str(LAUNCHER),
                "--port",
                str(port),
                "--gateway-port",
                str(gateway_port),
                "--days",
                "40",
            ],
            cwd=tmp_path,
            env=clean_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    tenant = tmp_path / "demo-tenant"
    try:
        wait_until_ready(process, log)
        base = f"http://127.0.0.1:{port}"
        home = httpx.get(f"{base}/", timeout=10)
        assert home.status_code == 200
        assert "演示小贷" in home.text
        assert "消费贷 Consumer instalment loan" in home.text
        assert "经营贷 Business loan, interest first" in home.text
        login = signins.DEMO_BORROWERS[0]
        signed_in = httpx.post(
            f"{base}/api/auth/borrower/login",
            json={"phone": login.login, "password": login.password},
        )
        assert signed_in.status_code == 200, signed_in.text
        me = session_headers(signed_in.cookies[SESSION_COOKIE])
        (loan,) = httpx.get(f"{base}/api/borrowers/me/loans", headers=me).json()["items"]
        contract = httpx.get(f"{base}/api/borrowers/me/loans/{loan['id']}/contract", headers=me)
        assert contract.json()["status"] == "signed"

        repaid = httpx.post(
            f"{base}/api/borrowers/me/loans/{loan['id']}/repayments",
            headers=me,
            json={"amount": "150.00", "idempotency_key": "acceptance-repay-0001"},
        )
        assert repaid.status_code == 201, repaid.text
        order_no = repaid.json()["order_no"]

        runtime = open_runtime(config=tenant / "lendkit.toml")
        try:

            def status() -> str:
                with runtime.read_sessions() as session:
                    return payments.order_by_no(session, order_no).status

            wait_for(lambda: status() == payments.Status.CONFIRMED)  # the worker and gateway did it
            today = payments.business_today()
            reconciled = lendkit(tenant, "reconcile", "--date", today.isoformat())
            assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
            with runtime.read_sessions() as session:
                statement_id = session.scalar(
                    select(ChannelStatement.id)
                    .where(ChannelStatement.business_date == today)
                    .order_by(ChannelStatement.id.desc())
                )
                listed = session.scalars(
                    select(ChannelStatementLine.amount).where(
                        ChannelStatementLine.statement_id == statement_id,
                        ChannelStatementLine.order_no == order_no,
                    )
                ).all()
            assert [str(amount) for amount in listed] == ["150.00"]  # collected, on the statement
            summary = next(
                line for line in reconciled.stdout.splitlines() if today.isoformat() in line
            )
            lines, matched, *_, still_open = summary.split()[2:9]
            assert lines == matched
            assert still_open == "0"

            # The planted exceptions survive a rerun of their day's reconciliation.
            day = (today - timedelta(days=1)).isoformat()
            first = lendkit(tenant, "reconcile", "exceptions", "--date", day)
            again = lendkit(tenant, "reconcile", "--date", day)
            assert again.returncode == 1  # open exceptions
            kinds = ("missing_ours", "missing_theirs", "amount_mismatch", "status_mismatch")
            for kind in kinds:
                assert len(re.findall(rf"\bopen\s+{kind}\b", first.stdout)) == 1, first.stdout
                assert len(re.findall(rf"\bopen\s+{kind}\b", again.stdout)) == 1, again.stdout
        finally:
            runtime.close()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
            pytest.fail("Ctrl-C did not stop the demo")
    assert code == 0, log.read_text()
    for stopped in (port, gateway_port):  # the app and the gateway are gone with it
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", stopped)) != 0
    config = (tenant / "lendkit.toml").read_text(encoding="utf-8")
    assert f'callback_base_url = "http://127.0.0.1:{port}"' in config
    assert f'url = "http://127.0.0.1:{gateway_port}"' in config


def test_a_busy_port_is_one_line_and_creates_nothing(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(LAUNCHER), "--port", str(port)],
            cwd=tmp_path,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert f"port {port} on 127.0.0.1 is in use" in result.stderr
    assert "--port" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_launcher_needs_no_tenant_to_print_its_help(tmp_path):
    result = subprocess.run(
        [str(LAUNCHER), "--help"],
        cwd=tmp_path,
        env={**clean_env(), CONFIG_ENV: str(tmp_path / "nowhere.toml")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    assert "--gateway-port" in result.stdout
    assert list(tmp_path.iterdir()) == []
