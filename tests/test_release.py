"""The kit's version is kept in one place, and `make release` tags it only when it may."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import lendkit
import pytest

ROOT = Path(__file__).resolve().parents[1]
GIT = ["git", "-c", "user.name=lendkit tests", "-c", "user.email=tests@lendkit.invalid"]


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lendkit_release", ROOT / "scripts" / "release.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lendkit_release"] = module
    spec.loader.exec_module(module)
    return module


release = _load()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        [*GIT, *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


def write(repo: Path, version: str, changelog: str | None = None) -> None:
    init = repo / "kernel" / "lendkit" / "__init__.py"
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text(f'"""lendkit."""\n\n__version__ = "{version}"\n')
    text = changelog if changelog is not None else f"# Changelog\n\n## {version}\n\nThings.\n"
    (repo / "CHANGELOG.md").write_text(text)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A kit-shaped repository at 1.2.0 on main, committed, with the release 1.1.0 tagged."""
    # The annotated tag is made by the maintainer running the release.
    monkeypatch.setenv("GIT_COMMITTER_NAME", "lendkit maintainer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "maintainer@lendkit.invalid")
    git(tmp_path, "init", "--quiet", "--initial-branch=main")
    write(tmp_path, "1.1.0")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "--quiet", "-m", "1.1.0")
    git(tmp_path, "tag", "v1.1.0")
    write(tmp_path, "1.2.0")
    git(tmp_path, "commit", "--quiet", "-am", "1.2.0")
    return tmp_path


def refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> str:
    tags = git(repo, "tag", "--list")
    assert release.main(["tag", "--root", str(repo)]) == 1
    assert git(repo, "tag", "--list") == tags  # nothing tagged
    error = capsys.readouterr().err
    assert error.startswith("release: ")
    assert error.count("\n") == 1
    return error


def test_the_version_is_kept_in_the_kernel_alone_and_the_package_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["hatch"]["version"]["path"] == "kernel/lendkit/__init__.py"
    assert release.kit_version(ROOT) == lendkit.__version__
    assert importlib.metadata.version("lendkit") == lendkit.__version__


def test_this_version_of_the_kit_is_a_release_number_with_a_changelog_section():
    version = release.kit_version(ROOT)

    assert release._RELEASE.fullmatch(version)
    assert f"\n## {version}\n" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_a_clean_main_with_a_new_version_and_its_changelog_is_tagged(repo, capsys):
    assert release.main(["check", "--root", str(repo)]) == 0
    assert release.main(["tag", "--root", str(repo)]) == 0

    assert "tagged v1.2.0" in capsys.readouterr().out
    assert git(repo, "rev-parse", "v1.2.0^{commit}") == git(repo, "rev-parse", "HEAD")
    assert git(repo, "cat-file", "-t", "v1.2.0") == "tag"  # annotated
    assert git(repo, "tag", "--list", "v1.2.0", "--format=%(contents:subject)") == "lendkit 1.2.0"


def test_uncommitted_changes_are_refused(repo, capsys):
    (repo / "notes.txt").write_text("wip")

    assert "uncommitted changes" in refused(repo, capsys)


def test_a_branch_other_than_main_is_refused(repo, capsys):
    git(repo, "checkout", "--quiet", "-b", "feature")

    assert "not 'main'" in refused(repo, capsys)


def test_a_version_tagged_already_is_refused(repo, capsys):
    git(repo, "tag", "v1.2.0")

    assert "v1.2.0 is tagged already" in refused(repo, capsys)


def test_a_version_below_the_newest_release_is_refused(repo, capsys):
    git(repo, "tag", "v2.0.0", "v1.1.0")

    assert "not above the newest release v2.0.0" in refused(repo, capsys)


def test_a_version_without_a_changelog_section_is_refused(repo, capsys):
    write(repo, "1.2.0", changelog="# Changelog\n\n## 1.1.0\n\n## 1.2.01\n")
    git(repo, "commit", "--quiet", "-am", "changelog")

    assert "no section '## 1.2.0'" in refused(repo, capsys)


@pytest.mark.parametrize("version", ["1.2.0.dev1", "1.2.0rc1", "1.2", "1.2.0+local"])
def test_a_version_that_is_not_a_plain_release_number_is_refused(repo, capsys, version):
    write(repo, version)
    git(repo, "commit", "--quiet", "-am", version)

    assert "not a release number" in refused(repo, capsys)
