"""The web shell on a real server on loopback: probes, errors, request ids, plugin routes."""

from __future__ import annotations

import httpx


def test_healthz_answers_with_a_request_id(live_server):
    response = httpx.get(f"{live_server}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert len(response.headers["x-request-id"]) == 32


def test_a_plain_caller_request_id_is_kept_and_a_hostile_one_replaced(live_server):
    kept = httpx.get(f"{live_server}/healthz", headers={"x-request-id": "abc-123-def"})
    assert kept.headers["x-request-id"] == "abc-123-def"
    replaced = httpx.get(f"{live_server}/healthz", headers={"x-request-id": "x injected <script>"})
    assert replaced.headers["x-request-id"] != "x injected <script>"


def test_readyz_reports_each_check(live_server):
    response = httpx.get(f"{live_server}/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "migrations": "ok", "plugins": "ok"}


def test_unknown_path_is_a_problem_document_with_code_and_request_id(live_server):
    response = httpx.get(f"{live_server}/no/such/page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "not_found"
    assert body["status"] == 404
    assert body["request_id"] == response.headers["x-request-id"]


def test_openapi_schema_is_served(live_server):
    schema = httpx.get(f"{live_server}/schema/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    assert "/healthz" in schema["paths"]
