"""A plugin's own settings: ``[plugins.options.<name>]``, validated by the plugin's model.

A plugin declares what it takes as a pydantic model in a module-level
``OPTIONS`` attribute (like ``EVENT_TOPICS``)::

    class Options(BaseModel):
        url: str = "http://127.0.0.1:8765"
        timeout: float = Field(10, gt=0)

    OPTIONS = Options

and reads them with :func:`plugin_options`. When the runtime opens, every
enabled plugin's section is validated (:func:`check_plugin_options`): a bad
value, an unknown key, or a section for a plugin that declares no model
stops start-up with one :class:`~lendkit.errors.StartupError` line naming the
key. A disabled plugin's section is kept, unread.
"""

from __future__ import annotations

from typing import TypeVar

import pluggy
from pydantic import BaseModel, ValidationError

from lendkit.errors import StartupError
from lendkit.settings import Settings

__all__ = ["check_plugin_options", "plugin_options"]

M = TypeVar("M", bound=BaseModel)


def plugin_options(settings: Settings, name: str, model: type[M]) -> M:
    """Plugin ``name``'s options as ``model``: the section validated at start-up,
    or (settings built by hand, in a test) validated now."""
    value = settings.plugins.options.get(name, {})
    return value if isinstance(value, model) else model.model_validate(value)


def _model_of(pm: pluggy.PluginManager, name: str) -> type[BaseModel] | None:
    model = getattr(pm.get_plugin(name), "OPTIONS", None)
    if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise StartupError(f"plugin {name!r}: OPTIONS must be a pydantic model class")
    return model


def check_plugin_options(settings: Settings, pm: pluggy.PluginManager) -> None:
    """Validate each enabled plugin's section with its ``OPTIONS`` model, in place."""
    sections = settings.plugins.options
    for name in settings.plugins.enabled:
        model = _model_of(pm, name)
        if model is None:
            if name in sections:
                raise StartupError(
                    f"plugins.options.{name}: the {name!r} plugin takes no options; "
                    "delete this section"
                )
            continue
        try:
            # The settings are frozen; their table of raw sections gives way to the models.
            sections[name] = plugin_options(settings, name, model)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            key = ".".join(["plugins", "options", name, *(str(p) for p in error["loc"])])
            if error["type"] == "extra_forbidden":
                raise StartupError(f"unknown setting {key!r}") from None
            if error["type"] == "missing":
                raise StartupError(f"{key}: required setting is missing") from None
            message = str(error["msg"]).removeprefix("Value error, ")
            raise StartupError(f"{key} = {error['input']!r}: {message}") from None
