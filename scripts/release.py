"""``make release``: tag the kit's version as a release (stdlib only, runs with python3).

The kit's version is ``__version__`` in ``kernel/lendkit/__init__.py`` (the
one place it is kept; pyproject.toml reads it). A release is the annotated
git tag ``v<version>`` on a commit of ``main``: Copier takes the kit's tags as
the tenant template's versions, and a tenant pins the commit of the tag it was
generated from (docs/tenants.md, "Releasing the kit").

``check``
    The work tree is clean, HEAD is on ``main`` (``$RELEASE_BRANCH``
    overrides), the version is a plain release number (Copier skips
    pre-releases) above every release tagged so far, and ``CHANGELOG.md`` has
    a section ``## <version>``.
``tag``
    The same checks, then the tag. ``make release`` runs ``check``, lint and
    the test suite, then ``tag``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

VERSION_FILE = Path("kernel/lendkit/__init__.py")
CHANGELOG = Path("CHANGELOG.md")
_VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.M)
_RELEASE = re.compile(r"\d+\.\d+\.\d+")


class ReleaseError(Exception):
    """A check that failed: one line saying what is wrong and what to do."""


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - git with our own arguments
        ["git", *args],  # noqa: S607 - git from PATH
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise ReleaseError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def kit_version(root: Path) -> str:
    """``__version__`` of the kernel, read as hatch reads it."""
    found = _VERSION.search((root / VERSION_FILE).read_text(encoding="utf-8"))
    if not found:
        raise ReleaseError(f'{VERSION_FILE} has no line __version__ = "X.Y.Z"')
    return found.group(1)


def _number(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def check(root: Path) -> str:
    """Every check of a release; the tag it would create."""
    version = kit_version(root)
    tag = f"v{version}"
    if not _RELEASE.fullmatch(version):
        raise ReleaseError(
            f"version {version!r} in {VERSION_FILE} is not a release number like 1.4.0 "
            "(Copier ignores pre-releases): set it, commit, then release"
        )
    if _git(root, "status", "--porcelain"):
        raise ReleaseError("the work tree has uncommitted changes: commit or stash them first")
    branch = os.environ.get("RELEASE_BRANCH", "main")
    current = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    if current != branch:
        raise ReleaseError(f"HEAD is on {current!r}, not {branch!r}: release from {branch}")
    tags = _git(root, "tag", "--list", "v*").split()
    if tag in tags:
        raise ReleaseError(
            f"{tag} is tagged already: raise __version__ in {VERSION_FILE} for the next release"
        )
    released = [t[1:] for t in tags if _RELEASE.fullmatch(t[1:])]
    newest = max(released, key=_number, default=None)
    if newest is not None and _number(version) <= _number(newest):
        raise ReleaseError(
            f"version {version} is not above the newest release v{newest}: "
            f"raise __version__ in {VERSION_FILE}"
        )
    changelog = root / CHANGELOG
    heading = re.compile(rf"^## \[?v?{re.escape(version)}\]?(\s|$)", re.M)
    if not changelog.is_file() or not heading.search(changelog.read_text(encoding="utf-8")):
        raise ReleaseError(f"{CHANGELOG} has no section '## {version}': describe the release")
    return tag


def tag(root: Path) -> str:
    """Check, then create the annotated tag on HEAD."""
    name = check(root)
    _git(root, "tag", "--annotate", name, "--message", f"lendkit {name[1:]}")
    return name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release", description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["check", "tag"])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    try:
        if args.step == "check":
            print(f"release: {check(args.root)} can be tagged")
        else:
            name = tag(args.root)
            print(f"release: tagged {name}; publish it with `git push origin {name}`")
    except ReleaseError as exc:
        print(f"release: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
