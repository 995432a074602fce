"""The partner kit and plugins in a running tenant: declared dependencies between
plugins, the admin API's list of plugins (and its refusal to switch them), `lendkit plugins new`, the
conformance check, and a generated plugin installed into a generated tenant,
switched on and off."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from lendkit.audit import AuditEntry
from lendkit.auth.testing import staff_headers
from lendkit.builtin import partner
from lendkit.builtin.partner import TEMPLATE_DIR, new_plugin
from lendkit.errors import StartupError
from lendkit.plugins import (
    InstalledPlugin,
    check_can_disable,
    check_requirements,
    installed_plugins,
    make_plugin_manager,
    stand_ins,
)
from lendkit.testing import check_plugin
from sqlalchemy import inspect, select

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


flow = _load("lendkit_bench_tenant_template", ROOT / "bench" / "tenant_template.py")


def write_plugin(site: Path, name: str, source: str, *, module: str = "plugin") -> Path:
    """An installed plugin distribution in ``site``: package, dist-info, entry point."""
    package = site / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[lendkit]\n{name} = {name}.{module}\n")
    return site


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path for fake plugin distributions (found by entry points)."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in [m for m in sys.modules if m.split(".")[0] in {"needy", "loopy", "posey"}]:
        sys.modules.pop(name)
    importlib.invalidate_caches()


NEEDY = """
    import lendkit

    # Needs the coupons of marketing.
    REQUIRES = ("marketing",)


    @lendkit.hookimpl
    def compliance_items():
        return []
