"""Schema migrations on real databases: the kernel's branch plus one per plugin."""

from __future__ import annotations

import importlib
from decimal import Decimal
from pathlib import Path

import lendkit
import lendkit_marketing
import lendkit_sms_sandbox
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from lendkit import migrate
from lendkit.db import Base, make_engine, utcnow
from lendkit.errors import StartupError
from lendkit_marketing.models import Coupon
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

KERNEL_TABLES = {"outbox_event", "outbox_delivery"}
MARKETING_TABLES = {"marketing_coupon"}
SMS_TABLES = {"sms_sandbox_message"}


def import_every_model_module():
    """Import each module that declares a table, so no model escapes the comparison."""
    for package in (lendkit, lendkit_marketing, lendkit_sms_sandbox):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if "migrations" in parts or "__tablename__" not in path.read_text(encoding="utf-8"):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            importlib.import_module(".".join((package.__name__, *parts)))


def describe(difference):
    """An autogenerate difference in short: ``("add_table", "auth_session")``."""
    if isinstance(difference, list):  # column changes come as lists
        return [describe(d) for d in difference]
    kind, *subjects = difference
    return (kind, *(getattr(subject, "name", subject) for subject in subjects))


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def by_branch(statuses):
    return {s.branch: s for s in statuses}


def tables(engine):
    return set(inspect(engine).get_table_names())


def versions(engine):
    with engine.connect() as connection:
        return set(connection.scalars(text("SELECT version_num FROM alembic_version")))


def add_coupon(engine, code="KEEP-ME"):
    with Session(engine) as session, session.begin():
        session.add(Coupon(code=code, amount=Decimal("12.50"), created_at=utcnow()))


def coupon_codes(engine):
    with Session(engine) as session:
        return session.scalars(select(Coupon.code).order_by(Coupon.id)).all()


# -- upgrade and status ----------------------------------------------------


def test_status_of_an_empty_database_shows_every_branch_not_installed(engine):
    statuses = by_branch(migrate.status(engine, ["marketing"]))

    assert set(statuses) >= {"kernel", "marketing"}  # every installed plugin is listed
    assert all(s.current is None and not s.up_to_date for s in statuses.values())
    assert statuses["kernel"].enabled
    assert statuses["marketing"].enabled


def test_upgrade_brings_an_empty_database_to_the_kernel_and_enabled_plugin_heads(engine):
    statuses = by_branch(migrate.upgrade(engine, ["marketing"]))

    for status in (statuses["kernel"], statuses["marketing"]):
        assert status.enabled
        assert status.current == status.head
        assert status.up_to_date
    assert tables(engine) >= KERNEL_TABLES | MARKETING_TABLES
    assert statuses["marketing"].head in versions(engine)
    assert by_branch(migrate.status(engine, ["marketing"])) == statuses


def test_upgrade_without_plugins_leaves_plugin_branches_uninstalled(engine):
    statuses = by_branch(migrate.upgrade(engine, []))

    assert statuses["kernel"].up_to_date
    assert (statuses["marketing"].current, statuses["marketing"].enabled) == (None, False)
    assert tables(engine) >= KERNEL_TABLES
    assert not MARKETING_TABLES & tables(engine)


def test_upgrade_is_idempotent_and_keeps_the_data(engine):
    first = migrate.upgrade(engine, ["marketing"])
    add_coupon(engine)
    heads = versions(engine)

    assert migrate.upgrade(engine, ["marketing"]) == first
    assert migrate.upgrade(engine, ["marketing"]) == first
    assert versions(engine) == heads
    assert coupon_codes(engine) == ["KEEP-ME"]


def test_an_enabled_plugin_that_is_not_installed_is_ignored_by_upgrade(engine):
    statuses = by_branch(migrate.upgrade(engine, ["marketing", "not-installed"]))

    assert "not-installed" not in statuses
    assert statuses["kernel"].up_to_date
    assert statuses["marketing"].up_to_date


# -- the ORM metadata matches the migrations --------------------------------


def test_the_models_match_the_migrations(engine):
    import_every_model_module()
    migrate.upgrade(engine, ["marketing", "sms-sandbox"])

    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    assert [describe(d) for d in differences] == []
    assert set(Base.metadata.tables) >= KERNEL_TABLES | MARKETING_TABLES | SMS_TABLES


def test_the_kernel_keeps_no_sms_table_and_its_downgrade_brings_the_old_one_back(engine):
    old = "notification_sandbox"  # the kernel's own message store up to k0012
    migrate.upgrade(engine, [])
    assert old not in tables(engine)
    assert not SMS_TABLES & tables(engine)  # the stand-in's table comes with the plugin only

    migrate.downgrade(engine, "kernel", "k0012")
    assert old in tables(engine)
    migrate.upgrade(engine, ["sms-sandbox"])
    assert old not in tables(engine)
    assert tables(engine) >= SMS_TABLES


# -- disabled plugins --------------------------------------------------------


