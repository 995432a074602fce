"""The `lendkit` command: help everywhere, version, and the demo tenant end to end."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import click
import httpx
import lendkit
import pytest
from click.testing import CliRunner
from lendkit.cli import cli
from lendkit.testing import free_port


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and subgroup below ``group``, as argument paths."""
    for name, command in sorted(group.commands.items()):
        path = (*prefix, name)
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, path)


ALL_COMMANDS = [(), *command_paths(cli)]


def test_the_walk_finds_every_kernel_command():
    assert {" ".join(path) for path in ALL_COMMANDS} >= {
        "",
        "version",
        "serve",
        "worker",
        "demo",
        "db",
        "db upgrade",
        "db current",
        "plugins",
        "plugins list",
        "plugins enable",
        "plugins disable",
        "outbox",
        "outbox dead",
        "outbox retry",
    }


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda path: " ".join(path) or "lendkit")
def test_every_command_and_group_has_help(path):
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]

    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="lendkit")

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: {' '.join(('lendkit', *path))} ")
    summary = (command.help or "").splitlines()[0]
    assert summary
    assert " ".join(summary.split()) in " ".join(result.output.split())  # help text is wrapped


def test_short_help_option_works_too():
    result = CliRunner().invoke(cli, ["plugins", "-h"], prog_name="lendkit")

    assert result.exit_code == 0
    assert "enable" in result.output
    assert "disable" in result.output


def test_version_option_prints_the_kernel_version():
    result = CliRunner().invoke(cli, ["--version"], prog_name="lendkit")

    assert result.output == f"lendkit, version {lendkit.__version__}\n"


def test_version_command_lists_the_kernel_and_enabled_plugins(tmp_path, lendkit_cli):
    config = tmp_path / "lendkit.toml"
    config.write_text('[plugins]\nenabled = ["marketing"]\n', encoding="utf-8")

    result = lendkit_cli("version", env={"LENDKIT_CONFIG": str(config)})

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"lendkit {version('lendkit')}",
        f"marketing (lendkit-marketing) {version('lendkit-marketing')}",
    ]


# -- The demo tenant -----------------------------------------------------


def coupon_codes(directory: Path) -> list[str]:
    with sqlite3.connect(directory / "data" / "lendkit.db") as connection:
        return [
            row[0] for row in connection.execute("SELECT code FROM marketing_coupon ORDER BY id")
        ]


SEEDED = ["SPRING-50", "FIRSTLOAN-30", "REFER-10"]


def test_demo_creates_and_seeds_once_and_a_rerun_adds_nothing(tmp_path, lendkit_cli):
    directory = tmp_path / "demo"

    first = lendkit_cli("demo", "--no-serve", "--dir", str(directory))

    assert first.returncode == 0, first.stderr
    assert f"created demo tenant in {directory}" in first.stdout
    assert "seeded demo data" in first.stdout
    assert coupon_codes(directory) == SEEDED
    config = (directory / "lendkit.toml").read_text(encoding="utf-8")
    assert "marketing" in tomllib.loads(config)["plugins"]["enabled"]

    again = lendkit_cli("demo", "--no-serve", "--dir", str(directory))

    assert again.returncode == 0, again.stderr
    assert "created demo tenant" not in again.stdout
    assert "seeded" not in again.stdout
    assert coupon_codes(directory) == SEEDED
    assert (directory / "lendkit.toml").read_text(encoding="utf-8") == config


def test_demo_serves_health_and_a_home_page_with_the_products(tmp_path):
    directory = tmp_path / "demo"
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w", encoding="utf-8") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "lendkit", "demo", "--dir", str(directory), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        health = wait_for(f"{base}/healthz", process, log)
        home = httpx.get(f"{base}/", timeout=10)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert home.status_code == 200
    assert "演示小贷" in home.text
    assert "消费贷 Consumer instalment loan" in home.text
    assert "经营贷 Business loan, interest first" in home.text
    assert '<span class="tag">marketing</span>' in home.text
    assert f"http://127.0.0.1:{port}/" in log.read_text(encoding="utf-8")


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + 150  # the demo grows its loan book first
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"demo exited with {process.returncode}:\n{log.read_text()}")
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"demo did not answer {url} in time:\n{log.read_text()}")
