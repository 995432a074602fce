"""A running tenant: its settings, plugins and database, opened once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType

import pluggy
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from lendkit import migrate, registry
from lendkit.clearing.accounts import register_plugin_kinds
from lendkit.clock import china_today
from lendkit.crypto.keys import KeyRing, ensure_keys
from lendkit.crypto.sm4 import BACKENDS
from lendkit.db import make_engine, make_sessionmaker
from lendkit.errors import StartupError
from lendkit.masking import mask_text
from lendkit.plugin_options import check_plugin_options
from lendkit.plugins import make_plugin_manager, stand_in_warning, stand_ins
from lendkit.settings import Settings, load_settings
from lendkit.types import JobContext

__all__ = ["Runtime", "open_runtime", "runtime_of"]

log = logging.getLogger(__name__)
_JOBS_LOG = logging.getLogger("lendkit.jobs")


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    pm: pluggy.PluginManager
    engine: Engine
    sessions: sessionmaker[Session]
    keyring: KeyRing
    # For reads only (GET requests, reports): on SQLite they never wait for writers.
    read_sessions: sessionmaker[Session]
    # Enabled plugins that only pretend to be vendors: name -> what they stand in for.
    stand_ins: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    # What makes a runtime a lendkit.types.JobContext, the whole of what a job is given.
    @property
    def hook(self) -> pluggy.HookRelay:
        return self.pm.hook

    @property
    def log(self) -> logging.Logger:
        return _JOBS_LOG

    def today(self) -> date:
        return china_today()

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

    def upgrade(self) -> list[migrate.BranchStatus]:
        """Migrate the kernel and enabled plugins; create the first data keys; seed the
        ``[[products]]`` of the settings that are absent, and refuse a product code
        both a plugin and the products table claim."""
        from lendkit.lifecycle import product_changes  # the lifecycle needs a runtime's parts

        statuses = migrate.upgrade(self.engine, self.settings.plugins.enabled)
        with self.engine.begin() as connection:
            ensure_keys(connection, self.keyring.wrapper)
        with self.sessions.begin() as session:
            product_changes.seed(session, self.pm, self.settings)
            product_changes.check_codes(session, self.pm)
        return statuses

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(settings: Settings | None = None, config: Path | None = None) -> Runtime:
    """Load settings (unless given), plugins and the database engine.

    Every process of a tenant (server, worker, each CLI command) opens its
    runtime here, so this is where enabled stand-in plugins are announced.
    """
    settings = settings or load_settings(config)
    pm = make_plugin_manager(settings.plugins.enabled)
    check_plugin_options(settings, pm)
    found = stand_ins(pm)
    if found:
        log.warning(stand_in_warning(found), extra={"stand_ins": sorted(found)})
    # The plugins' ledger accounts join this process's chart (lendkit.ledger posts to them).
    register_plugin_kinds(registry.account_kinds(pm))
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    keyring = KeyRing(
        wrapper_factory=lambda: pm.hook.key_wrapper(settings=settings),
        backend=BACKENDS[settings.crypto.backend],
    )
    return Runtime(
        settings,
        pm,
        engine,
        make_sessionmaker(engine, keyring),
        keyring,
        make_sessionmaker(engine, keyring, read_only=True),
        MappingProxyType(found),
    )


def runtime_of(context: JobContext) -> Runtime:
    """The runtime behind a job's context, for the kernel's own jobs.

    They call kernel functions that take the whole runtime (the plugin
    manager, the key ring); the worker hands every job its runtime as the
    context. A plugin's job never needs this: the context is all it gets.
    """
    if not isinstance(context, Runtime):
        raise TypeError(f"a kernel job needs the tenant's runtime, not {type(context).__name__}")
    return context
