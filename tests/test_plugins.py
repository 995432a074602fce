"""The plugin host, and `lendkit plugins` switching a plugin off and on for a real tenant."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from importlib.metadata import EntryPoint
from pathlib import Path

import httpx
import lendkit.plugins
import pytest
import tomlkit
import uvicorn
from lendkit import migrate, outbox
from lendkit.auth.testing import staff_headers
from lendkit.errors import StartupError
from lendkit.plugins import (
    BUILTIN_PLUGINS,
    installed_plugins,
    make_plugin_manager,
    plugin_names,
)
from lendkit.runtime import Runtime, open_runtime
from lendkit.tenant_config import set_plugin_enabled
from lendkit.testing import free_port
from lendkit.web.app import create_app
from sqlalchemy import Numeric, bindparam, inspect, text

# -- Which plugins are registered ------------------------------------------

# The workspace's plugins (each plugin issue adds one; the tests name them all).
INSTALLED = ", ".join(sorted(installed_plugins()))


def test_builtins_are_registered_and_count_as_no_plugin():
    pm = make_plugin_manager([])

    for name in BUILTIN_PLUGINS:
        assert pm.get_plugin(name) is not None
        assert not pm.is_blocked(name)
    assert plugin_names(pm) == []


def test_an_enabled_plugin_is_registered_from_its_entry_point():
    pm = make_plugin_manager(["marketing"])

    assert pm.get_plugin("marketing").__name__ == "lendkit_marketing.plugin"
    assert plugin_names(pm) == ["marketing"]
    implementers = [impl.plugin_name for impl in pm.hook.on_loan_event.get_hookimpls()]
    assert "marketing" in implementers


def test_installed_plugins_describe_the_distribution_without_importing_it():
    marketing = installed_plugins()["marketing"]

    assert marketing.distribution == "lendkit-marketing"
    assert marketing.version == "0.1.0"
    assert marketing.package == "lendkit_marketing"
    migrations = marketing.migrations_dir()
    assert migrations is not None
    assert migrations.parts[-3:] == ("lendkit_marketing", "migrations", "versions")


def test_an_installed_but_disabled_plugin_is_blocked_and_never_imported():
    script = textwrap.dedent(
        """
        import json, sys
        from lendkit.plugins import make_plugin_manager, plugin_names
        pm = make_plugin_manager([])
        print(json.dumps({
            "imported": sorted(m for m in sys.modules if m.startswith("lendkit_marketing")),
            "blocked": pm.is_blocked("marketing"),
            "names": plugin_names(pm),
        }))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )

    assert json.loads(result.stdout) == {"imported": [], "blocked": True, "names": []}


def test_an_unknown_enabled_name_is_a_startup_error():
    with pytest.raises(StartupError) as caught:
        make_plugin_manager(["nosuch"])

    assert caught.value.detail == (
        f"plugins.enabled: unknown plugin 'nosuch' (installed: {INSTALLED})"
    )


# -- Broken plugins stop start-up with one clear line ----------------------


@pytest.fixture
def extra_entry_points(monkeypatch, tmp_path):
    """Install fake plugins: ``add(name, value)``; ``module(name, source)`` writes a module."""
    extra: list[EntryPoint] = []
    real = lendkit.plugins.entry_points
    modules: list[str] = []
    monkeypatch.setattr(lendkit.plugins, "entry_points", lambda group: [*real(group=group), *extra])
    monkeypatch.syspath_prepend(str(tmp_path))

    class Installer:
        def add(self, name: str, value: str) -> None:
            extra.append(EntryPoint(name=name, value=value, group="lendkit"))

        def module(self, name: str, source: str) -> str:
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            importlib.invalidate_caches()
            modules.append(name)
            return name

    yield Installer()
    for name in modules:
        sys.modules.pop(name, None)


def startup_error(enabled: list[str]) -> str:
    with pytest.raises(StartupError) as caught:
        make_plugin_manager(enabled)
    assert "\n" not in caught.value.detail
    return caught.value.detail


def test_a_misspelled_hook_fails_the_pending_check_naming_it(extra_entry_points):
    extra_entry_points.add(
        "typo",
        extra_entry_points.module(
            "lendkit_test_typo",
            """
            import lendkit

            @lendkit.hookimpl
            def on_loan_evnt(event, session):
                pass
            """,
        ),
    )

    detail = startup_error(["typo"])

    assert detail.startswith("plugin 'typo': unknown hook 'on_loan_evnt' in plugin")


