"""Every CLI error is one line saying what is wrong and what to do, with a non-zero
exit code, never a traceback; run outside a tenant, the CLI creates nothing there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lendkit.testing import free_port

TENANT_COMMANDS = [
    ("serve",),
    ("worker",),
    ("jobs",),
    ("db", "upgrade"),
    ("db", "current"),
    ("plugins", "enable", "marketing"),
    ("plugins", "disable", "marketing"),
    ("reconcile", "--date", "2026-11-25"),
    ("ledger", "trial-balance"),
    ("eod", "--date", "2026-11-25"),
    ("keys", "init"),
    ("backup",),
]


def run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LENDKIT_")}
    return subprocess.run(
        [sys.executable, "-m", "lendkit", *args],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # A tenant with stand-in plugins warns of them first, on a line of its own.
    lines = [line for line in result.stderr.splitlines() if "Stand-in plugins enabled" not in line]
    assert len(lines) == 1, result.stderr
    return lines[0] + "\n"


@pytest.mark.parametrize("command", TENANT_COMMANDS, ids=" ".join)
def test_outside_a_tenant_one_line_and_no_files(tmp_path, command):
    result = run(tmp_path, *command)

    line = assert_one_line(result)
    assert result.returncode == 2
    assert f"no lendkit.toml in {tmp_path}" in line
    assert "LENDKIT_CONFIG" in line
    assert list(tmp_path.iterdir()) == []  # no data, keys or logs left behind


def test_next_to_the_demo_tenant_it_says_where_the_tenant_is(tmp_path):
    demo = tmp_path / "demo-tenant"
    demo.mkdir()
    (demo / "lendkit.toml").write_text('[tenant]\nname = "Demo"\n', encoding="utf-8")

    line = assert_one_line(run(tmp_path, "db", "current"))

    assert "the demo tenant is in ./demo-tenant" in line
    assert "`cd demo-tenant`" in line
    assert f"LENDKIT_CONFIG={demo / 'lendkit.toml'}" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo-tenant"]
    assert sorted(p.name for p in demo.iterdir()) == ["lendkit.toml"]


def test_a_config_variable_naming_no_file_is_one_line(tmp_path):
    missing = tmp_path / "elsewhere" / "lendkit.toml"

    line = assert_one_line(run(tmp_path, "db", "current", env={"LENDKIT_CONFIG": str(missing)}))

    assert f"$LENDKIT_CONFIG names {missing}, which does not exist" in line
    assert list(tmp_path.iterdir()) == []


def test_pending_migrations_say_to_upgrade(make_tenant, lendkit_cli):
    make_tenant()  # never upgraded

    result = lendkit_cli("ledger", "trial-balance")

    line = assert_one_line(result)
    assert "migrations pending" in line
    assert "`lendkit db upgrade`" in line


def test_reconcile_with_the_gateway_down_is_one_line(make_tenant, lendkit_cli):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    make_tenant(
        plugins=["channel-sandbox"],
        options={"channel-sandbox": {"url": url, "secret": "x", "timeout": 2}},
    )
    lendkit_cli("db", "upgrade")

    result = lendkit_cli("reconcile", "--date", "2026-11-25")

    line = assert_one_line(result)
    assert result.returncode == 1
    assert line.startswith("lendkit: channel_unavailable: ")
    assert f"payment channel 'sandbox' did not answer at {url}" in line
    assert "start its gateway" in line
