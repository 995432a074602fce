"""The demo tenant's folder: created and seeded once, a rerun adds nothing; its settings
enable the stand-ins installed and follow the ports; its seeded loans are on products
the tenant offers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from lendkit.plugins import installed_plugins
from lendkit_demo import tenant
from lendkit_demo.products import DEMO_PRODUCTS

LAUNCHER = Path(sys.executable).with_name("lendkit-demo")
SEEDED = ["SPRING-50", "FIRSTLOAN-30", "REFER-10"]


def launch(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENDKIT_")}
    return subprocess.run(
        [str(LAUNCHER), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def rows(directory: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(directory / "data" / "lendkit.db") as connection:
        return list(connection.execute(query))


@pytest.mark.slow
def test_the_demo_is_created_and_seeded_once_and_a_rerun_adds_nothing(tmp_path):
    directory = tmp_path / "demo"

    first = launch(tmp_path, "--no-serve", "--days", "30", "--dir", str(directory))

    assert first.returncode == 0, first.stderr
    assert f"created demo tenant in {directory}" in first.stdout
    assert "seeded demo data" in first.stdout
    assert [
        r[0] for r in rows(directory, "SELECT code FROM marketing_coupon ORDER BY id")
    ] == SEEDED
    offered = {product["code"] for product in DEMO_PRODUCTS}
    booked = {r[0] for r in rows(directory, "SELECT DISTINCT product_code FROM loan")}
    assert booked
    assert booked <= offered
    settings = tomllib.loads((directory / "lendkit.toml").read_text(encoding="utf-8"))
    assert settings["plugins"]["enabled"] == tenant.demo_plugins()
    assert settings["payments"]["callback_base_url"] == "http://127.0.0.1:8000"
    loans = rows(directory, "SELECT COUNT(*) FROM loan")

    again = launch(tmp_path, "--no-serve", "--port", "8123", "--dir", str(directory))

    assert again.returncode == 0, again.stderr
    assert "created demo tenant" not in again.stdout
    assert "seeded" not in again.stdout
    assert [
        r[0] for r in rows(directory, "SELECT code FROM marketing_coupon ORDER BY id")
    ] == SEEDED
    assert rows(directory, "SELECT COUNT(*) FROM loan") == loans
    settings = tomllib.loads((directory / "lendkit.toml").read_text(encoding="utf-8"))
    assert settings["payments"]["callback_base_url"] == "http://127.0.0.1:8123"  # follows the port


def test_an_interrupted_seeding_is_one_line_saying_to_start_over(tmp_path):
    directory = tmp_path / "demo"
    (directory / "data").mkdir(parents=True)
    (directory / "lendkit.toml").write_text(
        tenant.settings_text("http://127.0.0.1:8000", "http://127.0.0.1:8765"), encoding="utf-8"
    )
    (directory / "data" / "lendkit.db").write_bytes(b"")  # a database, but never finished

    result = launch(tmp_path, "--no-serve", "--dir", str(directory))

    assert result.returncode == 2
    # The stand-in warning of every start comes first, on a line of its own.
    errors = [line for line in result.stderr.splitlines() if "Stand-in plugins" not in line]
    assert len(errors) == 1, result.stderr
    assert "not seeded to the end" in result.stderr
    assert "delete the folder" in result.stderr


def test_the_settings_enable_the_optional_stand_ins_only_when_installed():
    enabled = tenant.demo_plugins()
    assert enabled[0] == "demo"
    assert set(tenant.REQUIRED) <= set(enabled)
    assert ("sms-sandbox" in enabled) == ("sms-sandbox" in installed_plugins())
    assert set(enabled) <= set(installed_plugins())