def test_a_disabled_plugin_keeps_its_tables_rows_and_revision(engine):
    enabled = by_branch(migrate.upgrade(engine, ["marketing"]))
    add_coupon(engine)

    statuses = by_branch(migrate.upgrade(engine, []))  # marketing disabled: no error

    marketing = statuses["marketing"]
    assert not marketing.enabled
    assert marketing.up_to_date
    assert marketing.current == enabled["marketing"].head
    assert marketing.head in versions(engine)
    assert statuses["kernel"].up_to_date
    assert tables(engine) >= MARKETING_TABLES
    assert coupon_codes(engine) == ["KEEP-ME"]
    assert by_branch(migrate.status(engine, [])) == statuses


def test_re_enabling_a_plugin_finds_its_old_rows(engine):
    migrate.upgrade(engine, ["marketing"])
    add_coupon(engine)
    migrate.upgrade(engine, [])

    statuses = by_branch(migrate.upgrade(engine, ["marketing"]))

    assert statuses["marketing"].enabled
    assert statuses["marketing"].up_to_date
    add_coupon(engine, "AFTER")
    assert coupon_codes(engine) == ["KEEP-ME", "AFTER"]


def test_a_kernel_behind_is_upgraded_while_a_disabled_plugin_keeps_its_revision(engine):
    heads = by_branch(migrate.upgrade(engine, ["marketing"]))
    add_coupon(engine)
    migrate.downgrade(engine, "kernel", "-1")  # as if the kernel were just updated

    behind = by_branch(migrate.status(engine, []))
    assert behind["kernel"].current not in (None, heads["kernel"].head)
    assert not behind["kernel"].up_to_date

    statuses = by_branch(migrate.upgrade(engine, []))  # marketing disabled meanwhile
    assert statuses["kernel"].up_to_date
    assert statuses["marketing"].current == heads["marketing"].head
    assert not statuses["marketing"].enabled
    assert coupon_codes(engine) == ["KEEP-ME"]


# -- downgrade -------------------------------------------------------------


def test_a_plugin_branch_downgrades_to_base_and_upgrades_again(engine):
    migrate.upgrade(engine, ["marketing"])
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox_event (topic, payload, created_at, fanned_out)"
                " VALUES ('loan.disbursed', '{}', CURRENT_TIMESTAMP, false)"
            )
        )

    migrate.downgrade(engine, "marketing", "base")

    statuses = by_branch(migrate.status(engine, ["marketing"]))
    assert statuses["marketing"].current is None
    assert statuses["kernel"].up_to_date  # the kernel it depends on stays
    assert not MARKETING_TABLES & tables(engine)
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM outbox_event")) == 1

    statuses = by_branch(migrate.upgrade(engine, ["marketing"]))
    assert statuses["marketing"].up_to_date
    assert tables(engine) >= MARKETING_TABLES
    assert coupon_codes(engine) == []


def test_downgrading_an_unknown_branch_is_refused(engine):
    migrate.upgrade(engine, [])

    with pytest.raises(StartupError, match="no-such-plugin"):
        migrate.downgrade(engine, "no-such-plugin")


# -- CLI -------------------------------------------------------------------


def status_lines(output):
    """``{branch: (current, head, state)}`` from ``lendkit db`` output."""
    rows = {}
    for line in output.splitlines():
        branch, current, _, head, *state = line.split()
        rows[branch] = (current, head, " ".join(state))
    return rows


def test_cli_db_upgrade_and_current_print_each_branch(make_tenant, lendkit_cli, database_url):
    make_tenant(plugins=["marketing"])

    before = lendkit_cli("db", "current")
    assert before.returncode == 0, before.stderr
    rows = status_lines(before.stdout)
    assert rows["kernel"][2] == "not installed (enabled)"
    assert rows["marketing"][2] == "not installed (enabled)"

    upgraded = lendkit_cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    rows = status_lines(upgraded.stdout)
    for branch in ("kernel", "marketing"):
        current, head, state = rows[branch]
        assert (current, state) == (head, "current (enabled)")

    engine = make_engine(database_url)
    try:
        expected = by_branch(migrate.status(engine, ["marketing"]))
    finally:
        engine.dispose()
    assert {b: (s.current or "-", s.head) for b, s in expected.items()} == {
        b: (current, head) for b, (current, head, _) in rows.items()
    }

    current = lendkit_cli("db", "current")
    assert current.returncode == 0, current.stderr
    assert current.stdout == upgraded.stdout


def test_cli_db_current_reports_a_disabled_plugin_still_current(make_tenant, lendkit_cli):
    make_tenant(plugins=["marketing"])
    assert lendkit_cli("db", "upgrade").returncode == 0
    make_tenant(plugins=[])

    current = lendkit_cli("db", "current")

    assert current.returncode == 0, current.stderr
    rows = status_lines(current.stdout)
    assert rows["kernel"][2] == "current (enabled)"
    assert rows["marketing"][2] == "current (disabled)"
    assert rows["marketing"][0] == rows["marketing"][1]
