"""Pages as a borrower's browser renders them: headless Debian Chromium on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from lendkit.testing import SAMPLE_PRODUCTS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser(tmp_path):
    if CHROMIUM is None:
        if os.environ.get("LENDKIT_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required here but not installed")
        pytest.skip("Chromium not installed (apt-get install chromium)")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    return run


@pytest.fixture
def tenant(make_tenant):
    return make_tenant(products=SAMPLE_PRODUCTS)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_home_page_renders_products_and_branding(browser, tenant, live_server):
    dom = browser("--dump-dom", f"{live_server}/").stdout
    assert "演示小贷" in dom
    assert "消费贷 Consumer instalment loan" in dom
    assert "10.90 %" in dom
    assert "--brand: #b4232a" in dom


@pytest.mark.parametrize("backend", ["sqlite"])
def test_home_page_screenshot_is_a_real_picture(browser, live_server, tmp_path):
    shot = tmp_path / "home.png"
    browser(f"--screenshot={shot}", "--window-size=1200,900", f"{live_server}/")
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG")
    assert len(data) > 10_000  # a blank page compresses to far less
