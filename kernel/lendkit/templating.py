"""Jinja2 templates looked up tenant first, then plugins, then the kit."""

from __future__ import annotations

from pathlib import Path

import pluggy
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from lendkit import registry
from lendkit.branding import logo_url
from lendkit.plugins import stand_in_warning, stand_ins
from lendkit.settings import Settings

__all__ = ["kit_templates_dir", "make_environment"]


def kit_templates_dir() -> Path:
    """The kit's default templates: packaged in the wheel, or the source tree's."""
    packaged = Path(__file__).parent / "_kit_templates"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "templates"


def make_environment(settings: Settings, pm: pluggy.PluginManager) -> Environment:
    search = [settings.path("templates"), *registry.template_dirs(pm), kit_templates_dir()]
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(p) for p in search if p.is_dir()]),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["tenant"] = settings.tenant
    env.globals["logo_url"] = logo_url(settings)
    # base.html shows it on every page while a stand-in plugin is enabled.
    found = stand_ins(pm)
    env.globals["stand_in_warning"] = stand_in_warning(found) if found else None
    return env