def test_a_retired_hook_says_what_replaced_it(extra_entry_points):
    extra_entry_points.add(
        "oldcli",
        extra_entry_points.module(
            "lendkit_test_oldcli",
            """
            import lendkit

            @lendkit.hookimpl
            def register_commands(cli):
                pass
            """,
        ),
    )

    detail = startup_error(["oldcli"])

    assert detail.startswith("plugin 'oldcli': unknown hook 'register_commands' in plugin")
    assert (
        'register_commands is retired: declare each command as an entry point in the group "lendkit.commands"'
        in detail
    )


def test_a_misspelled_hook_of_a_disabled_plugin_is_never_loaded(extra_entry_points):
    extra_entry_points.add(
        "typo",
        extra_entry_points.module(
            "lendkit_test_typo_off",
            """
            import lendkit

            @lendkit.hookimpl
            def on_loan_evnt(event, session):
                pass
            """,
        ),
    )

    pm = make_plugin_manager([])

    assert pm.is_blocked("typo")
    assert "lendkit_test_typo_off" not in sys.modules


def test_a_hook_argument_that_the_spec_lacks_is_one_line_naming_it(extra_entry_points):
    extra_entry_points.add(
        "badargs",
        extra_entry_points.module(
            "lendkit_test_badargs",
            """
            import lendkit

            @lendkit.hookimpl
            def on_loan_event(evnt):
                pass
            """,
        ),
    )

    detail = startup_error(["badargs"])

    assert detail.startswith("plugin 'badargs': Plugin 'badargs' for hook 'on_loan_event'")
    assert "{'evnt'}" in detail


def test_a_plugin_that_fails_to_import_is_a_startup_error(extra_entry_points):
    extra_entry_points.add("broken", "lendkit_test_no_such_module")

    assert startup_error(["broken"]) == (
        "plugin 'broken' failed to import: No module named 'lendkit_test_no_such_module'"
    )


def test_two_names_for_one_plugin_module_is_a_duplicate_registration(extra_entry_points):
    extra_entry_points.add("promo", "lendkit_marketing.plugin")

    detail = startup_error(["marketing", "promo"])

    assert detail.startswith(
        "cannot register plugin 'promo': Plugin already registered under a different name"
    )


def test_registering_one_name_twice_is_a_clear_startup_error():
    pm = make_plugin_manager([])

    with pytest.raises(StartupError) as caught:
        lendkit.plugins._register(pm, object(), "lendkit.web.health")

    assert caught.value.detail.startswith(
        "cannot register plugin 'lendkit.web.health': Plugin name already registered"
    )
    assert "\n" not in caught.value.detail


def test_two_distributions_claiming_one_name_is_a_startup_error(extra_entry_points):
    extra_entry_points.add("marketing", "someone_elses.plugin")

    with pytest.raises(StartupError) as caught:
        installed_plugins()

    assert caught.value.detail == (
        "plugin name 'marketing' is claimed twice: by lendkit-marketing "
        "(lendkit_marketing.plugin) and by ? (someone_elses.plugin); uninstall one"
    )


def test_one_name_claimed_twice_without_distribution_metadata_is_still_refused(
    extra_entry_points,
):
    extra_entry_points.add("twin", "first.plugin")
    extra_entry_points.add("twin", "second.plugin")

    with pytest.raises(StartupError, match="plugin name 'twin' is claimed twice"):
        make_plugin_manager([])


# -- Editing lendkit.toml keeps the operator's layout ----------------------

COMMENTED = """\
# Tenant settings: edited by hand and by `lendkit plugins`.
[plugins]
# Which plugins run.
enabled = []  # none yet

[server]
port = 8001  # behind the proxy
"""


def test_enabling_and_disabling_keep_comments_and_other_sections(tmp_path):
    config = tmp_path / "lendkit.toml"
    config.write_text(COMMENTED, encoding="utf-8")

    assert set_plugin_enabled(config, "marketing", enabled=True) is True
    assert config.read_text(encoding="utf-8") == COMMENTED.replace(
        "enabled = []", 'enabled = ["marketing"]'
    )
    assert set_plugin_enabled(config, "marketing", enabled=True) is False
    assert set_plugin_enabled(config, "marketing", enabled=False) is True
    assert config.read_text(encoding="utf-8") == COMMENTED


