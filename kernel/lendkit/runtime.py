"""A running tenant: its settings, plugins and database, opened once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pluggy
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lendkit.db import make_engine, make_sessionmaker
from lendkit.errors import StartupError
from lendkit.masking import mask_text
from lendkit.plugins import make_plugin_manager
from lendkit.settings import Settings, load_settings

__all__ = ["Runtime", "open_runtime"]


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    pm: pluggy.PluginManager
    engine: Engine
    sessions: sessionmaker[Session]

    def check_database(self) -> None:
        """Raise :class:`StartupError` with one clear line if the database is unreachable."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            url = self.engine.url.render_as_string(hide_password=True)
            raise StartupError(
                f"database.url = {url!r}: cannot connect: {mask_text(reason)}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(settings: Settings | None = None, config: Path | None = None) -> Runtime:
    """Load settings (unless given), plugins and the database engine."""
    settings = settings or load_settings(config)
    pm = make_plugin_manager(settings.plugins.enabled)
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    return Runtime(settings, pm, engine, make_sessionmaker(engine))
