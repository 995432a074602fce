"""The partner kit's generator, behind ``lendkit plugins new`` (:mod:`lendkit.plugins_cli`).

Renders the partner kit's Copier template into a new plugin distribution:
an entry point, hook implementations, a migration branch, a template, tests
that use :mod:`lendkit.testing` (with the conformance check) and a README.
The template lives beside ``tenant_template/`` in the kit's repository
(``partner_template/``); the kernel wheel carries it as
``lendkit/partner_template`` (a hatch ``force-include``), so an installed kit
finds it too.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import lendkit
from lendkit.errors import StartupError

__all__ = ["PLUGIN_NAME", "TEMPLATE_DIR", "new_plugin", "template_dir"]


def template_dir() -> Path:
    """The partner template: inside the installed package, else the repository's."""
    packaged = resources.files("lendkit") / "partner_template"
    if packaged.is_dir():
        # A wheel is installed unzipped, so the package's resources are files.
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "partner_template"


TEMPLATE_DIR = template_dir()
# Entry-point name, Alembic branch label, table prefix and package suffix at once.
PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


def new_plugin(
    name: str,
    dest: Path,
    *,
    data: dict[str, object] | None = None,
    quiet: bool = True,
) -> Path:
    """Generate the plugin ``name`` into ``dest`` (must not exist); return ``dest``."""
    if not PLUGIN_NAME.fullmatch(name):
        raise StartupError(
            f"plugin name {name!r}: use 2-31 lower-case letters, digits and underscores, "
            "starting with a letter (it names the entry point, the package and the tables)"
        )
    if dest.exists() and any(dest.iterdir()):
        raise StartupError(f"{dest} exists and is not empty; choose another --dest")
    try:
        import copier
    except ImportError:
        raise StartupError(
            "copier is not installed in this environment: install it (`uv add --dev copier`) "
            f"or run `uvx copier copy {TEMPLATE_DIR} {dest}`"
        ) from None
    release = re.match(r"\d+(\.\d+)*", lendkit.__version__)  # no local or dev parts
    answers: dict[str, object] = {
        "plugin_name": name,
        "kit_version": release.group(0) if release else "0.1.0",
    }
    answers.update(data or {})
    copier.run_copy(
        str(TEMPLATE_DIR),
        str(dest),
        data=answers,
        defaults=True,
        quiet=quiet,
        unsafe=False,  # the partner template runs no tasks
    )
    return dest
