"""Online backups: SQLite's backup API, or ``pg_dump`` for PostgreSQL.

A backup is a consistent copy taken while the app serves; it holds personal
data only as ciphertext (the master key is never in it), so it can be
shipped off-site as is.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from lendkit.errors import StartupError

__all__ = ["backup_database", "prune"]


def backup_database(url: str, directory: Path, now: datetime | None = None) -> Path:
    """Write a timestamped backup of the database at ``url`` into ``directory``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    directory.mkdir(parents=True, exist_ok=True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        target = directory / f"lendkit-{stamp}.db"
        source = sqlite3.connect(parsed.database or "")
        copy = sqlite3.connect(target)
        with source, copy:
            source.backup(copy)
        source.close()
        copy.close()
        return target
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise StartupError("backup of PostgreSQL needs pg_dump on PATH")
    target = directory / f"lendkit-{stamp}.dump"
    libpq_url = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    subprocess.run(  # noqa: S603 - fixed argv, URL from the tenant's own settings
        [pg_dump, "--format=custom", f"--file={target}", f"--dbname={libpq_url}"],
        check=True,
        capture_output=True,
    )
    return target


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest backups; return what was removed."""
    backups = sorted(directory.glob("lendkit-*"), reverse=True)
    for old in backups[keep:]:
        old.unlink()
    return backups[keep:]
