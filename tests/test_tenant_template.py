"""The tenant template, end to end.

On a machine with only python3, make and git: `copier copy` from the kit
repository → install (uv bootstrapped into the tenant's .tools/) → migrate →
serve with the tenant's logo → `make enable PLUGIN=marketing` → the tenant's
own `make test`, never writing into the kit's `kernel/`. Then, in a real
clone of the kit, a release and the next one (a kernel change and a template
change): `copier update` moves the tenant's kernel and template together and
keeps the tenant's edits.

Most tests use the kit's working tree copied into a temporary git repository
tagged as the release of its version. Tenants install the kit from there
with uv, from the warm package cache.
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
release = _load("lendkit_release", ROOT / "scripts" / "release.py")

VERSION = release.kit_version(ROOT)
TAG = f"v{VERSION}"
# A real 1×1 PNG.
LOGO = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478"
    "9c63d8a2ac050002900102b659c68a0000000049454e44ae426082"
)


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (bytecode caches aside: Python writes those)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }


def tenant_python(tenant: Path, code: str) -> str:
    """Run ``code`` with the tenant's own interpreter (its installed kernel) in the tenant."""
    result = flow.run(
        [str(tenant / ".venv" / "bin" / "python"), "-c", code],
        tenant,
        flow.environment(LENDKIT_CONFIG=str(tenant / "lendkit.toml")),
    )
    return result.stdout.strip()


def installed_kit_version(tenant: Path) -> str:
    """lendkit's version in the tenant's venv: the package metadata and ``__version__``."""
    return tenant_python(
        tenant,
        "import importlib.metadata as m, lendkit; "
        "v = m.version('lendkit'); assert v == lendkit.__version__, (v, lendkit.__version__); "
        "print(v)",
    )


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    """The kit as a template repository, tagged as the release of its version."""
    return flow.copy_kit(tmp_path_factory.mktemp("kit") / "lendkit")


# -- copier copy, on a fresh machine ---------------------------------------------


def check_project(tenant: Path, kit: Path, logo: Path) -> None:
    """The generated files carry the answers and pin the release; the helper stayed behind."""
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
        "logo": "branding/logo.png",
    }
    assert (tenant / "branding" / "logo.png").read_bytes() == logo.read_bytes()
    assert settings["plugins"] == {"enabled": []}
    assert settings["keys"] == {"master_key_file": "keys/master.key"}
    assert settings["caps"]["annual_rate"] == "0.24"
    assert project["project"]["dependencies"] == ["lendkit"]
    # The kernel and every first-party plugin, at the exact commit of the release.
    commit = flow.git(kit, "rev-parse", f"{TAG}^{{commit}}").strip()
    sources = project["tool"]["uv"]["sources"]
    assert sources["lendkit"] == {"git": f"file://{kit}", "rev": commit}
    assert sources["lendkit-marketing"] == {
        "git": f"file://{kit}",
        "subdirectory": "plugins/marketing",
        "rev": commit,
    }
    assert (answers["_commit"], answers["_src_path"], answers["plugins"]) == (TAG, str(kit), [])
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
    assert {"keys/", "data/", ".venv/", ".tools/"} <= set(
        (tenant / ".gitignore").read_text(encoding="utf-8").split()
    )


