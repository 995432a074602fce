"""The ``lendkit`` command-line tool.

Commands find the tenant through ``$LENDKIT_CONFIG`` or ``./lendkit.toml``;
a command that needs a tenant refuses to run without that file (it says
where a tenant is, and creates nothing in the current folder). Plugins add
commands through the ``register_commands`` hook. A
:class:`~lendkit.errors.StartupError` (no tenant, bad settings, unknown
plugin, unreachable database, pending migrations) prints one line and
exits with code 2; any other :class:`~lendkit.errors.LendkitError` (a
payment channel that does not answer, say) prints its code and one line
and exits with code 1. Never a traceback for what the operator can fix.
"""

from __future__ import annotations

import os
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import click

import lendkit
from lendkit import migrate, outbox
from lendkit.errors import LendkitError, StartupError
from lendkit.plugins import installed_plugins, make_plugin_manager
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import CONFIG_ENV, config_path, load_settings

if TYPE_CHECKING:
    from lendkit.models import JobRun

__all__ = ["cli", "main", "require_tenant"]

# Where the kit's `make demo` creates its tenant, relative to the kit's folder.
DEMO_TENANT_DIR = "demo-tenant"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(lendkit.__version__, prog_name="lendkit")
def cli() -> None:
    """lendkit: run and operate a lending tenant."""


@cli.command()
def version() -> None:
    """Print the kernel version and the enabled plugins' versions."""
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


def serve_runtime(runtime: Runtime, host: str, port: int, *, with_worker: bool) -> None:
    """Serve the web app (and optionally the worker in a thread) until interrupted."""
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


@cli.command()
@click.option("--host", help="Address to bind (default: server.host).")
@click.option("--port", type=int, help="Port to bind (default: server.port).")
@click.option("--with-worker", is_flag=True, help="Also run the worker in this process.")
def serve(host: str | None, port: int | None, with_worker: bool) -> None:
    """Serve the web app (migrations must be current)."""
    from lendkit.logs import configure_logging

    configure_logging()  # before the runtime opens: its start-up warnings are logs too
    runtime = open_checked_runtime(migrated=True)
    server = runtime.settings.server
    serve_runtime(runtime, host or server.host, port or server.port, with_worker=with_worker)


@cli.command()
def worker() -> None:
    """Run the outbox dispatcher and scheduled jobs until Ctrl-C."""
    from lendkit.logs import configure_logging
    from lendkit.worker import run_worker

    configure_logging()
    stop = threading.Event()
    try:
        run_worker(open_checked_runtime(migrated=True), stop)
    except KeyboardInterrupt:
        stop.set()


@cli.command()
def jobs() -> None:
    """List the scheduled jobs: schedule, last run, outcome and next slot.

    One line per job; the times are China time. Exits 1 when the last run of
    any job failed, so a monitor can run it.
    """
    from lendkit import job_runs, registry
    from lendkit.db import utcnow

    runtime = open_checked_runtime(migrated=True)
    now = utcnow()
    with runtime.read_sessions() as session:
        last = job_runs.last_runs(session)
    failed = False
    for job in registry.jobs(runtime.pm):
        every = f"every {_duration(job.every)}"
        if job.every_worker:
            click.echo(f"{job.name:<24} {every:<14} runs in every worker")
            continue
        run = last.get(job.name)
        slot = job_runs.slot_of(job.every, now)
        next_slot = slot + job.every if run is not None and run.slot >= slot else slot
        failed = failed or (run is not None and run.outcome == "failed")
        click.echo(
            f"{job.name:<24} {every:<14} last {_last_run(run, now):<40} "
            f"next {'now' if next_slot <= now else _china(next_slot)}"
        )
    if failed:
        sys.exit(1)


