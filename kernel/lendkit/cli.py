"""The ``lendkit`` command-line tool: the root group, its errors, and tenant helpers.

Commands are data: entry points in the group ``lendkit.commands`` (name =
command name, value = ``module:attribute`` of a click command or group),
read by :mod:`lendkit.entry_point_scan` without importlib.metadata. The
kernel's are declared in its own distribution, a plugin's in its
distribution; the root group lists the kernel's and those of the plugins the
tenant's ``lendkit.toml`` enables, and imports a command's module only when
that command is listed in ``--help`` or run. So ``lendkit --version`` and
``lendkit quote`` start without the ORM, Alembic or any plugin; command
modules import click and light things at the top and the rest inside their
functions.

Commands find the tenant through ``$LENDKIT_CONFIG`` or ``./lendkit.toml``;
a command that needs a tenant refuses to run without that file (it says
where a tenant is, and creates nothing in the current folder). A
:class:`~lendkit.errors.StartupError` (no tenant, bad settings, unknown
plugin, unreachable database, pending migrations) prints one line and
exits with code 2; any other :class:`~lendkit.errors.LendkitError` (a
payment channel that does not answer, say) prints its code and one line
and exits with code 1. Never a traceback for what the operator can fix.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

import lendkit
from lendkit.config_file import CONFIG_ENV, config_path, enabled_plugins
from lendkit.errors import LendkitError, StartupError

if TYPE_CHECKING:
    from lendkit.entry_point_scan import EntryPoint
    from lendkit.runtime import Runtime

__all__ = [
    "COMMANDS_GROUP",
    "CommandGroup",
    "cli",
    "command_entry_points",
    "main",
    "open_checked_runtime",
    "progress",
    "require_tenant",
    "serve_runtime",
]

COMMANDS_GROUP = "lendkit.commands"
# Where the kit's `make demo` creates its tenant, relative to the kit's folder.
DEMO_TENANT_DIR = "demo-tenant"
# Key in click's ctx.meta: one entry-point scan per invocation, however many lookups.
_META_KEY = "lendkit.command_entry_points"


def command_entry_points(enabled: Iterable[str]) -> dict[str, tuple[EntryPoint, ...]]:
    """The commands available, by name: the kernel's and those of the ``enabled`` plugins.

    A plugin's commands are the ``lendkit.commands`` entry points of the
    distribution holding its ``lendkit`` entry point. A kernel command's name
    stays the kernel's; a name two plugins claim maps to both claims, and
    running or listing it is a start-up error (:meth:`CommandGroup.get_command`).
    """
    from lendkit.entry_point_scan import normal_name, scan

    enabled = set(enabled)
    found = scan({lendkit.PROJECT_NAME, COMMANDS_GROUP})  # one scan; both groups from it
    kernel = normal_name(lendkit.PROJECT_NAME)
    plugins = {
        ep.distribution for ep in found if ep.group == lendkit.PROJECT_NAME and ep.name in enabled
    }
    kernel_commands: dict[str, tuple[EntryPoint, ...]] = {}
    plugin_commands: dict[str, tuple[EntryPoint, ...]] = {}
    for ep in found:
        if ep.group != COMMANDS_GROUP:
            continue
        if ep.distribution == kernel:
            kernel_commands[ep.name] = (ep,)
        elif ep.distribution in plugins:
            plugin_commands[ep.name] = (*plugin_commands.get(ep.name, ()), ep)
    return {**plugin_commands, **kernel_commands}


class CommandGroup(click.Group):
    """The root group: commands come from entry points and are imported on first use."""

    def _entry_points(self, ctx: click.Context) -> dict[str, tuple[EntryPoint, ...]]:
        found: dict[str, tuple[EntryPoint, ...]] | None = ctx.meta.get(_META_KEY)
        if found is None:
            found = ctx.meta[_META_KEY] = command_entry_points(enabled_plugins())
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._entry_points(ctx)})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        claims = self._entry_points(ctx).get(cmd_name)
        return None if claims is None else _load(cmd_name, claims)


def _load(name: str, claims: tuple[EntryPoint, ...]) -> click.Command:
    """Import the one command claiming ``name``; a :class:`StartupError` otherwise."""
    if len(claims) > 1:
        owners = " and ".join(f"{ep.distribution} ({ep.value})" for ep in claims)
        raise StartupError(f"command {name!r} is claimed by {owners}: disable one of those plugins")
    (ep,) = claims
    try:
        command = ep.load()
    except Exception as exc:  # a plugin's module that does not import
        raise StartupError(f"command {name!r} ({ep.value}) failed to import: {exc}") from exc
    if not isinstance(command, click.Command):
        raise StartupError(f"command {name!r}: {ep.value} is not a click command")
    return command


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(lendkit.__version__, prog_name="lendkit")
def cli() -> None:
    """lendkit: run and operate a lending tenant."""


@cli.command()
def version() -> None:
    """Print the kernel version and the enabled plugins' versions."""
    from lendkit.plugins import installed_plugins
    from lendkit.settings import load_settings

    click.echo(f"lendkit {lendkit.__version__}")
    enabled = set(load_settings().plugins.enabled)
    for name, plugin in sorted(installed_plugins().items()):
        if name in enabled:
            click.echo(f"{name} ({plugin.distribution}) {plugin.version}")