"""


# -- Declared dependencies ---------------------------------------------------


def test_requires_is_read_from_the_source_without_importing_the_plugin(site):
    write_plugin(site, "needy", NEEDY)
    importlib.invalidate_caches()

    plugin = installed_plugins()["needy"]

    assert plugin.requires() == ("marketing",)
    assert "needy" not in sys.modules
    assert "needy.plugin" not in sys.modules


def test_a_plugin_without_requires_needs_nothing():
    assert installed_plugins()["marketing"].requires() == ()


def test_requires_that_is_not_a_literal_is_one_clear_line(site):
    write_plugin(site, "needy", "NEEDS = ['marketing']\nREQUIRES = tuple(NEEDS)\n")
    importlib.invalidate_caches()

    with pytest.raises(StartupError) as caught:
        installed_plugins()["needy"].requires()

    assert caught.value.detail == (
        "needy.plugin: REQUIRES must be a literal tuple of plugin names, "
        'e.g. REQUIRES = ("marketing",)'
    )


def test_a_stand_in_is_read_from_the_source_without_importing_it(site):
    write_plugin(site, "posey", 'import lendkit\n\nSTAND_IN = "nothing is checked"\n')
    importlib.invalidate_caches()

    assert installed_plugins()["posey"].stand_in() == "nothing is checked"
    assert "posey.plugin" not in sys.modules
    assert installed_plugins()["marketing"].stand_in() is None
    assert installed_plugins()["sms-sandbox"].stand_in() == "SMS are kept for the demo, never sent"


def test_stand_ins_lists_exactly_the_enabled_plugins_that_declare_one(site):
    write_plugin(site, "posey", 'import lendkit\n\nSTAND_IN = "nothing is checked"\n')
    importlib.invalidate_caches()

    pm = make_plugin_manager(["marketing", "posey", "sms-sandbox"])

    assert stand_ins(pm) == {
        "posey": "nothing is checked",
        "sms-sandbox": "SMS are kept for the demo, never sent",
    }
    assert stand_ins(make_plugin_manager(["marketing"])) == {}


@pytest.mark.parametrize("declared", ["STAND_IN = True", 'STAND_IN = "  "', "STAND_IN = str(1)"])
def test_a_stand_in_that_is_not_a_literal_string_is_one_clear_line(site, declared):
    write_plugin(site, "posey", f"import lendkit\n\n{declared}\n")
    importlib.invalidate_caches()

    with pytest.raises(StartupError) as caught:
        installed_plugins()["posey"].stand_in()

    assert caught.value.detail.startswith(
        "posey.plugin: STAND_IN must be a literal string saying what the plugin stands in for"
    )


def fake(name: str, requires: tuple[str, ...]) -> InstalledPlugin:
    class Declared(InstalledPlugin):
        def requires(self) -> tuple[str, ...]:
            return requires

    return Declared(name, f"lendkit-{name}", "0.1", EntryPoint(name, f"{name}.plugin", "lendkit"))


INSTALLED = {
    "marketing": fake("marketing", ()),
    "antifraud": fake("antifraud", ()),
    "merchant_flow": fake("merchant_flow", ("antifraud", "marketing")),
    "gov_data": fake("gov_data", ("bureau",)),
}


def test_enabling_a_plugin_whose_need_is_off_names_the_need_and_the_command():
    with pytest.raises(StartupError) as caught:
        check_requirements(["marketing", "merchant_flow"], INSTALLED)

    assert caught.value.detail == (
        "plugin 'merchant_flow' needs plugin 'antifraud', which is not enabled "
        "(enable it first: `lendkit plugins enable antifraud`)"
    )


def test_a_need_that_is_not_installed_says_so():
    with pytest.raises(StartupError) as caught:
        check_requirements(["gov_data"], INSTALLED)

    assert caught.value.detail.endswith("which is not enabled (it is not installed)")


def test_a_set_with_every_need_enabled_passes():
    check_requirements(["merchant_flow", "antifraud", "marketing"], INSTALLED)


def test_disabling_a_needed_plugin_is_refused_naming_who_needs_it():
    with pytest.raises(StartupError) as caught:
        check_can_disable(["marketing"], ["marketing", "antifraud", "merchant_flow"], INSTALLED)

    assert caught.value.detail == (
        "cannot disable plugin 'marketing': enabled plugin(s) merchant_flow need it "
        "(disable them first)"
    )
    check_can_disable(["marketing", "merchant_flow"], ["marketing", "merchant_flow"], INSTALLED)


def test_start_up_refuses_an_enabled_set_missing_a_need(site):
    write_plugin(site, "needy", NEEDY)
    importlib.invalidate_caches()

    with pytest.raises(StartupError) as caught:
        make_plugin_manager(["needy"])

    assert "plugin 'needy' needs plugin 'marketing'" in caught.value.detail
    assert make_plugin_manager(["marketing", "needy"]).get_plugin("needy") is not None


@pytest.mark.parametrize("backend", ["sqlite"])  # the command, not the database
def test_the_cli_refuses_a_missing_need_and_a_needed_plugin_in_one_line(
    make_tenant, lendkit_cli, site
):
    write_plugin(site, "needy", NEEDY)
    config = make_tenant(plugins=[])
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    refused = lendkit_cli("plugins", "enable", "needy", env=env)
    both = lendkit_cli("plugins", "enable", "marketing", "needy", env=env)
    needed = lendkit_cli("plugins", "disable", "marketing", env=env)

    assert (refused.returncode, refused.stderr.strip()) == (
        2,
        "lendkit: error: plugin 'needy' needs plugin 'marketing', which is not enabled "
        "(enable it first: `lendkit plugins enable marketing`)",
    )
    assert both.returncode == 0, both.stderr
    assert (needed.returncode, needed.stderr.strip()) == (
        2,
        "lendkit: error: cannot disable plugin 'marketing': enabled plugin(s) needy need it "
        "(disable them first)",
    )
    assert tomllib.loads(config.read_text())["plugins"]["enabled"] == ["marketing", "needy"]


# -- The admin API ---------------------------------------------------------------


def enabled_on_file(config: Path) -> list[str]:
    return tomllib.loads(config.read_text(encoding="utf-8"))["plugins"]["enabled"]


def test_the_api_lists_plugins_and_refuses_to_switch_them_pointing_at_lendkit_toml(
    runtime, live_server
):
    config = Path(os.environ["LENDKIT_CONFIG"])  # the tenant `runtime` made
    admin = staff_headers(runtime, "admin")

    listed = httpx.get(f"{live_server}/api/admin/plugins?limit=200", headers=admin)
    enabled = httpx.post(f"{live_server}/api/admin/plugins/marketing/enable", headers=admin)
    disabled = httpx.post(f"{live_server}/api/admin/plugins/marketing/disable", headers=admin)

    assert listed.status_code == 200, listed.text
    [marketing] = [p for p in listed.json()["items"] if p["plugin"] == "marketing"]
    assert (marketing["enabled"], marketing["loaded"], marketing["restart_required"]) == (
        False,
        False,
        False,
    )
    assert marketing["stand_in"] is None
    [sms] = [p for p in listed.json()["items"] if p["plugin"] == "sms-sandbox"]
    assert (sms["stand_in"], sms["enabled"]) == ("SMS are kept for the demo, never sent", False)
    for answer, action in ((enabled, "enable"), (disabled, "disable")):
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["code"] == "plugins_managed_in_settings"
        zh, _, en = problem["detail"].partition(" / ")
        assert "lendkit.toml" in zh
        assert "[plugins] enabled in lendkit.toml" in en
        assert f"`lendkit plugins {action} marketing`" in en
        assert "restart every app process and worker" in en
    # Nothing changed: not the file, not the schema, and nothing to audit.
    assert enabled_on_file(config) == []
    assert "marketing_coupon" not in inspect(runtime.engine).get_table_names()
    with runtime.sessions.begin() as session:
        assert not session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("plugins.%"))
        ).all()


def test_the_refusal_needs_the_permission_and_names_no_unknown_plugin(runtime, live_server):
    admin = staff_headers(runtime, "admin")

    unknown = httpx.post(f"{live_server}/api/admin/plugins/no%3Cpe%3E/enable", headers=admin)
    support = httpx.post(
        f"{live_server}/api/admin/plugins/marketing/enable",
        headers=staff_headers(runtime, "support"),
    )
    anonymous = httpx.post(f"{live_server}/api/admin/plugins/marketing/enable")

    assert (unknown.status_code, unknown.json()["code"]) == (409, "plugins_managed_in_settings")
    assert "`lendkit plugins enable NAME`" in unknown.json()["detail"]
    assert "<" not in unknown.json()["detail"]
    assert support.status_code == 403
    assert anonymous.status_code == 401
    assert enabled_on_file(Path(os.environ["LENDKIT_CONFIG"])) == []


# -- lendkit plugins new ----------------------------------------------------------


def test_plugins_new_generates_a_plugin_distribution(tmp_path):
    dest = new_plugin("acme_flow", tmp_path / "lendkit-acme-flow", data={"author": "Acme"})

    project = tomllib.loads((dest / "pyproject.toml").read_text(encoding="utf-8"))
    package = dest / "src" / "lendkit_acme_flow"
    migration = (package / "migrations" / "versions" / "acme_flow_0001_initial.py").read_text()
    assert project["project"]["name"] == "lendkit-acme-flow"
    assert project["project"]["entry-points"]["lendkit"] == {
        "acme_flow": "lendkit_acme_flow.plugin"
    }
    assert project["project"]["authors"] == [{"name": "Acme"}]
    [requirement] = project["project"]["dependencies"]
    assert re.fullmatch(r"lendkit>=\d+(\.\d+)*", requirement)
    assert 'branch_labels = ("acme_flow",)' in migration
    assert 'depends_on = "kernel"' in migration
    assert "REQUIRES: tuple[str, ...] = ()" in (package / "plugin.py").read_text()
    assert (
        (package / "templates" / "acme_flow" / "events.html")
        .read_text()
        .startswith(
            '{% extends "base.html" %}'  # runtime Jinja, copied verbatim
        )
    )
    assert "check_plugin(PLUGIN" in (dest / "tests" / "test_acme_flow.py").read_text()
    for path in dest.rglob("*.py"):
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.parametrize("name", ["Acme", "1flow", "acme-flow", "a"])
def test_plugins_new_refuses_a_bad_name(tmp_path, name):
    with pytest.raises(StartupError, match="lower-case letters, digits and underscores"):
        new_plugin(name, tmp_path / "x")


def test_plugins_new_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")

    with pytest.raises(StartupError, match="not empty"):
        new_plugin("acme_flow", tmp_path / "x")


def test_plugins_new_without_copier_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "copier", None)  # import copier -> ImportError

    with pytest.raises(StartupError) as caught:
        new_plugin("acme_flow", tmp_path / "x")

    assert caught.value.detail.startswith("copier is not installed in this environment")
    assert str(TEMPLATE_DIR) in caught.value.detail


def test_the_partner_template_sits_beside_the_tenant_template_and_ships_in_the_wheel():
    assert TEMPLATE_DIR == ROOT / "partner_template"  # a source checkout: the repository's
    assert (ROOT / "tenant_template").is_dir()
    assert (TEMPLATE_DIR / "copier.yml").is_file()
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["hatch"]
    included = wheel["build"]["targets"]["wheel"]["force-include"]
    assert included["partner_template"] == "lendkit/partner_template"


def test_an_installed_kit_finds_the_partner_template_inside_its_package(tmp_path, monkeypatch):
    """As installed from the wheel: the copy in the package wins over any checkout."""
    packaged = tmp_path / "lendkit" / "partner_template"
    packaged.mkdir(parents=True)
    (packaged / "copier.yml").write_text("_subdirectory: project\n", encoding="utf-8")
    monkeypatch.setattr(partner.resources, "files", lambda package: tmp_path / package)

    assert partner.template_dir() == packaged


# -- The conformance check --------------------------------------------------------

BAD = """
    from __future__ import annotations

    import lendkit
    import lendkit.outbox
    from lendkit import migrate
    from lendkit.crypto.orm import Encrypted
    from lendkit.db import Base, BigId
    from litestar import get
    from sqlalchemy import String
    from sqlalchemy.orm import Mapped, mapped_column


    class Contact(Base):
        __tablename__ = "badplug_contact"
        id: Mapped[int] = mapped_column(BigId, primary_key=True)
        phone: Mapped[str] = mapped_column(String(20))
        id_number: Mapped[str] = mapped_column(String(18))
        home_address: Mapped[str] = mapped_column(Encrypted())
        product_name: Mapped[str] = mapped_column(String(40), info={"pii": False})
        card_id: Mapped[int] = mapped_column(BigId)


    @get("/api/badplug/open", sync_to_thread=False)
    def open_route() -> str:
        return "open"


    @get("/api/badplug/odd", opt={"permission": "badplug.view"}, sync_to_thread=False)
    def odd_route() -> str:
        return "odd"


    @lendkit.hookimpl
    def register_routes():
        return [open_route, odd_route]


    def register_templates():
        return []


    def helper():
        return lendkit.registry.routes
