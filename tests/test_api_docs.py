"""The API describes itself (issue 9, item 7): every request body in the OpenAPI
schema is described, list endpoints document their paging, the products on
offer are listed, and the docs page works offline — its scripts are the
kit's own static files, shipped in the wheel."""

from __future__ import annotations

import hashlib
import inspect
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import httpx
import pytest
from lendkit.web import apidocs
from lendkit.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
EVERY_PLUGIN = [
    "channel-sandbox",
    "identity-sandbox",
    "bureau-sandbox",
    "esign-sandbox",
    "sms-sandbox",
    "demo",
    "marketing",
]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# src= and href= of the tags a browser fetches by itself.
_FETCHED = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)=[\"']([^\"']*)[\"']", re.I
)


@pytest.fixture
def every_plugin(make_tenant):
    return make_tenant(plugins=EVERY_PLUGIN)


def _schema(runtime) -> dict:
    return create_app(runtime).openapi_schema.to_schema()


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                yield method.upper(), path, operation


def _resolved(schema: dict, node: dict) -> dict:
    ref = node.get("$ref")
    if ref is None:
        return node
    found = schema
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return found


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_request_body_in_the_schema_is_described(every_plugin, runtime):
    schema = _schema(runtime)
    bodies = 0
    for method, path, operation in _operations(schema):
        body = operation.get("requestBody")
        if body is None:
            continue
        for media_type, content in body["content"].items():
            shown = _resolved(schema, content.get("schema") or {})
            bodies += 1
            assert shown, f"{method} {path}: the {media_type} body is shown as {{}}"
            assert shown.get("properties") or shown.get("type"), f"{method} {path}: {shown}"
            if shown.get("type") == "object":
                named = shown.get("description") or shown.get("title")
                assert named, f"{method} {path}: a body with neither title nor description"
                assert shown.get("properties"), f"{method} {path}: an object with no fields"
    assert bodies >= 25


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_route_that_reads_a_body_shows_it_in_the_schema(every_plugin, runtime):
    app = create_app(runtime)
    schema = app.openapi_schema.to_schema()
    missing = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not handler.resolve_include_in_schema():
                continue
            reads = {"data", "body"} & set(inspect.signature(handler.fn).parameters)
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                operation = schema["paths"][re.sub(r":\w+}", "}", route.path)][method.lower()]
                if reads and "requestBody" not in operation:
                    missing.append(f"{method} {route.path}")
    assert not missing


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_application_body_describes_the_client_and_the_referral_code(every_plugin, runtime):
    schema = _schema(runtime)
    post = schema["paths"]["/api/borrowers/me/applications"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"product_code", "amount", "term", "method", "annual_income"} <= set(body["required"])
    assert body["properties"]["amount"]["pattern"] == r"^[0-9]{1,15}(\.[0-9]{1,2})?$"
    assert "pattern" in body["properties"]["referral_code"]
    client = body["properties"]["client"]["properties"]
    assert set(client) == {"device_id", "ip", "user_agent", "location", "app_version"}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_products_on_offer_and_every_list_endpoint_are_in_the_schema(every_plugin, runtime):
    schema = _schema(runtime)
    assert "get" in schema["paths"]["/api/products"]
    for path in (
        "/api/products",
        "/api/loans",
        "/api/borrowers/me/loans",
        "/api/borrowers/me/applications",
        "/api/applications/reviews",
        "/api/kyc/reviews",
        "/api/staff",
        "/api/collections/queue",
        "/api/consents/texts",
        "/api/marketing/coupons",
        "/api/sms-sandbox/messages",
    ):
        names = {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}
        assert {"limit", "offset"} <= names, path


def _fetched(html: str) -> list[str]:
    return _FETCHED.findall(html)


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("page", ["/schema", "/schema/redoc"])
def test_the_docs_page_loads_only_the_kits_own_files(live_server, page):
    response = httpx.get(f"{live_server}{page}")
    assert response.status_code == 200
    fetched = _fetched(response.text)
    assert apidocs.REDOC_JS in fetched
    external = [url for url in fetched if re.match(r"(?i)(https?:)?//", url)]
    assert not external, f"{page} fetches {external}"
    assert "fonts.googleapis" not in response.text
    for url in fetched:
        if url.startswith("/"):
            assert httpx.get(f"{live_server}{url}").status_code == 200, url


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_vendored_script_is_served_as_shipped_with_its_licence(live_server):
    vendored = apidocs.STATIC_DIR / "vendor" / "redoc"
    served = httpx.get(f"{live_server}{apidocs.REDOC_JS}")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/javascript")
    digest = hashlib.sha256(served.content).hexdigest()
    assert digest in (apidocs.STATIC_DIR / "vendor" / "README.md").read_text(encoding="utf-8")
    assert served.content == (vendored / "redoc.standalone.js").read_bytes()
    assert "MIT License" in (vendored / "LICENSE").read_text(encoding="utf-8")
    outside = httpx.get(f"{live_server}/static/../settings.py")
    assert outside.status_code == 404


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_docs_page_renders_in_a_browser_that_reaches_only_loopback(live_server, tmp_path):
    if CHROMIUM is None:
        pytest.skip("Chromium not installed (apt-get install chromium)")
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path / 'profile'}",
            # Every host but loopback fails to resolve: a CDN would leave the page blank.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            f"{live_server}/schema",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    ).stdout
    # Redoc drew the operations (the bare page has only the script and the schema).
    assert "Pay from the borrower's verified card" in dom
    assert 'class="redoc-wrap"' in dom or "redoc-wrap" in dom


@pytest.mark.slow
def test_the_kernel_wheel_ships_the_static_files(tmp_path):
    uv = ROOT / ".tools" / "bin" / "uv"
    command = str(uv) if uv.exists() else shutil.which("uv")
    if command is None:
        pytest.skip("uv is not installed (make install brings it)")
    subprocess.run(
        [command, "build", "--wheel", "--package", "lendkit", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("lendkit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (apidocs.STATIC_DIR / "vendor").rglob("*"):
        if path.is_file():
            inside = "lendkit/" + path.relative_to(apidocs.STATIC_DIR.parent).as_posix()
            assert inside in names, f"the wheel lacks {inside}"
