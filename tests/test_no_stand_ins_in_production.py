"""No stand-in in production: a tenant generated with the template's defaults enables
no stand-in plugin, exposes no one-time code on any route and starts without the
stand-in warning; a tenant that enables one is warned at every start and shows a
banner on every page.

The generated tenant is not installed (that is test_tenant_template's slow job):
the kit's own environment opens it, through ``$LENDKIT_CONFIG`` and the test's
database in ``$LENDKIT_DATABASE__URL``, and serves it with ``lendkit serve``.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import yaml
from lendkit.auth.models import OtpCode
from lendkit.auth.testing import staff_headers
from lendkit.crypto.keys import write_master_key
from lendkit.plugins import installed_plugins
from lendkit.settings import CONFIG_ENV, load_settings
from lendkit.testing import free_port
from lendkit.web.app import create_app
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
WARNING = "Stand-in plugins enabled"
PHONE = "13812345678"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


flow = _load("lendkit_bench_tenant_template", ROOT / "bench" / "tenant_template.py")


def copier_questions() -> dict:
    return yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    """A tenant from `copier copy --defaults` (not installed), with a master key."""
    kit = flow.copy_kit(tmp_path_factory.mktemp("kit") / "lendkit")
    tenant = flow.copy_tenant(kit, tmp_path_factory.mktemp("tenants") / "acme", install_now="false")
    write_master_key(tenant / "keys" / "master.key")
    return tenant


@pytest.fixture
def production(generated, database_url, monkeypatch) -> Path:
    """The generated tenant on this test's database (before ``runtime`` opens it)."""
    monkeypatch.setenv(CONFIG_ENV, str(generated / "lendkit.toml"))
    monkeypatch.setenv("LENDKIT_DATABASE__URL", database_url)
    monkeypatch.chdir(generated)
    return generated


