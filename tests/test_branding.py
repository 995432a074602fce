"""The tenant's logo: validated in the settings, served at /branding/logo, shown in the header."""

from __future__ import annotations

import re
import struct
import zlib

import httpx
import pytest
from lendkit.errors import StartupError
from lendkit.settings import load_settings

# Logos do not depend on the database: one backend is enough.
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"])


def png(red: int) -> bytes:
    """A real 1×1 PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes([0, red, 0x23, 0x2A]))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def logo_tenant(make_tenant, tmp_path):
    logo = tmp_path / "tenant" / "branding" / "logo.png"
    logo.parent.mkdir(parents=True)
    logo.write_bytes(png(0xB4))
    make_tenant(tenant={"display_name": "阿克米小贷", "logo": "branding/logo.png"})
    return logo


@sqlite_only
def test_the_home_page_shows_the_logo_and_its_url_serves_the_files_bytes(logo_tenant, live_server):
    home = httpx.get(f"{live_server}/")
    image = re.search(r'<img class="logo" src="([^"]+)"', home.text)
    assert image is not None, home.text[:2000]
    assert image.group(1).startswith("/branding/logo?v=")

    served = httpx.get(f"{live_server}{image.group(1)}")
    stable = httpx.get(f"{live_server}/branding/logo")

    assert served.status_code == stable.status_code == 200
    assert served.content == stable.content == logo_tenant.read_bytes()
    assert served.headers["content-type"] == "image/png"
    assert served.headers["cache-control"] == "public, max-age=86400"
    assert served.headers["x-content-type-options"] == "nosniff"
    again = httpx.get(
        f"{live_server}/branding/logo", headers={"If-None-Match": served.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")


@sqlite_only
def test_a_replaced_logo_is_served_at_once_under_a_new_entity_tag(logo_tenant, live_server):
    before = httpx.get(f"{live_server}/branding/logo")
    logo_tenant.write_bytes(png(0x10))

    after = httpx.get(
        f"{live_server}/branding/logo", headers={"If-None-Match": before.headers["etag"]}
    )

    assert after.status_code == 200
    assert after.content == png(0x10)
    assert after.headers["etag"] != before.headers["etag"]


@pytest.fixture
def svg_tenant(make_tenant, tmp_path):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>'
    (tmp_path / "tenant").mkdir()
    (tmp_path / "tenant" / "logo.svg").write_bytes(svg)
    make_tenant(tenant={"logo": "logo.svg"})
    return svg


@sqlite_only
def test_an_svg_logo_is_served_as_svg_that_can_run_nothing(svg_tenant, live_server):
    response = httpx.get(f"{live_server}/branding/logo")

    assert response.status_code == 200
    assert response.content == svg_tenant
    assert response.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in response.headers["content-security-policy"]


@sqlite_only
def test_without_a_logo_the_header_has_no_image_and_the_url_is_a_bilingual_404(live_server):
    home = httpx.get(f"{live_server}/")
    missing = httpx.get(f"{live_server}/branding/logo")

    assert home.status_code == 200
    assert "<img" not in home.text
    assert missing.status_code == 404
    assert missing.json()["code"] == "logo_not_found"
    assert " / " in missing.json()["detail"]


@pytest.fixture
def logo_not_copied(make_tenant):
    make_tenant(tenant={"logo": "branding/logo.png"})


@sqlite_only
def test_a_logo_set_but_not_copied_yet_shows_no_image(logo_not_copied, live_server):
    assert "<img" not in httpx.get(f"{live_server}/").text
    assert httpx.get(f"{live_server}/branding/logo").status_code == 404


@pytest.mark.parametrize(
    ("logo", "message"),
    [
        ("../outside.png", "inside the tenant folder"),
        ("branding/../../outside.png", "inside the tenant folder"),
        ("/etc/logo.png", "inside the tenant folder"),
        ("branding\\..\\logo.png", "inside the tenant folder"),
        ("lendkit.toml", "an image file"),
        ("keys/master.key", "an image file"),
    ],
)
def test_a_logo_outside_the_tenant_folder_or_not_an_image_stops_start_up(tmp_path, logo, message):
    config = tmp_path / "lendkit.toml"
    config.write_text(f"[tenant]\nlogo = {logo!r}\n".replace("'", '"').replace("\\", "\\\\"))

    with pytest.raises(StartupError) as refused:
        load_settings(config)

    assert "tenant.logo" in refused.value.detail
    assert message in refused.value.detail
