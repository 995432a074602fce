"""The ``lendkit plugins`` commands: list, enable and disable a tenant's plugins, or make one.

``lendkit plugins new`` renders the partner kit's template
(:func:`lendkit.builtin.partner.new_plugin`) into a new plugin distribution.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from lendkit.errors import StartupError

if TYPE_CHECKING:
    from lendkit.runtime import Runtime

__all__ = ["plugins"]


@click.group()
def plugins() -> None:
    """List, enable and disable plugins of this tenant."""


@plugins.command("list")
def plugins_list() -> None:
    """Installed plugins and whether this tenant enables them."""
    from lendkit.plugins import installed_plugins
    from lendkit.settings import load_settings

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
    from lendkit.cli import open_checked_runtime, require_tenant
    from lendkit.config_file import config_path
    from lendkit.plugins import check_requirements, installed_plugins
    from lendkit.settings import load_settings
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
    from lendkit.cli import open_checked_runtime, require_tenant
    from lendkit.config_file import config_path
    from lendkit.plugins import check_can_disable, installed_plugins
    from lendkit.settings import load_settings
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


@plugins.command("new")
@click.argument("name")
@click.option(
    "--dest",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to create (default: ./lendkit-NAME with - for _).",
)
@click.option("--description", default=None, help="One line saying what the plugin does.")
@click.option("--author", default=None, help="Author or company, for the package metadata.")
def plugins_new(name: str, dest: Path | None, description: str | None, author: str | None) -> None:
    """Create a new plugin distribution NAME from the partner template."""
    from lendkit.builtin.partner import new_plugin

    target = dest or Path(f"lendkit-{name.replace('_', '-')}")
    data: dict[str, object] = {}
    if description:
        data["description"] = description
    if author:
        data["author"] = author
    new_plugin(name, target, data=data)
    click.echo(f"created plugin {name!r} in {target}")
    click.echo("  next: install it into a tenant (from the tenant: uv add --editable PATH),")
    click.echo(
        f"        then `lendkit plugins enable {name}` and run its tests (uv run pytest PATH)"
    )
