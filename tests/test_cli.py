"""The `lendkit` command: help everywhere, and version."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version

import click
import lendkit
import pytest
from click.testing import CliRunner
from lendkit.cli import cli


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
        "jobs",
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