"""

BAD_HOOK = """
    import lendkit


    @lendkit.hookimpl
    def on_loan_event(event, sesion):
        pass
"""


def test_the_conformance_check_reports_every_rule_a_plugin_breaks(tmp_path):
    site = write_plugin(tmp_path / "site", "badplug", BAD)
    write_plugin(site, "badhook", BAD_HOOK)
    script = (
        "import json; from lendkit.testing import check_plugin; "
        "print(json.dumps([check_plugin('badplug'), check_plugin('badhook')]))"
    )
    # A subprocess: the bad model must not join this process's metadata.
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PYTHONPATH": str(site)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    bad, bad_hook = json.loads(result.stdout.splitlines()[-1])

    assert sorted(bad) == sorted(
        [
            "badplug/plugin.py:5: imports kernel internal lendkit.outbox",
            "badplug/plugin.py:6: imports kernel internal lendkit.migrate",
            "badplug/plugin.py:44: uses kernel internal lendkit.registry.routes",
            "badplug: register_templates() looks like a hook implementation but lacks "
            "@lendkit.hookimpl",
            "badplug: table badplug_contact of model Contact has no migration",
            'badplug: route GET /api/badplug/open declares no permission (opt={"permission": ...})',
            "badplug: route GET /api/badplug/odd names permission 'badplug.view', which "
            "nobody registers (the guard refuses it with 403)",
            "badplug: column badplug_contact.phone looks like personal data but is stored in "
            'clear (use Encrypted(), or info={"pii": False} if it is not)',
            "badplug: column badplug_contact.id_number looks like personal data but is stored "
            'in clear (use Encrypted(), or info={"pii": False} if it is not)',
        ]
    )
    [problem] = bad_hook
    assert problem.startswith("badhook: plugin 'badhook': ")
    assert "sesion" in problem


READER = """
    import lendkit
    from lendkit.db import Base
    from lendkit.lifecycle import loan_models as models
    from lendkit.models import Borrower
    from lendkit.views import loan
    from sqlalchemy import MetaData, Table, text

    SQL = "SELECT id, phone FROM borrower WHERE id = :id"
    NOT_SQL = "We update loan status when we hear back, then select from the loan list."


    def every_table():
        return Base.metadata.tables["loan"]


    def direct(session):
        session.execute(text('insert into "journal_line" (amount) values (1)'))
        return Table("loan_instalment", MetaData())


    def fine(session):
        return loan(session, 1), Table("readers_note", MetaData())
