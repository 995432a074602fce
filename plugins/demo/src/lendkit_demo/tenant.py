"""The demo tenant's folder: its ``lendkit.toml``, created once, and its seeded database.

The settings enable this plugin and the stand-ins of every vendor the demo
needs, among those installed; :func:`point_at` rewrites the addresses that
follow the ports the demo serves on (the tenant's public base URL, where
gateways call back, and the payment gateway's URL), keeping the operator's
other edits.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import tomlkit
from lendkit.crypto.keys import write_master_key
from lendkit.errors import StartupError
from lendkit.plugins import installed_plugins
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import CONFIG_ENV, Settings
from tomlkit.items import Table

from lendkit_demo import book, products, signins

__all__ = ["demo_plugins", "point_at", "prepare", "settings_text"]

# Stand-ins the demo cannot do without (this distribution depends on them).
REQUIRED = ("marketing", "identity-sandbox", "bureau-sandbox", "channel-sandbox", "esign-sandbox")
# Stand-ins the demo enables when installed.
OPTIONAL = ("sms-sandbox",)
# The options section of the payment gateway stand-in: [plugins.options.channel-sandbox].
CHANNEL_PLUGIN = "channel-sandbox"
SEEDED_MARKER = "demo-seeded"  # in the data folder, once seeding has finished

HEADER = """\
# Demo tenant created by `lendkit-demo` (make demo). Edit freely; delete the folder to start over.
# The *-sandbox plugins stand in for real vendors: NOT real checks, NO real money (demo only).
# identity-sandbox: identity verifier; bureau-sandbox: credit reports; channel-sandbox:
# payment gateway; esign-sandbox: e-signature vendor, NOT legally valid; sms-sandbox: keeps
# text messages instead of sending them. `lendkit-demo` starts the gateways with the app and
# rewrites the two URLs below to the ports it serves on.
"""


def demo_plugins() -> list[str]:
    """The plugins the demo tenant enables: this one and the stand-ins installed."""
    installed = installed_plugins()
    return ["demo", *REQUIRED, *(name for name in OPTIONAL if name in installed)]


def settings_text(app_url: str, gateway_url: str) -> str:
    """The demo tenant's ``lendkit.toml``."""
    document = tomlkit.parse(HEADER)
    document["data_dir"] = "data"
    document["tenant"] = {
        "name": "Demo Microfinance Co.",
        "slug": "demo",
        "display_name": "演示小贷",
        "primary_colour": "#b4232a",
    }
    plugins = tomlkit.table()
    enabled = tomlkit.array()
    enabled.extend(demo_plugins())
    enabled.multiline(True)
    plugins["enabled"] = enabled
    channel = tomlkit.table()
    channel["url"] = gateway_url
    channel["merchant_id"] = "LENDKIT-DEMO"
    channel["secret"] = "sandbox-demo-secret"  # the stand-in's documented key  # noqa: S105
    options = tomlkit.table(is_super_table=True)
    options[CHANNEL_PLUGIN] = channel
    plugins["options"] = options
    document["plugins"] = plugins
    payments = tomlkit.table()
    payments["callback_base_url"] = app_url
    document["payments"] = payments
    document["products"] = products.as_settings()  # seeded on the first start
    return tomlkit.dumps(document)


def point_at(config: Path, app_url: str, gateway_url: str) -> bool:
    """Rewrite the callback and gateway URLs in ``config``; whether anything changed."""
    text = config.read_text(encoding="utf-8")
    document = tomlkit.parse(text)
    payments = document.setdefault("payments", tomlkit.table())
    assert isinstance(payments, Table)
    payments["callback_base_url"] = app_url
    plugins = document.setdefault("plugins", tomlkit.table())
    assert isinstance(plugins, Table)
    options = plugins.setdefault("options", tomlkit.table(is_super_table=True))
    assert isinstance(options, Table)
    # A demo tenant made before channel options moved: carry its section over.
    retired = payments.pop("channels", {}).get("sandbox")
    channel = options.setdefault(CHANNEL_PLUGIN, retired or tomlkit.table())
    assert isinstance(channel, Table)
    channel["url"] = gateway_url
    changed = tomlkit.dumps(document)
    if changed == text:
        return False
    config.write_text(changed, encoding="utf-8")
    return True


def prepare(
    directory: Path,
    app_url: str,
    gateway_url: str,
    echo: Callable[[str], object] = print,
    days: int = book.DAYS,
) -> tuple[Runtime, bool]:
    """Create ``directory`` with settings and a seeded database unless it exists.

    Returns the tenant's runtime and whether it was seeded now. The
    database is seeded once: a rerun only points the URLs at the ports.
    """
    directory = directory.resolve()
    config = directory / "lendkit.toml"
    if not config.exists():
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(settings_text(app_url, gateway_url), encoding="utf-8")
        echo(f"created demo tenant in {directory}")
    else:
        point_at(config, app_url, gateway_url)
    os.environ[CONFIG_ENV] = str(config)
    runtime = open_runtime()
    _master_key(runtime.settings, echo)
    data = runtime.settings.path(runtime.settings.data_dir)
    seeded = data / SEEDED_MARKER
    fresh = not (data / "lendkit.db").exists()
    if not fresh and not seeded.exists():
        runtime.close()
        raise StartupError(
            f"the demo tenant in {directory} was not seeded to the end (interrupted?): "
            "delete the folder and run again"
        )
    runtime.upgrade()
    if fresh:
        with runtime.sessions.begin() as session:
            runtime.pm.hook.seed_demo(session=session, settings=runtime.settings)
        book.simulate(runtime, echo, days)
        signins.onboard(runtime)
        seeded.write_text("seeded by lendkit-demo\n", encoding="utf-8")
        echo("seeded demo data")
    return runtime, fresh


def _master_key(settings: Settings, echo: Callable[[str], object]) -> None:
    master_key = settings.keys.master_key_file
    if master_key and not settings.path(master_key).exists():
        write_master_key(settings.path(master_key))
        echo(f"created a demo master key in {settings.path(master_key)}")
