"""Schema migrations: the kernel's Alembic branch plus one branch per plugin.

Every installed plugin's migrations are known to Alembic, so revisions of a
disabled plugin still resolve and its tables stay; ``upgrade`` moves only
the kernel and the enabled plugins to their heads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine

from lendkit.errors import StartupError
from lendkit.plugins import installed_plugins

__all__ = ["KERNEL_BRANCH", "BranchStatus", "downgrade", "status", "upgrade"]

KERNEL_BRANCH = "kernel"
SCRIPT_LOCATION = Path(__file__).parent / "migrations"


@dataclass(frozen=True, slots=True)
class BranchStatus:
    """Where one branch (the kernel or a plugin) stands in this database."""

    branch: str
    current: str | None
    head: str
    enabled: bool

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _branch_locations() -> dict[str, Path]:
    locations = {KERNEL_BRANCH: SCRIPT_LOCATION / "versions"}
    for name, plugin in installed_plugins().items():
        versions = plugin.migrations_dir()
        if versions is not None:
            locations[name] = versions
    return locations


def _config(connection: Connection, locations: Iterable[Path]) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(p) for p in locations))
    config.attributes["connection"] = connection
    return config


def _branch_head(script: ScriptDirectory, branch: str) -> str:
    try:
        head = script.get_revision(f"{branch}@head")
    except CommandError as exc:
        raise StartupError(
            f"migrations of {branch!r} must carry branch_labels = ({branch!r},): {exc}"
        ) from None
    assert head is not None
    return head.revision


def status(engine: Engine, enabled: Iterable[str]) -> list[BranchStatus]:
    """The kernel's and every installed plugin's revision, current and head."""
    enabled = {KERNEL_BRANCH, *enabled}
    locations = _branch_locations()
    with engine.connect() as connection:
        script = ScriptDirectory.from_config(_config(connection, locations.values()))
        current = set(MigrationContext.configure(connection).get_current_heads())
    reached_all = _ancestors(script, current)
    result = []
    for branch in locations:
        head = _branch_head(script, branch)
        reached = next(
            (
                r.revision
                for r in script.iterate_revisions(head, "base")
                if r.revision in reached_all and branch in r.branch_labels
            ),
            None,
        )
        result.append(BranchStatus(branch, reached, head, branch in enabled))
    return result


def _ancestors(script: ScriptDirectory, heads: Iterable[str]) -> set[str]:
    """Revisions applied in a database whose version table holds ``heads``.

    Alembic keeps only heads in its table, and a plugin revision that
    ``depends_on`` the kernel hides the kernel's revision, so walk both
    parents and dependencies.
    """
    seen: set[str] = set()
    stack = list(heads)
    while stack:
        revision = script.get_revision(stack.pop())
        if revision is None or revision.revision in seen:
            continue
        seen.add(revision.revision)
        for parents in (revision.down_revision, revision.dependencies):
            for parent in (parents,) if isinstance(parents, str) else parents or ():
                stack.extend(r.revision for r in script.get_revisions(parent) if r is not None)
    return seen


def upgrade(engine: Engine, enabled: Iterable[str]) -> list[BranchStatus]:
    """Upgrade the kernel and each enabled plugin to its head; return the status."""
    enabled = list(enabled)
    locations = _branch_locations()
    targets = [KERNEL_BRANCH, *(name for name in enabled if name in locations)]
    with engine.begin() as connection:
        config = _config(connection, locations.values())
        for branch in targets:
            command.upgrade(config, f"{branch}@head")
    return status(engine, enabled)


def downgrade(engine: Engine, branch: str, target: str = "base") -> None:
    """Move ``branch`` down to ``target``: ``"base"`` removes it, or name a revision of it."""
    locations = _branch_locations()
    if branch not in locations:
        raise StartupError(f"no migrations for {branch!r} (known: {', '.join(locations)})")
    with engine.begin() as connection:
        command.downgrade(_config(connection, locations.values()), f"{branch}@{target}")