def test_disabling_keeps_the_other_entries_and_their_comments(tmp_path):
    config = tmp_path / "lendkit.toml"
    config.write_text(
        '[plugins]\nenabled = [\n  "a",  # first\n  "marketing",  # second\n  "b",\n]\n',
        encoding="utf-8",
    )

    set_plugin_enabled(config, "marketing", enabled=False)

    assert config.read_text(encoding="utf-8") == (
        '[plugins]\nenabled = [\n  "a",  # first\n  "b",\n]\n'
    )


def test_enabling_in_an_inline_plugins_table_keeps_the_plugins_already_there(tmp_path):
    config = tmp_path / "lendkit.toml"
    config.write_text('plugins = { enabled = ["a"] }  # inline\n', encoding="utf-8")

    set_plugin_enabled(config, "marketing", enabled=True)

    assert tomlkit.parse(config.read_text(encoding="utf-8"))["plugins"]["enabled"] == [
        "a",
        "marketing",
    ]


def test_disabling_a_name_listed_twice_removes_every_occurrence(tmp_path):
    config = tmp_path / "lendkit.toml"
    config.write_text('[plugins]\nenabled = ["marketing", "b", "marketing"]\n', encoding="utf-8")

    assert set_plugin_enabled(config, "marketing", enabled=False) is True

    assert tomlkit.parse(config.read_text(encoding="utf-8"))["plugins"]["enabled"] == ["b"]


def test_enabling_without_a_file_creates_one(tmp_path):
    config = tmp_path / "lendkit.toml"

    assert set_plugin_enabled(config, "marketing", enabled=False) is False
    assert not config.exists()
    assert set_plugin_enabled(config, "marketing", enabled=True) is True
    assert tomlkit.parse(config.read_text(encoding="utf-8"))["plugins"]["enabled"] == ["marketing"]


# -- `lendkit plugins` on a running tenant (real server, real subprocess) --