def check_installed_keyed_and_migrated(tenant: Path) -> None:
    """What the first-copy tasks did: uv bootstrapped, uv.lock and .venv, the key, the database."""
    pinned = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "tools.mk").read_text(), re.M)
    assert pinned is not None
    uv = subprocess.run(
        [str(tenant / ".tools" / "bin" / "uv"), "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert uv.stdout.split()[:2] == ["uv", pinned.group(1)]
    lock = (tenant / "uv.lock").read_text(encoding="utf-8")
    assert 'name = "lendkit"' in lock
    assert 'name = "lendkit-marketing"' not in lock
    assert (tenant / "keys" / "master.key").stat().st_mode & 0o777 == 0o600
    assert installed_kit_version(tenant) == VERSION
    current = flow.lendkit(tenant, "db", "current").stdout
    assert re.search(r"^kernel\s+\S+\s+head \S+\s+current \(enabled\)", current, re.M), current


@pytest.mark.slow
def test_on_a_machine_with_only_python3_make_and_git_a_tenant_installs_serves_and_passes_its_tests(
    kit, tmp_path
):
    fresh = flow.fresh_machine_environment(tmp_path / "bin")
    kernel_before = digests(kit / "kernel")
    logo = tmp_path / "acme-logo.png"
    logo.write_bytes(LOGO)

    tenant = flow.copy_tenant(
        kit,
        tmp_path / "acme",
        env=fresh,
        plugins="[]",
        tenant_name="阿克米小额贷款有限公司",
        display_name="阿克米小贷",
        logo=str(logo),
    )
    check_project(tenant, kit, logo)
    check_installed_keyed_and_migrated(tenant)
    # Customize it the ways an operator does: an override, a setting, a plugin, a backup.
    (tenant / "templates" / "home.html").write_text(
        '{% extends "base.html" %}{% block content %}<p>Custom home</p>{% endblock %}',
        encoding="utf-8",
    )
    config = tenant / "lendkit.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            'display_name = "阿克米小贷"', 'display_name = "新名字"'
        ),
        encoding="utf-8",
    )
    flow.make(tenant, "enable", "PLUGIN=marketing", env=fresh)
    flow.lendkit(tenant, "backup")
    with flow.serving(tenant) as url:
        health = httpx.get(f"{url}/healthz")
        ready = httpx.get(f"{url}/readyz")
        home = httpx.get(f"{url}/")
        served_logo = httpx.get(f"{url}/branding/logo")
    own_tests = subprocess.run(
        ["make", "test"],
        cwd=tenant,
        env=fresh,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert health.json()["version"] == VERSION
    assert ready.status_code == 200, ready.text
    assert "Custom home" in home.text
    assert "新名字" in home.text
    assert '<img class="logo" src="/branding/logo?v=' in home.text
    assert (served_logo.status_code, served_logo.content) == (200, LOGO)
    assert served_logo.headers["content-type"] == "image/png"
    current = flow.lendkit(tenant, "db", "current").stdout
    assert re.search(r"^marketing\s+m0001\s+head m0001\s+current \(enabled\)", current, re.M)
    assert 'name = "lendkit-marketing"' in (tenant / "uv.lock").read_text(encoding="utf-8")
    assert own_tests.returncode == 0, own_tests.stdout[-3000:] + own_tests.stderr[-3000:]
    assert re.search(r"\b\d+ passed\b", own_tests.stdout), own_tests.stdout[-2000:]
    assert " failed" not in own_tests.stdout
    # Generating, customizing and testing the tenant never wrote into the kit's kernel.
    assert digests(kit / "kernel") == kernel_before
    assert flow.git(kit, "status", "--porcelain", "--", "kernel") == ""


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
def test_a_git_url_kit_source_pins_kernel_and_plugins_to_the_release_commit(kit, tmp_path):
    url = "https://git.example.com/vendor/lendkit.git"
    dest = flow.copy_tenant(
        kit, tmp_path / "gitten", kit_source=url, plugins="[marketing]", install_now="false"
    )

    sources = tomllib.loads((dest / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"][
        "sources"
    ]
    commit = flow.git(kit, "rev-parse", f"{TAG}^{{commit}}").strip()
    assert sources["lendkit"] == {"git": url, "rev": commit}
    assert sources["lendkit-marketing"] == {
        "git": url,
        "subdirectory": "plugins/marketing",
        "rev": commit,
    }


@pytest.mark.slow
def test_a_kit_folder_outside_git_is_installed_from_the_folder_as_it_is(kit, tmp_path):
    folder = tmp_path / "kit-folder"
    flow.run(["git", "clone", "--quiet", "--depth=1", f"file://{kit}", str(folder)], tmp_path)
    flow.run(["rm", "-rf", str(folder / ".git")], tmp_path)
    dest = flow.copy_tenant(folder, tmp_path / "plain", install_now="false")

    sources = tomllib.loads((dest / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"][
        "sources"
    ]
    assert sources["lendkit"] == {"path": str(folder), "editable": True}
    assert sources["lendkit-marketing"] == {"path": f"{folder}/plugins/marketing"}


# -- copier update: one release to the next, in a real clone of the kit -------------

TENANT_NOTE = "\n## Our notes\n\nThe on-call phone list is in the shared drive.\n"
NEXT_README_LINE = "The lending system of **{{ tenant_name }}** (`{{ tenant_slug }}`), generated"
NEXT_QUESTION = """
support_hours:
  type: str
  help: When the customer's staff answer borrowers (shown in the operator README)
  default: "09:00-18:00 Beijing time"
"""
NEXT_MIGRATION = """_migrations:
  - version: {tag}
    command: >-
      "{{{{ _copier_python }}}}" "{{{{ _copier_conf.src_path }}}}/tenant_template/_copier/tenant_tasks.py"
      rename-setting backup.keep backup.keep_last
"""


def make_release(repo: Path) -> None:
    """`make release` without its lint and test run: the checks, then the tag."""
    flow.run([sys.executable, str(repo / "scripts" / "release.py"), "tag"], repo)


def next_version(version: str) -> str:
    major, minor, _ = (int(part) for part in version.split("."))
    return f"{major}.{minor + 1}.0"


def release_next(repo: Path) -> str:
    """The next release of the kit, as its maintainers make one; its version.

    The kernel renames backup.keep and says so; the template follows (a
    _migrations entry), shows a new answer in the README and asks for it.
    """
    version = next_version(release.kit_version(repo))
    init = repo / "kernel" / "lendkit" / "__init__.py"
    text, bumped = re.subn(
        r'^__version__ = "[^"]+"$', f'__version__ = "{version}"', init.read_text(), flags=re.M
    )
    assert bumped == 1
    init.write_text(text)
    changelog = repo / "CHANGELOG.md"
    changelog.write_text(
        changelog.read_text().replace(
            "\n## ", f"\n## {version}\n\nbackup.keep is now backup.keep_last.\n\n## ", 1
        )
    )
    settings = repo / "kernel" / "lendkit" / "settings.py"
    text, renamed = re.subn(
        r"^(\s+)keep: int = ", r"\1keep_last: int = ", settings.read_text(), flags=re.M
    )
    assert renamed == 1, "the Backup settings changed: update this test's next release"
    settings.write_text(text)
    for module in (repo / "kernel" / "lendkit").rglob("*.py"):
        source = module.read_text()
        if "settings.backup.keep" in source:
            module.write_text(
                re.sub(r"settings\.backup\.keep\b", "settings.backup.keep_last", source)
            )
    readme = repo / "tenant_template" / "README.md.jinja"
    text = readme.read_text()
    assert NEXT_README_LINE in text
    readme.write_text(
        text.replace(
            NEXT_README_LINE,
            NEXT_README_LINE.replace("generated", "support {{ support_hours }}; generated"),
        )
    )
    config = repo / "copier.yml"
    text = config.read_text()
    assert text.count("_migrations:\n") == 1
    config.write_text(
        text.replace("_migrations:\n", NEXT_MIGRATION.format(tag=f"v{version}")) + NEXT_QUESTION
    )
    flow.commit_all(repo, f"lendkit {version}: backup.keep is backup.keep_last; support hours")
    make_release(repo)
    return version


@pytest.mark.slow
def test_update_to_the_next_release_moves_kernel_and_template_and_keeps_the_tenants_edits(
    tmp_path,
):
    repo = flow.clone_kit(tmp_path / "kit-clone")
    make_release(repo)  # this version's release, in the clone
    tenant = flow.copy_tenant(repo, tmp_path / "acme", plugins="[marketing]")
    flow.git(tenant, "init", "--quiet", "--initial-branch=main")
    flow.commit_all(tenant, f"tenant from lendkit {TAG}")
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
    new = release_next(repo)
    # Pinned: the kit moved on, the tenant still runs the release it was generated from.
    assert installed_kit_version(tenant) == VERSION

    flow.copier("update", "--trust", "--defaults", cwd=tenant)

    text = readme.read_text(encoding="utf-8")
    settings = config.read_text(encoding="utf-8")
    answers = yaml.safe_load((tenant / ".copier-answers.yml").read_text(encoding="utf-8"))
    sources = tomllib.loads((tenant / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"][
        "sources"
    ]
    commit = flow.git(repo, "rev-parse", f"v{new}^{{commit}}").strip()
    assert "support 09:00-18:00 Beijing time; generated" in text  # the template's change
    assert text.endswith(TENANT_NOTE)  # the tenant's edit, same file
    assert "<<<<<<<" not in text + settings
    assert "# fewer copies on this small disk\nkeep_last = 24\n" in settings
    assert re.search(r"^keep\s*=", settings, re.M) is None
    assert (answers["_commit"], answers["support_hours"]) == (f"v{new}", "09:00-18:00 Beijing time")
    assert sources["lendkit"]["rev"] == sources["lendkit-marketing"]["rev"] == commit
    # The tenant's venv runs the new kernel: its version, and its renamed setting.
    assert installed_kit_version(tenant) == new
    assert (
        tenant_python(
            tenant,
            "from lendkit.settings import load_settings; print(load_settings().backup.keep_last)",
        )
        == "24"
    )
    with flow.serving(tenant) as url:
        assert httpx.get(f"{url}/healthz").json()["version"] == new
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
