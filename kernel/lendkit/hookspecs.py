"""The plugin author's manual: every hook a lendkit plugin can implement.

A plugin is an installable distribution with an entry point in the group
``lendkit`` that names a module (or object) holding hook implementations::

    [project.entry-points.lendkit]
    marketing = "lendkit_marketing.plugin"

Implement a hook by writing a function with the hook's name, marked with
``@lendkit.hookimpl``; you may accept any subset of the arguments below.
The tenant enables plugins by name in ``lendkit.toml``; an installed plugin
that is not enabled is blocked and never imported.

Three kinds of hook, and when they run:

* **Registration hooks** are called once at start-up, outside any
  transaction. They return data; results of all plugins are combined.
* **Decision hooks** run inside the request's database transaction and
  return data (later issues add them: risk signals, credit reports, ...).
  If one raises, the decision fails safe: it never approves.
* **Event hooks** are delivered *after commit* from the transactional
  outbox: retried with back-off, at least once, so make them idempotent with
  ``event.id``. A failing event hook never rolls back the change that
  raised the event; after the last retry the delivery goes to the
  dead-letter list (``lendkit outbox dead``).

Database migrations are not a hook: ship an Alembic branch in
``<your package>/migrations/versions`` with ``branch_labels = ("<plugin
name>",)`` and ``depends_on = "kernel"``. The host finds it without
importing your plugin, so a disabled plugin keeps its tables and history.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

from lendkit import PROJECT_NAME

if TYPE_CHECKING:
    from collections.abc import Mapping

    import click
    from litestar.types import ControllerRouterHandler
    from sqlalchemy.orm import Session

    from lendkit.settings import Settings
    from lendkit.types import (
        ComplianceItem,
        Event,
        Job,
        KeyWrapper,
        PaymentChannel,
        Permission,
        ProductSpec,
    )

__all__ = ["hookspec"]

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# -- Registration hooks: called once at start-up --------------------------


@hookspec
def register_routes() -> list[ControllerRouterHandler]:
    """Return Litestar route handlers, controllers or routers to mount.

    Called once when the web app is built. Results of all plugins are
    mounted side by side; two plugins claiming the same path is a start-up
    error. Every handler must declare its permission in ``opt`` (see the
    data-protection guide); paths should start with ``/api/<plugin>/`` or
    ``/<plugin>/``. A disabled plugin's routes are not mounted, so they
    answer 404.
    """


@hookspec
def register_templates() -> list[Path]:
    """Return folders of Jinja2 templates this plugin ships.

    Called once when the template environment is built. Templates are looked
    up tenant first, then plugins (in registration order), then the kit's
    defaults, so a plugin may override a kit template by using its name and
    a tenant may override either.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add commands to the ``lendkit`` command-line tool.

    Called once when the CLI starts, with the root :class:`click.Group`;
    add commands with ``cli.add_command`` or ``@cli.command()``. Returns
    nothing. Command names must not clash with the kernel's.
    """


@hookspec
def register_permissions() -> list[Permission]:
    """Return the permissions this plugin's routes declare, with their roles.

    Called once when the web app is built; results of all plugins are added
    to the kernel's permission matrix (``lendkit.auth.permissions``), so a
    plugin never edits the kernel to guard its routes. Names must be new (a
    clash with the kernel's or another plugin's is a start-up error) and
    roles must be staff roles; admins hold every permission. A route naming
    a permission nobody registered is refused with 403.
    """


@hookspec
def register_products() -> list[ProductSpec]:
    """Return the loan products this plugin offers.

    Called once at start-up; results of all plugins are combined. Product
    codes are unique across the tenant: a duplicate code is a start-up
    error.
    """


@hookspec
def compliance_items() -> list[ComplianceItem]:
    """Return the functions this plugin adds, mapped to regulation clauses.

    Called when the compliance package is generated; results of all plugins
    are combined, one row per item, so the package always lists what the
    tenant has enabled.
    """


@hookspec
def register_jobs() -> list[Job]:
    """Return scheduled jobs for the worker (``lendkit worker``).

    Called once when the worker starts. Each job runs every ``job.every``
    in the worker process, outside any request, one job at a time; it opens
    its own transactions and must be idempotent, because after a crash it
    runs again. A job that raises is logged and tried at its next turn.
    Job names are unique across plugins.
    """


@hookspec
def register_channels(settings: Settings) -> list[PaymentChannel]:
    """Return the payment channels (gateways) this plugin provides.

    Called once per process, the first time the kernel needs a channel (the
    payment worker, the callback route, reconciliation), outside any
    transaction; results of all plugins are combined and channel names are
    unique across the tenant (a duplicate is a start-up error). Read your
    options from ``settings.payments.channels[<name>]``.

    Each object implements :class:`lendkit.types.PaymentChannel`: ``disburse``
    and ``collect`` submit a :class:`~lendkit.types.PaymentInstruction`
    (idempotent by its ``order_no``), ``query`` asks for an order's result,
    ``parse_callback`` verifies and parses an asynchronous result posted to
    ``POST /api/channels/<name>/callback``, ``statement`` fetches the daily
    statement for reconciliation. The kernel calls them outside any database
    transaction and after the order has committed, so a slow gateway never
    holds locks; results are applied in a transaction of their own, checked
    against the order's state, so repeated or late results never post twice.
    Personal data reaches the channel only inside the instruction: never log
    it, never put it in an exception message.
    """


@hookspec
def seed_demo(session: Session, settings: Settings) -> None:
    """Add this plugin's demo data to a freshly created demo tenant.

    Called once by ``lendkit demo`` inside the seeding transaction, after the
    kernel has seeded its own data; the transaction commits after every
    plugin returns. Returns nothing. Never called on a real tenant.
    """


@hookspec(firstresult=True)
def key_wrapper(settings: Settings) -> KeyWrapper | None:
    """Return the wrapper of data keys: an external KMS or HSM.

    Called once when the tenant's key ring is first used; the first non-None
    result wins (plugins are asked before the built-in local master key,
    which reads ``[keys]`` from the settings). Data keys are wrapped by it
    when created and unwrapped when loaded; its ``name`` is stored beside
    each wrapped key. Changing wrappers needs a key rotation.
    """


@hookspec(firstresult=True)
def send_notification(
    channel: str,
    to: str,
    template: str,
    params: Mapping[str, str],
    session: Session,
    settings: Settings,
) -> str | None:
    """Deliver a message to one person now: an SMS sign-in code, for example.

    Called synchronously while the kernel's transaction is open (not through
    the outbox: a one-time code must never be stored in clear to be sent
    later), and never retried: delivery is at most once, and the person asks
    again. Plugins are asked in turn; return the vendor's message id once you
    have handed the message over, or None to let the next plugin try. The
    built-in sandbox answers last while ``[auth] notification_sandbox`` is
    on: it keeps the message SM4-encrypted in ``notification_sandbox`` for
    the demo to show. Raise to refuse: the caller's transaction rolls back
    and the person gets 503 ``notification_failed``.

    ``channel`` is ``"sms"``; ``to`` an 11-digit mobile number (personal
    data: mask it in logs with ``lendkit.masking.mask_phone``); ``template``
    a kernel template name such as ``"otp_login"`` to map to your vendor's
    registered template; ``params`` its values, which may be a one-time
    code: never log or store them in clear. ``session`` is the caller's
    transaction, for bookkeeping rows that commit with it.
    """


# -- Event hooks: delivered after commit from the outbox -------------------


@hookspec
def on_loan_event(event: Event, session: Session) -> None:
    """React to a committed step of the borrower and loan lifecycle.

    Delivered after commit by the outbox dispatcher in the worker; topics
    look like ``borrower.registered`` or ``loan.disbursed`` and
    ``event.payload`` carries ids and amounts, never personal data. Each
    plugin's delivery is tracked on its own, so one failing plugin never
    delays or repeats another's.

    ``session`` is the delivery's own transaction: rows you write there
    commit together with the delivery being marked done, so database effects
    happen exactly once. Side effects outside the database (an SMS, an
    upload) may repeat after a crash: make them idempotent with ``event.id``.
    Raise to ask for a retry with exponential back-off; your writes are then
    rolled back, and after the last attempt the delivery is dead-lettered
    (``lendkit outbox dead``). Returns nothing.
    """


@hookspec
def on_payment_event(event: Event, session: Session) -> None:
    """React to a committed step of a payment order or of reconciliation.

    Delivered after commit by the outbox dispatcher, like ``on_loan_event``.
    Topics: ``payment.disbursed`` (the borrower has the money),
    ``payment.collected`` (a repayment reached the channel and sits in the
    borrower's suspense account: the loan lifecycle allocates it to the
    loan), ``payment.failed`` (the order failed, or reconciliation reversed
    it: ``status`` says which; a disbursement's funds are back in the pools) and ``payment.reconciled`` (one channel's
    statement for one business date was matched; the payload counts the
    exceptions). ``event.payload`` carries the order number, loan id, kind,
    channel and amount as a string, never the payee's name or card.

    ``session`` is the delivery's own transaction; raise to ask for a retry.
    Deliveries are at least once: make side effects idempotent with
    ``event.id``. Returns nothing.
    """