"""

READER_TEST = """
    import lendkit.lifecycle.loan_models
    from sqlalchemy import text


    def test_it(session):
        session.execute(text("UPDATE loan SET status = 'settled'"))
        assert lendkit.lifecycle.loan_models.Loan
"""


def src_layout_plugin(root: Path, name: str, source: str, test_source: str) -> Path:
    """A plugin distribution in the src layout, with a tests folder beside ``src/``."""
    write_plugin(root / "src", name, source)
    (root / "tests").mkdir()
    (root / "tests" / f"test_{name}.py").write_text(textwrap.dedent(test_source))
    return root / "src"


def test_the_conformance_check_refuses_reading_kernel_tables_in_the_source_and_its_tests(
    tmp_path, monkeypatch
):
    src = src_layout_plugin(tmp_path / "readers", "readers", READER, READER_TEST)
    monkeypatch.syspath_prepend(str(src))
    importlib.invalidate_caches()

    problems = [p for p in check_plugin("readers") if "kernel tables" in p]

    where = [p.split(": reads kernel tables directly, ")[0] for p in problems]
    assert where == [
        "readers/plugin.py:4",  # from lendkit.lifecycle import loan_models as models
        "readers/plugin.py:5",  # from lendkit.models import Borrower
        "readers/plugin.py:9",  # SELECT ... FROM borrower
        "readers/plugin.py:14",  # Base.metadata.tables
        "readers/plugin.py:18",  # insert into "journal_line"
        "readers/plugin.py:19",  # Table("loan_instalment", ...)
        "tests/test_readers.py:2",  # import lendkit.lifecycle.loan_models
        "tests/test_readers.py:7",  # UPDATE loan SET
        "tests/test_readers.py:8",  # lendkit.lifecycle.loan_models.Loan
    ]
    assert all(p.endswith("(read through lendkit.views)") for p in problems)
    assert any("imports kernel model lendkit.models.Borrower" in p for p in problems)
    assert any("metadata.tables" in p for p in problems)
    sys.modules.pop("readers.plugin", None)
    sys.modules.pop("readers", None)


GOOD_PLUGIN = """\
import lendkit