def require_tenant() -> Path:
    """The tenant's ``lendkit.toml``; a :class:`StartupError` saying where one is if absent.

    Checked before anything is opened, so a command run in the wrong folder
    creates no database, key or log there.
    """
    path = config_path()
    if path.is_file():
        return path
    if os.environ.get(CONFIG_ENV):
        raise StartupError(
            f"${CONFIG_ENV} names {path}, which does not exist: point it at a tenant's lendkit.toml"
        )
    demo = Path.cwd() / DEMO_TENANT_DIR / "lendkit.toml"
    if demo.is_file():
        hint = f"the demo tenant is in ./{DEMO_TENANT_DIR}: `cd {DEMO_TENANT_DIR}` or set {CONFIG_ENV}={demo}"
    else:
        hint = (
            f"run the command in a tenant's folder, or set {CONFIG_ENV}=/path/to/lendkit.toml "
            "(`make demo` in the kit creates a demo tenant)"
        )
    raise StartupError(f"no lendkit.toml in {Path.cwd()}: {hint}")


def open_checked_runtime(*, migrated: bool = False) -> Runtime:
    """The tenant's runtime, its database reachable (and migrated, if asked)."""
    from lendkit import migrate
    from lendkit.runtime import open_runtime

    require_tenant()
    runtime = open_runtime()
    runtime.check_database()
    if migrated:
        stale = [
            s.branch
            for s in migrate.status(runtime.engine, runtime.settings.plugins.enabled)
            if s.enabled and not s.up_to_date
        ]
        if stale:
            raise StartupError(
                f"migrations pending for {', '.join(stale)}: run `lendkit db upgrade`"
            )
    return runtime


@contextmanager
def progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for a long command; yields the ``(done, total)`` callback that moves it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeRemainingColumn()) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def serve_runtime(runtime: Runtime, host: str, port: int, *, with_worker: bool) -> None:
    """Serve the web app (and optionally the worker in a thread) until interrupted."""
    import threading

    import uvicorn

    from lendkit.logs import configure_logging
    from lendkit.web.app import create_app
    from lendkit.worker import run_worker

    configure_logging()
    app = create_app(runtime)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(runtime, stop), name="worker", daemon=True)
    if with_worker:
        worker.start()
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    finally:
        stop.set()
        if with_worker:
            worker.join(timeout=10)


def main() -> None:
    try:
        cli.main(prog_name="lendkit")
    except StartupError as exc:
        click.echo(f"lendkit: error: {exc.detail}", err=True)
        sys.exit(2)
    except LendkitError as exc:
        click.echo(f"lendkit: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)
