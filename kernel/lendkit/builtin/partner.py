"""The partner kit's generator, behind ``lendkit plugins new`` (:mod:`lendkit.plugins_cli`).

Renders the Copier template shipped in the kernel package
(``lendkit/partner_template``) into a new plugin distribution: an entry
point, hook implementations, a migration branch, a template, tests that use
:mod:`lendkit.testing` (with the conformance check) and a README.
"""

from __future__ import annotations

import re
from pathlib import Path

import lendkit
from lendkit.errors import StartupError

__all__ = ["PLUGIN_NAME", "TEMPLATE_DIR", "new_plugin"]

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "partner_template"
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
