"""Acceptance: after the demo seeds borrowers, no ID, mobile or card number is readable
in the database file, a PostgreSQL dump, the logs or a backup."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from lendkit.testing import free_port
from lendkit_demo.people import demo_people
from lendkit_demo.plugin import BOOK_BORROWERS
from lendkit_demo.tenant import demo_plugins
from sqlalchemy.engine import make_url


def _secrets():
    people = demo_people(BOOK_BORROWERS)
    return [value.encode() for p in people for value in (p.phone, p.id_number, p.bank_card, p.name)]


def _leaks(blob: bytes) -> list[bytes]:
    return [value for value in _secrets() if value in blob]


@pytest.fixture
def demo_tenant(make_tenant):
    return make_tenant(plugins=demo_plugins())


@pytest.fixture
def seeded(demo_tenant, runtime):
    with runtime.sessions.begin() as session:
        runtime.pm.hook.seed_demo(session=session, settings=runtime.settings)
    return runtime


def test_the_database_holds_no_personal_data_in_clear(seeded, lendkit_cli, tmp_path):
    url = make_url(seeded.settings.database_url)
    if url.get_backend_name() == "sqlite":
        seeded.close()  # flush the WAL; the files are read raw below
        files = Path(url.database).parent.glob(Path(url.database).name + "*")
        blob = b"".join(f.read_bytes() for f in files)
    else:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            pytest.skip("pg_dump not installed")
        dump = subprocess.run(
            [
                pg_dump,
                "--dbname",
                url.set(drivername="postgresql").render_as_string(hide_password=False),
            ],
            capture_output=True,
            check=True,
        )
        blob = dump.stdout
        assert b"COPY public.borrower" in blob  # the dump really holds the table
    assert len(blob) > 10_000
    assert _leaks(blob) == []


def test_backups_hold_no_personal_data_in_clear(seeded, lendkit_cli):
    if make_url(seeded.settings.database_url).get_backend_name() != "sqlite" and not shutil.which(
        "pg_dump"
    ):
        pytest.skip("pg_dump not installed")
    result = lendkit_cli("backup")
    assert result.returncode == 0, result.stderr
    backup = Path(result.stdout.strip().rsplit(" ", 1)[-1])
    assert backup.stat().st_size > 10_000
    assert _leaks(backup.read_bytes()) == []


def test_server_logs_mask_personal_data(seeded, tmp_path):
    person = demo_people(1)[0]
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "lendkit", "serve", "--port", str(port)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        for value in (person.phone, person.id_number, person.bank_card):
            response = httpx.get(f"http://127.0.0.1:{port}/api/lookup/{value}")
            assert response.status_code in (401, 404)
    finally:
        server.terminate()
        _, logs = server.communicate(timeout=20)
    assert f"/api/lookup/{person.phone[:3]}****{person.phone[-4:]}".encode() in logs
    assert _leaks(logs) == []