@contextmanager
def serving(runtime: Runtime) -> Iterator[str]:
    """Serve ``runtime`` on a free loopback port, as `lendkit serve` would; yield its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "server thread died"
        assert time.monotonic() < deadline, "server did not start in time"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def restarted() -> Iterator[Runtime]:
    """The tenant opened afresh from its lendkit.toml, as after a process restart."""
    runtime = open_runtime()
    try:
        yield runtime
    finally:
        runtime.close()


def add_coupon(runtime: Runtime, code: str, amount: str) -> None:
    with runtime.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO marketing_coupon (code, amount, created_at) "
                "VALUES (:code, :amount, CURRENT_TIMESTAMP)"
            ).bindparams(bindparam("amount", type_=Numeric(12, 2))),
            {"code": code, "amount": Decimal(amount)},
        )


def coupon_codes(runtime: Runtime) -> list[str]:
    with runtime.engine.connect() as connection:
        return list(connection.scalars(text("SELECT code FROM marketing_coupon ORDER BY id")).all())


def register_borrower(runtime: Runtime, borrower_id: int) -> int:
    """Publish ``borrower.registered``, run one dispatcher pass; return the event id."""
    with runtime.sessions.begin() as session:
        event_id = outbox.publish(session, "borrower.registered", {"borrower_id": borrower_id}).id
    outbox.dispatch(runtime.sessions, runtime.pm, runtime.settings.outbox)
    return event_id


def deliveries_to(runtime: Runtime, event_id: int) -> list[tuple[str, str]]:
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT subscriber, status FROM outbox_delivery WHERE event_id = :id"),
            {"id": event_id},
        )
        return [(row.subscriber, row.status) for row in rows]


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


def enabled_in(config: Path) -> list[str]:
    return list(tomlkit.parse(config.read_text(encoding="utf-8"))["plugins"]["enabled"])


@pytest.fixture
def marketing_tenant(make_tenant):
    """A tenant with marketing enabled; request it before ``runtime``."""
    return make_tenant(plugins=["marketing"])


@pytest.fixture
def kernel_tenant(make_tenant):
    """A tenant with no plugin enabled; request it before ``runtime``."""
    return make_tenant(plugins=[])


def test_disable_unmounts_routes_and_stops_the_hook_but_keeps_table_and_rows(
    marketing_tenant, runtime, lendkit_cli
):
    config = marketing_tenant
    add_coupon(runtime, "SPRING-50", "50.00")
    staff = staff_headers(runtime)
    with serving(runtime) as url:
        assert httpx.get(f"{url}/api/marketing/coupons", headers=staff).status_code == 200
        result = lendkit_cli("plugins", "disable", "marketing")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "marketing: disabled; its data is kept; restart the server\n"
    assert enabled_in(config) == []

    with restarted() as tenant:
        with serving(tenant) as url:
            assert_not_found(httpx.get(f"{url}/api/marketing/coupons", headers=staff))
            assert_not_found(httpx.get(f"{url}/marketing/", headers=staff))
        event_id = register_borrower(tenant, borrower_id=7)

        assert deliveries_to(tenant, event_id) == []  # the hook never ran
        assert coupon_codes(tenant) == ["SPRING-50"]  # no welcome coupon; old row kept
        assert inspect(tenant.engine).has_table("marketing_coupon")
        branch = {s.branch: s for s in migrate.status(tenant.engine, [])}["marketing"]
        assert (branch.current, branch.enabled) == ("m0001", False)


def test_enable_after_disable_brings_back_routes_with_the_old_rows_and_the_hook(
    marketing_tenant, runtime, lendkit_cli
):
    config = marketing_tenant
    add_coupon(runtime, "SPRING-50", "50.00")
    staff = staff_headers(runtime)
    set_plugin_enabled(config, "marketing", enabled=False)  # as `plugins disable` leaves it

    result = lendkit_cli("plugins", "enable", "marketing")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "marketing: enabled; restart the server to mount its routes\n"
    assert enabled_in(config) == ["marketing"]
    with restarted() as tenant:
        with serving(tenant) as url:
            coupons = httpx.get(f"{url}/api/marketing/coupons", headers=staff)
            page = httpx.get(f"{url}/marketing/", headers=staff)
        assert coupons.status_code == 200
        assert coupons.json()["items"] == [
            {"code": "SPRING-50", "amount": "50.00", "borrower_id": None}
        ]
        assert page.status_code == 200
        assert "SPRING-50" in page.text

        event_id = register_borrower(tenant, borrower_id=7)

        assert deliveries_to(tenant, event_id) == [("marketing", "delivered")]
        assert coupon_codes(tenant) == ["SPRING-50", f"WELCOME-{event_id}"]


def test_enable_applies_the_plugins_migrations_and_keeps_comments(
    kernel_tenant, runtime, database_url, lendkit_cli
):
    config = kernel_tenant  # the kernel is migrated by `runtime`, marketing is not
    assert not inspect(runtime.engine).has_table("marketing_coupon")
    original = f'# Acme tenant\n[database]\nurl = "{database_url}"  # primary\n\n[plugins]\nenabled = []  # chosen by ops\n'
    config.write_text(original, encoding="utf-8")

    result = lendkit_cli("plugins", "enable", "marketing")

    assert result.returncode == 0, result.stderr
    assert config.read_text(encoding="utf-8") == original.replace(
        "enabled = []", 'enabled = ["marketing"]'
    )
    assert inspect(runtime.engine).has_table("marketing_coupon")
    branch = {s.branch: s for s in migrate.status(runtime.engine, ["marketing"])}["marketing"]
    assert branch.up_to_date


def test_enable_of_an_unknown_plugin_is_one_line_exit_2_and_changes_nothing(tmp_path, lendkit_cli):
    config = tmp_path / "lendkit.toml"
    config.write_text("# untouched\n[plugins]\nenabled = []\n", encoding="utf-8")

    result = lendkit_cli("plugins", "enable", "nosuch", env={"LENDKIT_CONFIG": str(config)})

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"lendkit: error: unknown plugin 'nosuch' (installed: {INSTALLED})\n"
    assert config.read_text(encoding="utf-8") == "# untouched\n[plugins]\nenabled = []\n"


def test_plugins_list_shows_installed_enabled_and_missing_plugins(tmp_path, lendkit_cli):
    config = tmp_path / "lendkit.toml"
    config.write_text('[plugins]\nenabled = ["marketing", "ghost"]\n', encoding="utf-8")

    result = lendkit_cli("plugins", "list", env={"LENDKIT_CONFIG": str(config)})

    assert result.returncode == 0, result.stderr
    assert [line.split() for line in result.stdout.splitlines()] == [
        [name, "0.1.0", "enabled" if name == "marketing" else "disabled", f"lendkit-{name}"]
        for name in INSTALLED.split(", ")
    ] + [["ghost", "?", "missing", "enabled", "but", "not", "installed"]]