@contextmanager
def served(timeout: float = 60) -> Iterator[tuple[str, list[str]]]:
    """`lendkit serve` of the tenant in the environment; yields its URL and, once it
    has stopped, the lines it wrote to stderr."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lendkit", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    log: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while flow.status_of(f"{url}/healthz") != 200:
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "lendkit serve did not become healthy"
            time.sleep(0.05)
        yield url, log
    finally:
        server.terminate()
        _, err = server.communicate(timeout=15)
        log.extend(err.splitlines())


def get_paths(app) -> list[str]:
    """Every GET path of the app, path parameters filled with 1."""
    return sorted(
        {
            re.sub(r"\{[^}]+\}", "1", route.path)
            for route in app.routes
            for handler in getattr(route, "route_handlers", ())
            if "GET" in getattr(handler, "http_methods", ())
        }
    )


# -- The template ------------------------------------------------------------------


def test_the_plugin_question_defaults_to_nothing_and_marks_every_stand_in():
    questions = copier_questions()
    catalog = yaml.safe_load(questions["plugin_catalog"]["default"])
    installed = installed_plugins()

    assert questions["plugins"]["default"] == []
    # The catalog's marks follow what the plugins declare (STAND_IN).
    assert {name: bool(entry.get("stand_in")) for name, entry in catalog.items()} == {
        name: installed[name].stand_in() is not None for name in catalog
    }
    assert {n for n, e in catalog.items() if e.get("stand_in")} == {
        "sms-sandbox",
        "identity-sandbox",
        "bureau-sandbox",
        "channel-sandbox",
        "esign-sandbox",
        "demo",
    }
    assert "[STAND-IN]" in questions["plugins"]["choices"]
    assert "never select one for a tenant that" in questions["plugins"]["help"]


def test_a_tenant_from_the_defaults_enables_no_plugin(generated):
    on_file = tomllib.loads((generated / "lendkit.toml").read_text(encoding="utf-8"))
    answers = yaml.safe_load((generated / ".copier-answers.yml").read_text(encoding="utf-8"))

    assert on_file["plugins"] == {"enabled": []}
    assert answers["plugins"] == []
    assert "WARNING" not in (generated / "lendkit.toml").read_text(encoding="utf-8")
    assert load_settings(generated / "lendkit.toml").plugins.enabled == []


@pytest.mark.slow
def test_selecting_a_stand_in_in_the_template_writes_a_warning_beside_it(tmp_path):
    kit = flow.copy_kit(tmp_path / "kit")
    tenant = flow.copy_tenant(
        kit, tmp_path / "demo-co", plugins="[sms-sandbox, marketing]", install_now="false"
    )

    text = (tenant / "lendkit.toml").read_text(encoding="utf-8")
    assert "# WARNING: sms-sandbox only pretend to be vendors" in text
    assert tomllib.loads(text)["plugins"]["enabled"] == ["sms-sandbox", "marketing"]


# -- The generated tenant, served ---------------------------------------------------


def test_the_default_tenant_serves_no_one_time_code_and_warns_of_nothing(
    production, runtime, caplog
):
    admin = staff_headers(runtime, "admin")
    with served() as (url, log):
        asked = httpx.post(
            f"{url}/api/auth/borrower/otp", json={"phone": PHONE, "purpose": "register"}
        )
        bodies = {
            path: httpx.get(f"{url}{path}", headers=admin, timeout=30)
            for path in get_paths(create_app(runtime))
        }
        old = httpx.get(f"{url}/api/notifications/sandbox", headers=admin)
        kept = httpx.get(f"{url}/api/sms-sandbox/messages", headers=admin)
        ready = httpx.get(f"{url}/readyz").json()
        home = httpx.get(f"{url}/")

    # No sender: the code is refused, not kept anywhere, shown nowhere.
    assert asked.status_code == 503, asked.text
    assert asked.json()["code"] == "notification_failed"
    with runtime.read_sessions() as session:
        assert session.scalars(select(OtpCode)).all() == []
    assert len(bodies) > 20  # the walk reached the kernel's routes
    for path, response in bodies.items():
        assert "验证码" not in response.text, path
        assert "sign-in code" not in response.text.lower(), path
    assert (old.status_code, kept.status_code) == (404, 404)
    assert not [path for path in bodies if "sms" in path or "notification" in path]
    assert ready["stand_ins"] == {}
    assert home.status_code == 200
    assert WARNING not in home.text
    assert not [line for line in log if WARNING in line]
    assert not [r for r in caplog.get_records("setup") if WARNING in r.getMessage()]


def test_enabling_the_sms_stand_in_warns_at_every_start_and_bans_every_page(
    make_tenant, lendkit_cli
):
    make_tenant(plugins=["sms-sandbox"])
    migrated = lendkit_cli("db", "upgrade")
    with served() as (url, log):
        home = httpx.get(f"{url}/")
        ready = httpx.get(f"{url}/readyz").json()

    line = (
        "演示替身插件已启用，非真实核验/资金 / Stand-in plugins enabled: "
        "sms-sandbox (SMS are kept for the demo, never sent) — not for production"
    )
    assert migrated.returncode == 0, migrated.stderr
    assert line in migrated.stderr  # a CLI command that opens the runtime
    assert [entry for entry in log if line in entry and '"level": "warning"' in entry]  # serve
    assert home.status_code == 200
    assert line in home.text
    assert 'class="stand-in" role="alert"' in home.text
    assert ready["stand_ins"] == {"sms-sandbox": "SMS are kept for the demo, never sent"}


def test_the_worker_warns_too(make_tenant, lendkit_cli):
    make_tenant(plugins=["identity-sandbox", "sms-sandbox"])
    assert lendkit_cli("db", "upgrade").returncode == 0
    worker = subprocess.Popen(
        [sys.executable, "-m", "lendkit", "worker"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(worker.stderr or ()), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not [line for line in lines if WARNING in line] and time.monotonic() < deadline:
            assert worker.poll() is None, "".join(lines)
            time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(timeout=15)
        reader.join(timeout=5)

    [warned] = [line for line in lines if WARNING in line]
    assert "Stand-in plugins enabled: identity-sandbox (" in warned
    assert "; sms-sandbox (SMS are kept for the demo, never sent)" in warned
