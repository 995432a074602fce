"""The tenant template, end to end: `copier copy` from the kit repository →
install → migrate → serve → the tenant's own `make test`; `copier update` to a
newer kit keeps the tenant's edits and renames a setting; and none of it ever
writes into the kit's `kernel/`.

The kit is the working tree copied into a temporary git repository tagged v1
(Copier versions a template by its repository's tags). Tenants install it with
uv from the warm package cache.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# The flow helpers (copy the kit, copier, serve until healthy) are the benchmark's.
flow = _load("lendkit_bench_tenant_template", ROOT / "bench" / "tenant_template.py")
tasks = _load("lendkit_tenant_tasks", ROOT / "tenant_template" / "_copier" / "tenant_tasks.py")


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (bytecode caches aside: Python writes those)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The kit as a template repository, tagged v1."""
    return flow.copy_kit(tmp_path_factory.mktemp("kit") / "lendkit")


# -- copier copy ---------------------------------------------------------------


def check_project(tenant: Path, kit: Path) -> None:
    """The generated files carry the answers; the template's helper stayed behind."""
    settings = tomllib.loads((tenant / "lendkit.toml").read_text(encoding="utf-8"))
    project = tomllib.loads((tenant / "pyproject.toml").read_text(encoding="utf-8"))
    answers = yaml.safe_load((tenant / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert settings["tenant"] == {
        "name": "阿克米小额贷款有限公司",
        "slug": "acme",
        "display_name": "阿克米小贷",
        "locale": "zh_CN",
        "primary_colour": "#b4232a",
        "accent_colour": "#1f6feb",
    }
    assert settings["plugins"] == {"enabled": ["marketing"]}
    assert settings["keys"] == {"master_key_file": "keys/master.key"}
    assert settings["caps"]["annual_rate"] == "0.24"
    assert project["project"]["dependencies"] == ["lendkit", "lendkit-marketing"]
    assert project["tool"]["uv"]["sources"]["lendkit"] == {"path": str(kit), "editable": True}
    assert (answers["_commit"], answers["_src_path"], answers["plugins"]) == (
        "v1",
        str(kit),
        ["marketing"],
    )
    for generated in (
        "README.md",
        "Makefile",
        "templates/README.md",
        "tests/test_tenant.py",
        "deploy/systemd/lendkit-acme-web.service",
        "deploy/systemd/lendkit-acme-worker.service",
        "deploy/systemd/lendkit-acme-eod.timer",
        "deploy/systemd/lendkit-acme-backup.timer",
        "deploy/nginx/acme.conf",
        "deploy/compose.postgres.yml",
    ):
        assert (tenant / generated).is_file(), generated
    assert not (tenant / "_copier").exists()
    assert {"keys/", "data/", ".venv/"} <= set(
        (tenant / ".gitignore").read_text(encoding="utf-8").split()
    )


def check_installed_keyed_and_migrated(tenant: Path) -> None:
    """What the first-copy tasks did: uv.lock and .venv, the master key, the database."""
    lock = (tenant / "uv.lock").read_text(encoding="utf-8")
    assert 'name = "lendkit"' in lock
    assert 'name = "lendkit-marketing"' in lock
    assert (tenant / "keys" / "master.key").stat().st_mode & 0o777 == 0o600
    current = flow.lendkit(tenant, "db", "current").stdout
    assert re.search(r"^kernel\s+\S+\s+head \S+\s+current \(enabled\)", current, re.M), current
    assert re.search(r"^marketing\s+m0001\s+head m0001\s+current \(enabled\)", current, re.M)


@pytest.mark.slow
def test_copy_installs_migrates_serves_and_passes_the_tenants_own_make_test(kit, tmp_path):
    tenant = flow.copy_tenant(
        kit,
        tmp_path / "acme",
        plugins="[marketing]",
        tenant_name="阿克米小额贷款有限公司",
        display_name="阿克米小贷",
    )

    check_project(tenant, kit)
    check_installed_keyed_and_migrated(tenant)
    with flow.serving(tenant) as url:
        health = httpx.get(f"{url}/healthz")
        ready = httpx.get(f"{url}/readyz")
        home = httpx.get(f"{url}/")
    assert health.status_code == 200
    assert ready.status_code == 200, ready.text
    assert "阿克米小贷" in home.text
    own_tests = subprocess.run(
        ["make", "test"],
        cwd=tenant,
        env=flow.environment(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert own_tests.returncode == 0, own_tests.stdout[-3000:] + own_tests.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", own_tests.stdout), own_tests.stdout[-2000:]
    assert " failed" not in own_tests.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("tenant_slug=Bad_Slug", "lower-case letter"),
        ("primary_colour=red", "a colour like"),
        ("plugins=[nope]", "nope"),
        ("locale=fr_FR", "fr_FR"),
    ],
)
def test_copy_refuses_an_invalid_answer_naming_it(kit, tmp_path, answer, message):
    repo = kit
    dest = tmp_path / "bad"

    with pytest.raises(RuntimeError) as failed:
        flow.copier(
            "copy", "--trust", "--defaults", "--data", answer, str(repo), str(dest), cwd=tmp_path
        )

    assert message in str(failed.value)
    assert not (dest / "lendkit.toml").exists()


@pytest.mark.slow
def test_copy_refuses_a_database_url_with_a_password(kit, tmp_path):
    repo = kit
    with pytest.raises(RuntimeError) as failed:
        flow.copier(
            "copy",
            "--trust",
            "--defaults",
            "--data",
            "database=postgresql",
            "--data",
            "database_url=postgresql://lendkit:secret@db.internal/acme",
            str(repo),
            str(tmp_path / "pg"),
            cwd=tmp_path,
        )

    assert "without a password" in str(failed.value)


@pytest.mark.slow
def test_postgresql_and_an_environment_master_key_render_valid_settings(kit, tmp_path):
    from lendkit.settings import load_settings

    repo = kit
    dest = tmp_path / "bank-two"
    flow.copy_tenant(
        repo,
        dest,
        database="postgresql",
        master_key="env",
        master_key_env="BANK_TWO_MASTER_KEY",
        caps_preset="conservative",
        locale="en_US",
        install_now="false",
    )

    settings = load_settings(dest / "lendkit.toml")
    env_example = (dest / "deploy" / "lendkit.env.example").read_text(encoding="utf-8")
    assert settings.database_url == "postgresql+psycopg://lendkit@127.0.0.1:5432/lendkit_bank_two"
    assert (settings.keys.master_key_env, settings.tenant.slug, settings.tenant.locale) == (
        "BANK_TWO_MASTER_KEY",
        "bank-two",
        "en_US",
    )
    assert str(settings.caps.annual_rate) == "0.18"
    assert "BANK_TWO_MASTER_KEY=" in env_example
    assert "PGPASSWORD=" in env_example
    assert not (dest / "keys").exists()
    assert not (dest / ".venv").exists()


@pytest.mark.slow
def test_a_git_url_kit_source_installs_the_template_commit_and_serves(kit, tmp_path):
    repo = kit
    dest = flow.copy_tenant(repo, tmp_path / "gitten", kit_source=f"file://{repo}")

    sources = tomllib.loads((dest / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"][
        "sources"
    ]
    commit = flow.git(repo, "rev-parse", "v1^{commit}").strip()
    assert sources["lendkit"] == {"git": f"file://{repo}", "rev": commit}
    with flow.serving(dest) as url:  # a built wheel, kit templates included
        assert "lendkit" in httpx.get(f"{url}/").text


# -- copier update ---------------------------------------------------------------

TENANT_NOTE = "\n## Our notes\n\nThe on-call phone list is in the shared drive.\n"
V2_README_LINE = "The lending system of **{{ tenant_name }}** (`{{ tenant_slug }}`), generated"
V2_QUESTION = """
support_hours:
  type: str
  help: When the customer's staff answer borrowers (shown in the operator README)
  default: "09:00-18:00 Beijing time"
"""
V2_MIGRATION = """_migrations:
  - version: v2
    command: >-
      "{{ _copier_python }}" "{{ _copier_conf.src_path }}/tenant_template/_copier/tenant_tasks.py"
      rename-setting backup.keep backup.keep_last
"""


def make_v2(repo: Path) -> None:
    """A newer kit: the kernel renames backup.keep, the template follows and asks more."""
    settings = repo / "kernel" / "lendkit" / "settings.py"
    text, renamed = re.subn(
        r"^(\s+)keep: int = ", r"\1keep_last: int = ", settings.read_text(), flags=re.M
    )
    assert renamed == 1, "the Backup settings changed: update this test's v2"
    settings.write_text(text)
    for module in (repo / "kernel" / "lendkit").rglob("*.py"):
        source = module.read_text()
        if "settings.backup.keep" in source:
            module.write_text(
                re.sub(r"settings\.backup\.keep\b", "settings.backup.keep_last", source)
            )
    readme = repo / "tenant_template" / "README.md.jinja"
    text = readme.read_text()
    assert V2_README_LINE in text
    readme.write_text(
        text.replace(
            V2_README_LINE,
            V2_README_LINE.replace("generated", "support {{ support_hours }}; generated"),
        )
    )
    config = repo / "copier.yml"
    text = config.read_text()
    assert text.count("_migrations:\n") == 1
    config.write_text(text.replace("_migrations:\n", V2_MIGRATION) + V2_QUESTION)
    flow.commit_all(repo, "v2: backup.keep is backup.keep_last; support hours")
    flow.git(repo, "tag", "v2")


@pytest.mark.slow
def test_update_to_v2_keeps_the_tenants_edits_renames_the_setting_and_starts(tmp_path):
    repo = flow.copy_kit(tmp_path / "kit-repo")
    tenant = flow.copy_tenant(repo, tmp_path / "acme", plugins="[marketing]")
    flow.git(tenant, "init", "--quiet", "--initial-branch=main")
    flow.commit_all(tenant, "tenant from lendkit v1")
    # The tenant's own edits: a section in its README, a setting the template never wrote.
    readme = tenant / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + TENANT_NOTE, encoding="utf-8")
    config = tenant / "lendkit.toml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + "\n[backup]\n# fewer copies on this small disk\nkeep = 24\n",
        encoding="utf-8",
    )
    flow.commit_all(tenant, "our notes; keep 24 backups")
    make_v2(repo)

    flow.copier("update", "--trust", "--defaults", cwd=tenant)

    text = readme.read_text(encoding="utf-8")
    settings = config.read_text(encoding="utf-8")
    answers = yaml.safe_load((tenant / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert "support 09:00-18:00 Beijing time; generated" in text  # the template's change
    assert text.endswith(TENANT_NOTE)  # the tenant's edit, same file
    assert "<<<<<<<" not in text + settings
    assert "# fewer copies on this small disk\nkeep_last = 24\n" in settings
    assert re.search(r"^keep\s*=", settings, re.M) is None
    assert (answers["_commit"], answers["support_hours"]) == ("v2", "09:00-18:00 Beijing time")
    with flow.serving(tenant) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        assert httpx.get(f"{url}/readyz").status_code == 200


# -- the plugin catalog --------------------------------------------------------------


def catalog():
    config = yaml.safe_load((ROOT / "copier.yml").read_text(encoding="utf-8"))
    return (
        yaml.safe_load(config["plugin_catalog"]["default"]),
        yaml.safe_load(config["plugin_categories"]["default"]),
    )


def test_the_plugin_catalog_lists_every_first_party_plugin_with_its_distribution():
    plugins, categories = catalog()
    found = {}
    for project in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        metadata = tomllib.loads(project.read_text(encoding="utf-8"))["project"]
        for name in metadata.get("entry-points", {}).get("lendkit", {}):
            found[name] = (metadata["name"], project.parent.relative_to(ROOT).as_posix())

    assert set(plugins) == set(found), "add one line per plugin to plugin_catalog in copier.yml"
    for name, entry in plugins.items():
        assert entry["category"] in categories, name
        assert entry["summary"], name
        assert (entry.get("dist", f"lendkit-{name}"), entry.get("dir", f"plugins/{name}")) == found[
            name
        ]


# -- the rename helper of _migrations ---------------------------------------------


def rename(tmp_path, text, old, new):
    path = tmp_path / "lendkit.toml"
    path.write_text(text, encoding="utf-8")
    tasks.main(["rename-setting", old, new, "--file", str(path)])
    result = path.read_text(encoding="utf-8")
    tomllib.loads(result)
    return result


def test_rename_setting_keeps_the_value_comments_and_layout(tmp_path):
    text = '[tenant]\nname = "x"\n\n[backup]\n# small disk\nkeep = 24  # copies\ndir = "b"\n'

    assert rename(tmp_path, text, "backup.keep", "backup.keep_last") == (
        '[tenant]\nname = "x"\n\n[backup]\n# small disk\nkeep_last = 24  # copies\ndir = "b"\n'
    )


def test_rename_setting_moves_a_key_to_another_section(tmp_path):
    text = "[backup]\nkeep = 24\n\n[server]\nport = 8001\n"

    result = rename(tmp_path, text, "backup.keep", "retention.backups")

    assert tomllib.loads(result) == {
        "backup": {},
        "server": {"port": 8001},
        "retention": {"backups": 24},
    }


def test_rename_setting_handles_a_dotted_key_at_the_top(tmp_path):
    result = rename(tmp_path, "backup.keep = 5\n", "backup.keep", "backup.keep_last")

    assert tomllib.loads(result) == {"backup": {"keep_last": 5}}


def test_rename_setting_leaves_a_file_without_the_key_alone(tmp_path):
    text = "[backup]\nkeep_last = 3\n"

    assert rename(tmp_path, text, "backup.keep", "backup.keep_last") == text


def test_rename_setting_keeps_both_when_both_are_set(tmp_path):
    text = "[backup]\nkeep = 3\nkeep_last = 4\n"

    assert rename(tmp_path, text, "backup.keep", "backup.keep_last") == text


def test_setup_skips_copiers_scratch_renders_during_an_update(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git work tree: one of Copier's scratch copies
    monkeypatch.setenv("UV", "/nonexistent/uv")

    assert tasks.main(["setup", "--operation", "update"]) == 0
    assert list(tmp_path.iterdir()) == []


# -- the kit is never written to ------------------------------------------------------


@pytest.mark.slow
def test_generating_and_customizing_tenants_never_modifies_the_kits_kernel(tmp_path):
    kit = flow.copy_kit(tmp_path / "kit")
    before = digests(kit / "kernel")

    tenant = flow.copy_tenant(kit, tmp_path / "acme", plugins="[marketing]")
    # Customize it the ways an operator does: an override, a setting, plugins, a backup.
    (tenant / "templates" / "home.html").write_text(
        '{% extends "base.html" %}{% block content %}<p>Custom home</p>{% endblock %}',
        encoding="utf-8",
    )
    config = tenant / "lendkit.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'display_name = "acme"', 'display_name = "新名字"'
        ),
        encoding="utf-8",
    )
    flow.lendkit(tenant, "plugins", "disable", "marketing")
    flow.lendkit(tenant, "plugins", "enable", "marketing")
    flow.lendkit(tenant, "backup")
    with flow.serving(tenant) as url:
        home = httpx.get(f"{url}/")

    assert "Custom home" in home.text
    assert "新名字" in home.text
    assert digests(kit / "kernel") == before
    assert flow.git(kit, "status", "--porcelain", "--", "kernel") == ""