@lendkit.hookimpl
def register_templates():
    return []
"""
INTERNAL_TEST = """\
from lendkit.auth.testing import staff_headers
from lendkit.testing import check_plugin, staff_client
import lendkit.outbox


def test_it(runtime):
    staff_headers(runtime)
"""


def test_the_conformance_check_refuses_kernel_internals_in_a_plugins_tests(tmp_path, monkeypatch):
    src = src_layout_plugin(tmp_path / "tested", "tested", GOOD_PLUGIN, INTERNAL_TEST)
    monkeypatch.syspath_prepend(str(src))
    importlib.invalidate_caches()

    problems = [p for p in check_plugin("tested") if "kernel internal" in p]

    assert sorted(problems) == [
        "tests/test_tested.py:1: imports kernel internal lendkit.auth.testing.staff_headers",
        "tests/test_tested.py:3: imports kernel internal lendkit.outbox",
    ]
    sys.modules.pop("tested.plugin", None)
    sys.modules.pop("tested", None)


def test_the_kits_own_plugins_read_no_kernel_tables():
    from lendkit.testing import table_problems

    for folder in sorted((ROOT / "plugins").iterdir()):
        if folder.name == "demo":
            continue  # grows a loan book by driving the kernel's lifecycle (its README says why)
        [package] = [p for p in (folder / "src").iterdir() if p.is_dir()]
        assert table_problems(package, folder / "tests") == [], folder.name


def test_the_conformance_check_of_an_unknown_name_says_it_is_not_installed():
    assert check_plugin("nope") == [
        "nope: not installed (no entry point 'nope' in group 'lendkit')"
    ]


# -- A generated plugin in a generated tenant ---------------------------------------

DISPATCH = """
import json, sys
from sqlalchemy import text
from lendkit import outbox
from lendkit.runtime import open_runtime

runtime = open_runtime()
with runtime.sessions.begin() as session:
    outbox.publish(session, "loan.disbursed", {"loan_id": int(sys.argv[1]), "amount": "100.00"})
outbox.dispatch(runtime.sessions, runtime.pm, runtime.settings.outbox)
with runtime.engine.connect() as connection:
    rows = connection.execute(text("SELECT loan_id FROM acme_flow_loan_event ORDER BY id"))
    print(json.dumps(list(rows.scalars())))
