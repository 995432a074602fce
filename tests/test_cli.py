"""The `lendkit` command: help everywhere, version, and commands found as entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points, version

import click
import lendkit
import pytest
from click.testing import CliRunner
from lendkit.cli import CommandGroup, _load, cli
from lendkit.entry_point_scan import EntryPoint, normal_name, scan
from lendkit.errors import StartupError


def command_paths(
    group: click.Group, ctx: click.Context, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Every command and subgroup below ``group``, as argument paths."""
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = (*prefix, name)
        yield path
        if isinstance(command, click.Group):
            yield from command_paths(command, click.Context(command, ctx, name), path)


def resolve(path: tuple[str, ...]) -> click.Command:
    """The command at ``path``, looked up as the CLI does (loading it on demand)."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="lendkit")
    for name in path:
        assert isinstance(command, click.Group)
        found = command.get_command(ctx, name)
        assert found is not None, path
        command, ctx = found, click.Context(found, ctx, name)
    return command


ALL_COMMANDS = [(), *command_paths(cli, click.Context(cli, info_name="lendkit"))]


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
        "plugins new",
        "quote",
        "eod",
        "ledger trial-balance",
        "reconcile resolve",
        "report fund-flow",
        "keys rotate",
        "crypto selftest",
        "staff add",
        "audit verify",
        "backup",
    }


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=lambda path: " ".join(path) or "lendkit")
def test_every_command_and_group_has_help(path):
    command = resolve(path)

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


# What no command may import just to start (a command imports them when it runs):
# the ORM, Alembic, the web stack, settings validation, HTTP, national crypto, progress bars.
HEAVY = ("alembic", "gmssl", "httpx", "litestar", "pydantic", "rich", "sqlalchemy", "uvicorn")
# Runs `lendkit ARGS` in this fresh interpreter, then prints the heavy packages it loaded.
AFTER_RUN = f"""
import json, sys
from lendkit.cli import main
sys.argv[0] = "lendkit"
try:
    main()
except SystemExit:
    pass
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))))
"""


def heavy_packages_after(*args, cwd, env=None):
    result = subprocess.run(
        [sys.executable, "-c", AFTER_RUN, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def clean_env(**extra):
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LENDKIT_")}, **extra}


def test_importing_the_cli_loads_no_heavy_package(tmp_path):
    code = (
        "import lendkit.cli, sys; print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'sqlalchemy','alembic','litestar','pydantic'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert result.stdout == "[]\n"


@pytest.fixture
def plugin_tenant(tmp_path):
    """A tenant folder enabling channel-sandbox (a command of its own) but not esign-sandbox."""
    (tmp_path / "lendkit.toml").write_text(
        '[tenant]\nname = "CLI"\n\n[plugins]\nenabled = ["channel-sandbox"]\n', encoding="utf-8"
    )
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("--help",),
        (
            "quote",
            "--principal",
            "1000",
            "--term",
            "3",
            "--method",
            "equal-installment",
            "--annual-rate",
            "0.1",
        ),
    ],
    ids=lambda args: args[0],
)
def test_starting_loads_no_heavy_package(plugin_tenant, args):
    # --help imports every listed command's module: none may import heavy things at the top.
    assert heavy_packages_after(*args, cwd=plugin_tenant, env=clean_env()) == []


def test_help_lists_the_commands_of_enabled_plugins_only(plugin_tenant, lendkit_cli):
    config = str(plugin_tenant / "lendkit.toml")

    listed = lendkit_cli("--help", env={"LENDKIT_CONFIG": config})
    disabled = lendkit_cli("esign-sandbox-server", "--help", env={"LENDKIT_CONFIG": config})

    assert listed.returncode == 0, listed.stderr
    assert "sandbox-gateway" in listed.stdout
    assert "esign-sandbox-server" not in listed.stdout
    assert "quote" in listed.stdout
    assert disabled.returncode == 2
    assert "No such command 'esign-sandbox-server'" in disabled.stderr


def test_the_plugins_variable_enables_commands_as_it_enables_plugins(tmp_path, lendkit_cli):
    listed = lendkit_cli(
        "--help",
        env={
            "LENDKIT_CONFIG": str(tmp_path / "lendkit.toml"),
            "LENDKIT_PLUGINS__ENABLED": '["esign-sandbox"]',
        },
    )

    assert "esign-sandbox-server" in listed.stdout
    assert "sandbox-gateway" not in listed.stdout


def test_a_command_name_two_plugins_claim_is_a_startup_error():
    claims = (
        EntryPoint("twice", "lendkit.server_cli:serve", "lendkit.commands", "lendkit-one"),
        EntryPoint("twice", "lendkit.server_cli:worker", "lendkit.commands", "lendkit-two"),
    )

    with pytest.raises(StartupError, match="command 'twice' is claimed by lendkit-one "):
        _load("twice", claims)


def test_an_entry_point_that_is_no_command_is_a_startup_error():
    claim = (EntryPoint("odd", "lendkit.cli:main", "lendkit.commands", "lendkit-odd"),)

    with pytest.raises(StartupError, match="is not a click command"):
        _load("odd", claim)


@pytest.mark.parametrize("group", ["lendkit", "lendkit.commands", "console_scripts"])
def test_the_quick_scan_finds_what_importlib_metadata_finds(group):
    expected = {
        (ep.name, ep.value, normal_name(ep.dist.name) if ep.dist else "?")
        for ep in entry_points(group=group)
    }

    found = {(ep.name, ep.value, ep.distribution) for ep in scan({group})}

    assert found == expected
    assert len(found) == len(scan({group}))  # no distribution read twice


def test_an_entry_point_loads_its_attribute_path():
    point = EntryPoint("x", "lendkit.cli:CommandGroup.get_command", "g", "lendkit")

    assert point.load() is CommandGroup.get_command
