"""What the registration hooks return: permissions, compliance items, jobs, key wrappers, pages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import pluggy
    from sqlalchemy.orm import Session, sessionmaker

    from lendkit.types.callers import Caller

__all__ = [
    "ComplianceItem",
    "Job",
    "JobContext",
    "KeyWrapper",
    "Page",
    "PageArea",
    "Permission",
]


@dataclass(frozen=True, slots=True)
class ComplianceItem:
    """One enabled function mapped to the regulation clauses it serves.

    The tenant's compliance package lists one row per item, so a plugin that
    adds a function documents it here.
    """

    function: str
    clauses: tuple[str, ...]
    description: str


@dataclass(frozen=True, slots=True)
class Permission:
    """A permission a plugin's routes declare, and the staff roles that hold it.

    ``name`` is what routes put in ``opt={"permission": name}``, e.g.
    ``"marketing.view"``; admins hold every permission anyway.
    """

    name: str
    description: str
    roles: tuple[str, ...] = ()


class JobContext(Protocol):
    """What a job is handed to do its work, and all it may rely on.

    ``sessions`` opens read-write transactions (``with ctx.sessions.begin()
    as session:``), ``read_sessions`` read-only ones that never wait for
    writers; ``settings`` is the tenant's :class:`lendkit.settings.Settings`
    (typed loosely here, since this module imports nothing from the kernel;
    a plugin's own section is ``settings.plugins.options[<name>]``);
    ``hook`` calls the enabled plugins' hooks; ``today()`` is the business
    date in China; ``log`` is the job's logger (personal data is masked by
    the kit's formatter). The worker passes its runtime, which has all of it.
    """

    @property
    def sessions(self) -> sessionmaker[Session]: ...

    @property
    def read_sessions(self) -> sessionmaker[Session]: ...

    @property
    def settings(self) -> Any: ...

    @property
    def hook(self) -> pluggy.HookRelay: ...

    @property
    def log(self) -> logging.Logger: ...

    def today(self) -> date: ...


@dataclass(frozen=True, slots=True)
class Job:
    """Work the worker runs once every ``every``, however many workers run.

    Time is cut into slots of ``every``, counted from midnight China time
    (so a daily job's slot is the business date, an hourly one's the hour);
    the first worker to claim a slot in the database runs it, the others skip
    it (see :mod:`lendkit.job_runs`), never while the job's previous slot
    still runs. ``run`` gets a :class:`JobContext` (session factories,
    settings, the business date, the plugin hooks, a logger) and the current
    time. A job opens its own transactions and must be idempotent: after a
    worker crashes, another runs the slot again.

    ``every_worker=True`` is for a queue drainer that claims its own rows
    (``FOR UPDATE SKIP LOCKED``, as the outbox and payment orders do): every
    worker then runs it each ``every`` and they share the work.
    """

    name: str
    every: timedelta
    run: Callable[[JobContext, datetime], object]
    every_worker: bool = False


class KeyWrapper(Protocol):
    """Wraps and unwraps data keys: the local master key, or a KMS/HSM plugin.

    ``purpose`` is ``"field"`` or ``"index"`` and must be bound into the
    wrapping, so a key of one purpose cannot be passed off as the other.
    """

    @property
    def name(self) -> str: ...

    def wrap(self, purpose: str, data_key: bytes) -> bytes: ...

    def unwrap(self, purpose: str, wrapped: bytes) -> bytes: ...


# -- Pages (the register_pages hook) ------------------------------------------

PageArea = Literal["console", "h5"]


@dataclass(frozen=True, slots=True)
class Page:
    """A page a plugin adds to the staff console or to the borrower's H5 site.

    ``area`` is ``console`` (staff; ``path`` under ``/console/<plugin>/``) or
    ``h5`` (borrowers; under ``/h5/<plugin>/``). ``template`` names a Jinja2
    template of the plugin's (see ``register_templates``) holding the page's
    content only: the kit renders it inside its own layout, with the menu of
    the area. ``permission`` guards the page and decides who sees its menu
    entry: for the console one the plugin registers (or a kernel one), for H5
    ``borrower.self``. ``label_zh`` and ``label_en`` are the
    menu entry's text; ``menu=False`` leaves the page out of the menu.
    ``context``, if given, is called with the request's read-only database
    session and the :data:`lendkit.callers.Caller`, and returns what the
    template needs; read kernel data through :mod:`lendkit.views` only.
    """

    area: PageArea
    path: str
    template: str
    label_zh: str
    label_en: str
    permission: str
    menu: bool = True
    context: Callable[[Session, Caller], Mapping[str, Any]] | None = field(
        default=None, compare=False
    )