"""


def dispatch_loan_event(tenant: Path, loan_id: int) -> list[int]:
    """Publish and deliver one loan event in the tenant; the plugin's rows after it."""
    result = flow.run(
        [str(tenant / ".venv" / "bin" / "python"), "-c", DISPATCH, str(loan_id)],
        tenant,
        flow.environment(LENDKIT_CONFIG=str(tenant / "lendkit.toml")),
    )
    rows: list[int] = json.loads(result.stdout.splitlines()[-1])
    return rows


@pytest.mark.slow
def test_a_generated_plugin_installs_into_a_tenant_and_switches_on_and_off(tmp_path):
    kit = flow.copy_kit(tmp_path / "kit")
    tenant = flow.copy_tenant(kit, tmp_path / "acme", plugins="[marketing]")
    plugin = tmp_path / "lendkit-acme-flow"

    flow.lendkit(tenant, "plugins", "new", "acme_flow", "--dest", str(plugin))
    flow.run([flow.uv_executable(), "add", "--editable", str(plugin)], tenant)
    listed = flow.lendkit(tenant, "plugins", "list").stdout
    flow.lendkit(tenant, "plugins", "enable", "acme_flow")
    with flow.serving(tenant) as url:
        mounted = httpx.get(f"{url}/api/acme_flow/events").status_code
    rows_while_enabled = dispatch_loan_event(tenant, 7)
    own_tests = flow.run(
        [str(tenant / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        plugin,
    )
    flow.lendkit(tenant, "plugins", "disable", "acme_flow")
    with flow.serving(tenant) as url:
        unmounted = httpx.get(f"{url}/api/acme_flow/events").status_code
    rows_while_disabled = dispatch_loan_event(tenant, 8)

    assert "acme_flow" in listed
    assert mounted == 401  # mounted, and guarded by its permission
    assert rows_while_enabled == [7]  # on_loan_event wrote its row
    assert " passed" in own_tests.stdout
    assert " failed" not in own_tests.stdout
    assert unmounted == 404  # the route is gone
    assert rows_while_disabled == [7]  # the hook stopped; its data stayed


# -- The test kit a partner needs, all from lendkit.testing ------------------------


def test_the_kit_signs_staff_and_borrowers_into_the_app_in_memory(runtime):
    from lendkit.testing import (
        add_borrower,
        app_client,
        borrower_client,
        staff_client,
    )

    borrower_id = add_borrower(runtime, "13800138123")
    with app_client(runtime) as anonymous:
        assert anonymous.get("/api/borrowers/me").status_code == 401
    with borrower_client(runtime, borrower_id) as me:
        mine = me.get("/api/borrowers/me")
        assert (mine.status_code, mine.json()["id"]) == (200, borrower_id)
        # The session's CSRF token rides along: unsafe methods are not refused for it.
        assert me.post("/api/auth/logout").status_code in {200, 204}
    with staff_client(runtime, "support") as support:
        assert support.get("/api/admin/plugins").status_code == 403
    with staff_client(runtime, "admin") as admin:
        assert admin.get("/api/admin/plugins").status_code == 200


def test_the_kit_delivers_committed_events_to_the_plugins_now(make_tenant, tmp_path):
    import lendkit
    from lendkit import outbox
    from lendkit.runtime import open_runtime
    from lendkit.testing import dispatch_events

    make_tenant()
    runtime = open_runtime()
    heard: list[str] = []

    class Listener:
        EVENT_TOPICS = ("loan.",)

        @lendkit.hookimpl
        def on_loan_event(self, event, session):
            heard.append(event.topic)

    runtime.pm.register(Listener(), name="listener")
    try:
        runtime.upgrade()
        with runtime.sessions.begin() as session:
            outbox.publish(session, "loan.disbursed", {"loan_id": 1})
            outbox.publish(session, "borrower.registered", {"borrower_id": 1})
        assert dispatch_events(runtime) >= 1
        assert heard == ["loan.disbursed"]
        assert dispatch_events(runtime) == 0  # nothing is delivered twice
    finally:
        runtime.close()


def test_the_kits_public_names_are_all_importable_from_lendkit_testing():
    import lendkit.testing

    for name in lendkit.testing.__all__:
        assert getattr(lendkit.testing, name) is not None, name
    assert "lendkit.testing" in lendkit.testing.PUBLIC_API
    kit = Path(lendkit.testing.__file__).parent
    assert all(len(p.read_text().splitlines()) <= 600 for p in kit.glob("*.py"))
