"""The demo tenant: created and seeded on SQLite on first run, reused after."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lendkit.crypto.keys import write_master_key
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import CONFIG_ENV

__all__ = ["DEMO_CONFIG", "prepare_demo"]

DEMO_CONFIG = """\
# Demo tenant created by `lendkit demo`. Edit freely; delete the folder to start over.
data_dir = "data"

[tenant]
name = "Demo Microfinance Co."
slug = "demo"
display_name = "演示小贷"
primary_colour = "#b4232a"

[plugins]
enabled = ["marketing"]
"""


def prepare_demo(directory: Path, echo: Callable[[str], object] = print) -> Runtime:
    """Create ``directory`` with settings and a seeded database unless it exists."""
    directory = directory.resolve()
    config = directory / "lendkit.toml"
    if not config.exists():
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(DEMO_CONFIG, encoding="utf-8")
        echo(f"created demo tenant in {directory}")
    os.environ[CONFIG_ENV] = str(config)
    runtime = open_runtime()
    master_key = runtime.settings.keys.master_key_file
    if master_key and not runtime.settings.path(master_key).exists():
        write_master_key(runtime.settings.path(master_key))
        echo(f"created a demo master key in {runtime.settings.path(master_key)}")
    fresh = not (runtime.settings.path(runtime.settings.data_dir) / "lendkit.db").exists()
    runtime.upgrade()
    if fresh:
        with runtime.sessions.begin() as session:
            runtime.pm.hook.seed_demo(session=session, settings=runtime.settings)
        echo("seeded demo data")
    return runtime