def _duration(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{every.total_seconds():g}s"


def _china(moment: datetime) -> str:
    return moment.astimezone(timezone(timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")


def _last_run(run: JobRun | None, now: datetime) -> str:
    if run is None:
        return "-"
    when = _china(run.slot)
    if run.outcome == "failed":
        return f"{when} failed: {' '.join((run.error or '').split())}"
    if run.outcome is not None:
        return f"{when} {run.outcome}"
    if run.lease_until < now:
        return f"{when} stalled ({run.worker} stopped; the next worker takes over)"
    return f"{when} running ({run.worker})"


@cli.group()
def db() -> None:
    """Database schema: upgrade and inspect migrations."""


def _print_status(statuses: list[migrate.BranchStatus]) -> None:
    for s in statuses:
        state = "current" if s.up_to_date else "behind" if s.current else "not installed"
        flag = "enabled" if s.enabled else "disabled"
        click.echo(f"{s.branch:<20} {s.current or '-':<12} head {s.head:<12} {state} ({flag})")


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply the heads of the kernel and every enabled plugin."""
    runtime = open_checked_runtime()
    _print_status(runtime.upgrade())


@db.command("current")
def db_current() -> None:
    """Show each branch's revision in the database and its head."""
    runtime = open_checked_runtime()
    _print_status(migrate.status(runtime.engine, runtime.settings.plugins.enabled))


@cli.group()
def plugins() -> None:
    """List, enable and disable plugins of this tenant."""


@plugins.command("list")
def plugins_list() -> None:
    """Installed plugins and whether this tenant enables them."""
    enabled = set(load_settings().plugins.enabled)
    found = installed_plugins()
    for name, plugin in sorted(found.items()):
        state = "enabled" if name in enabled else "disabled"
        click.echo(f"{name:<20} {plugin.version:<10} {state:<9} {plugin.distribution}")
    for name in sorted(enabled - found.keys()):
        click.echo(f"{name:<20} {'?':<10} {'missing':<9} enabled but not installed")


def _audit_plugin_change(runtime: Runtime, action: str, names: tuple[str, ...]) -> None:
    from lendkit import audit

    with runtime.sessions.begin() as session:
        for name in names:
            audit.record(session, "cli", action, f"plugin:{name}")


@plugins.command("enable")
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
def plugins_enable(names: tuple[str, ...]) -> None:
    """Enable NAME...: update lendkit.toml and apply their migrations.

    A plugin that needs others (its REQUIRES) is refused unless they are
    enabled already or named too.
    """
    from lendkit.plugins import check_requirements
    from lendkit.tenant_config import set_plugin_enabled

    require_tenant()
    installed = installed_plugins()
    for name in names:
        if name not in installed:
            raise StartupError(
                f"unknown plugin {name!r} (installed: {', '.join(sorted(installed)) or 'none'})"
            )
    check_requirements([*load_settings().plugins.enabled, *names], installed)
    changed = [set_plugin_enabled(config_path(), name, enabled=True) for name in names]
    runtime = open_checked_runtime()
    runtime.upgrade()
    _audit_plugin_change(runtime, "plugins.enable", names)
    for name, was_changed in zip(names, changed, strict=True):
        click.echo(
            f"{name}: {'enabled' if was_changed else 'already enabled'}; "
            "restart the server to mount its routes"
        )


@plugins.command("disable")
@click.argument("names", metavar="NAME...", nargs=-1, required=True)
def plugins_disable(names: tuple[str, ...]) -> None:
    """Disable NAME...: update lendkit.toml; their tables and rows are kept.

    Refused while another enabled plugin needs one of them.
    """
    from lendkit.plugins import check_can_disable
    from lendkit.tenant_config import set_plugin_enabled

    require_tenant()
    check_can_disable(names, load_settings().plugins.enabled, installed_plugins())
    _audit_plugin_change(open_checked_runtime(), "plugins.disable", names)
    for name in names:
        changed = set_plugin_enabled(config_path(), name, enabled=False)
        click.echo(
            f"{name}: {'disabled' if changed else 'already disabled'}; its data is kept; "
            "restart the server"
        )


@cli.group("outbox")
def outbox_group() -> None:
    """Inspect and requeue event deliveries."""


@outbox_group.command("dead")
def outbox_dead() -> None:
    """List dead-lettered deliveries (plugins that kept failing)."""
    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions.begin() as session:
        rows = outbox.dead_letters(session)
        for d in rows:
            click.echo(
                f"{d.id:>6} event {d.event_id:>6} {d.event.topic:<24} {d.subscriber:<16} "
                f"attempts {d.attempts}: {d.last_error}"
            )
        click.echo(f"{len(rows)} dead deliveries")


@outbox_group.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "retry_all", is_flag=True, help="Requeue every dead delivery.")
def outbox_retry(ids: tuple[int, ...], retry_all: bool) -> None:
    """Requeue dead deliveries IDS (or --all) for a fresh set of attempts."""
    if not ids and not retry_all:
        raise click.UsageError("give delivery ids or --all")
    runtime = open_checked_runtime(migrated=True)
    with runtime.sessions.begin() as session:
        count = outbox.requeue(session, None if retry_all else list(ids))
    click.echo(f"requeued {count} deliveries")


def _register_plugin_commands() -> None:
    try:
        pm = make_plugin_manager(load_settings().plugins.enabled)
    except StartupError:
        # Bad settings: offer the built-in commands; those that need the
        # tenant report the problem themselves.
        try:
            pm = make_plugin_manager([])
        except StartupError:
            return
    pm.hook.register_commands(cli=cli)


def main() -> None:
    _register_plugin_commands()
    try:
        cli.main(prog_name="lendkit")
    except StartupError as exc:
        click.echo(f"lendkit: error: {exc.detail}", err=True)
        sys.exit(2)
    except LendkitError as exc:
        click.echo(f"lendkit: {exc.code}: {exc.detail}", err=True)
        sys.exit(1)
