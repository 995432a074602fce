"""Bad input never reaches a 500 (issue 9, item 7).

Every route of the app's route table, with every plugin enabled, is sent
what a careless or hostile client sends — a body that is not UTF-8, JSON
nested 5,000 levels deep, an amount of ``"1e309"`` or a megabyte of digits,
integers beyond any database column, ids beyond int64 — anonymously, as a
borrower who has a loan, and as an administrator. Every answer is below
500, and every refusal is a problem document with a code. Then the routes a
new user meets first are checked for the specific code each input gets.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import httpx
import pytest
from lendkit.auth.testing import borrower_headers, staff_headers
from lendkit.clearing.money import parse_amount
from lendkit.errors import ValidationFailed
from lendkit.lifecycle import booking
from lendkit.testing import SAMPLE_PRODUCTS
from lendkit.testing.factories import add_capital, disbursed_loan
from lendkit.web.app import create_app
from lendkit.web.bodies import MAX_DEPTH, BodyRefused, decode_json, nesting_depth
from lendkit_channel_sandbox.testing import sandbox_tenant_on
from lendkit_demo.people import demo_people

PLUGINS = (
    "channel-sandbox",
    "identity-sandbox",
    "bureau-sandbox",
    "esign-sandbox",
    "sms-sandbox",
    "demo",
    "marketing",
)
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
JSON = {"content-type": "application/json"}

# Every field a kit body reads as an amount, a count, a version or a date.
FIELDS = (
    "amount",
    "annual_income",
    "min_amount",
    "max_amount",
    "term",
    "base_version",
    "date",
    "annual_rate",
)


def _every_field(value: object) -> bytes:
    body = {name: value for name in FIELDS}
    body |= {"idempotency_key": f"sweep-{uuid.uuid4().hex[:12]}", "product_code": "consumer-12"}
    body |= {"method": "equal-installment", "channel": "sandbox"}
    return json.dumps(body).encode()


# What a new user tries (issue 9, item 7), as raw bodies.
BODIES: dict[str, bytes] = {
    "not_utf8": b'{"phone": "\xc3\x28", "amount": "\xff\xfe"}',
    "latin1": '{"username": "caf\xe9", "password": "x"}'.encode("latin-1"),
    "deep_arrays": b"[" * 5000 + b"]" * 5000,
    "deep_objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "not_json": b"{amount: 1e309",
    "huge_exponent": _every_field("1e309"),
    "exponent_number": b'{"amount": 1e309, "term": 1e400}',
    "megabyte_of_digits": _every_field("9" * 1_000_000),
    "many_digits": _every_field("9" * 100_000),
    "beyond_int64": _every_field(2**64 + 1),
    "huge_integer": _every_field(10**300),
    "negative": _every_field("-1e309"),
    "a_list": b"[1, 2, 3]",
}
IDS = ("9223372036854775808", "99999999999999999999999", "0", "-1")
QUERIES = (
    {"limit": "99999999999999999999", "offset": "99999999999999999999"},
    {"limit": "-1", "offset": "-1"},
    {"limit": "abc", "offset": "1e309"},
)
_PARAM = re.compile(r"\{(\w+):(\w+)\}")


@dataclass
class Sweep:
    base: str
    routes: list[tuple[str, str]]  # (method, path template)
    loan_id: int
    borrower_id: int
    runtime: object


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sweep(request, tmp_path_factory) -> Iterator[Sweep]:
    with sandbox_tenant_on(
        request.param,
        tmp_path_factory.mktemp("bad-input"),
        plugins=PLUGINS,
        products=[dict(p) for p in SAMPLE_PRODUCTS],
    ) as tenant:
        runtime = tenant.runtime
        someone = demo_people(1, seed=9007)[0]
        day = date.today()
        with runtime.sessions.begin() as session:
            add_capital(session, "own", Decimal("1000000"), day, f"capital:{uuid.uuid4()}")
            person = someone.verified_borrower()
            session.add(person)
            session.flush()
            loan = disbursed_loan(
                session,
                runtime,
                booking.Terms(
                    borrower_id=person.id,
                    product_code="consumer-12",
                    principal=Decimal("12000.00"),
                    term=12,
                    method="equal-installment",
                    annual_rate=Decimal("0.1090"),
                ),
                channel="sandbox",
                key=f"book:{uuid.uuid4()}",
                day=day,
            )
            ids = (loan.id, person.id)
        routes = sorted(
            (method, route.path)
            for route in create_app(runtime).routes
            for method in getattr(route, "methods", ())
            if method not in {"OPTIONS", "HEAD"}
        )
        yield Sweep(tenant.app_url, routes, ids[0], ids[1], runtime)


def _path(template: str, loan_id: int, int_value: str | None = None) -> str:
    def one(match: re.Match[str]) -> str:
        _, kind = match.groups()
        if kind == "int":
            return int_value if int_value is not None else str(loan_id)
        return "x"

    return _PARAM.sub(one, template)


def _who(sweep: Sweep, principal: str) -> dict[str, str]:
    if principal == "borrower":
        return borrower_headers(sweep.runtime, sweep.borrower_id)
    if principal == "admin":
        return staff_headers(sweep.runtime, "admin")
    return {}


def _checked(response: httpx.Response, what: str, failures: list[str]) -> None:
    status = response.status_code
    if status >= 500:
        failures.append(f"{what}: {status} {response.text[:200]}")
    elif status >= 400:
        kind = response.headers.get("content-type", "")
        if (
            status == 404
            and kind.startswith("text/html")
            and what.split()[1].startswith("/schema/")
        ):
            return  # the docs router's own page for a docs page it does not have, for browsers
        if not kind.startswith("application/problem+json") or "code" not in response.json():
            failures.append(f"{what}: {status} without a problem document ({kind})")


@pytest.mark.parametrize("principal", ["anonymous", "borrower", "admin"])
def test_no_route_answers_bad_input_with_a_5xx(sweep, principal):
    failures: list[str] = []
    with httpx.Client(base_url=sweep.base, timeout=60) as http:
        for method, template in sweep.routes:
            headers = _who(sweep, principal)  # fresh: a sign-out on the way ends only its own
            if method in BODY_METHODS:
                path = _path(template, sweep.loan_id)
                for name, body in BODIES.items():
                    response = http.request(method, path, content=body, headers={**headers, **JSON})
                    _checked(response, f"{method} {path} [{name}]", failures)
            if _PARAM.search(template) and ":int}" in template:
                for value in IDS:
                    path = _path(template, sweep.loan_id, value)
                    response = http.request(method, path, headers=headers, json={})
                    _checked(response, f"{method} {path}", failures)
            if method == "GET":
                path = _path(template, sweep.loan_id)
                for query in QUERIES:
                    response = http.get(path, params=query, headers=headers)
                    _checked(response, f"GET {path}?{query}", failures)
    assert not failures, "\n".join(failures)


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == code, body
    assert re.search(r"[\u4e00-\u9fff]", str(body["detail"])), "the detail has no Chinese"
    assert re.search(r"[A-Za-z]{3}", str(body["detail"])), "the detail has no English"
    return body


@pytest.mark.parametrize(
    "path", ["/api/auth/staff/login", "/api/auth/borrower/login", "/api/auth/borrower/otp"]
)
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (BODIES["not_utf8"], 400, "body_not_utf8"),
        (BODIES["latin1"], 400, "body_not_utf8"),
        (BODIES["deep_arrays"], 400, "body_too_deep"),
        (BODIES["deep_objects"], 400, "body_too_deep"),
        (BODIES["not_json"], 400, "body_not_json"),
        (BODIES["exponent_number"], 400, "body_number_out_of_range"),
        (BODIES["megabyte_of_digits"], 413, "body_too_large"),
        (b'{"phone": 13800138000}', 422, "validation_failed"),
    ],
)
def test_sign_in_routes_name_what_is_wrong_with_the_body(sweep, path, body, status, code):
    response = httpx.post(f"{sweep.base}{path}", content=body, headers=JSON)
    _problem(response, status, code)


@pytest.mark.parametrize(
    ("amount", "status", "code"),
    [
        ("1e309", 422, "amount_invalid"),
        ("9" * 100_000, 422, "amount_invalid"),
        ("9" * 1_000_000, 413, "body_too_large"),
        ("NaN", 422, "amount_invalid"),
        ("-5.00", 422, "amount_invalid"),
        (2**70, 422, "amount_invalid"),
    ],
)
def test_a_repayment_amount_out_of_all_range_is_refused(sweep, amount, status, code):
    body = {"amount": amount, "idempotency_key": f"repay-{uuid.uuid4().hex[:10]}"}
    response = httpx.post(
        f"{sweep.base}/api/borrowers/me/loans/{sweep.loan_id}/repayments",
        content=json.dumps(body),
        headers={**borrower_headers(sweep.runtime, sweep.borrower_id), **JSON},
    )
    _problem(response, status, code)


@pytest.mark.parametrize("amount", ["1e309", "9" * 100_000, "Infinity", 2**70])
def test_an_application_amount_out_of_all_range_is_refused(sweep, amount):
    body = {
        "product_code": "consumer-12",
        "amount": amount,
        "annual_income": "120000.00",
        "term": 12,
        "method": "equal-installment",
        "idempotency_key": f"apply-{uuid.uuid4().hex[:10]}",
    }
    response = httpx.post(
        f"{sweep.base}/api/borrowers/me/applications",
        json=body,
        headers=borrower_headers(sweep.runtime, sweep.borrower_id),
    )
    _problem(response, 422, "invalid_amount")


@pytest.mark.parametrize("value", ["9223372036854775808", "99999999999999999999999", "0", "-1"])
def test_an_id_beyond_the_database_is_not_found(sweep, value):
    me = borrower_headers(sweep.runtime, sweep.borrower_id)
    for path in (
        f"/api/borrowers/me/loans/{value}",
        f"/api/borrowers/me/applications/{value}",
        f"/api/loans/{value}",
    ):
        headers = me if "/me/" in path else staff_headers(sweep.runtime, "admin")
        _problem(httpx.get(f"{sweep.base}{path}", headers=headers), 404, "id_out_of_range")


def test_an_id_beyond_the_database_asks_an_anonymous_caller_to_sign_in_first(sweep):
    response = httpx.get(f"{sweep.base}/api/loans/99999999999999999999999")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/no/such/page", 404, "not_found"),
        ("DELETE", "/healthz", 405, "method_not_allowed"),
        ("POST", "/api/products", 405, "method_not_allowed"),
    ],
)
def test_the_frameworks_own_problems_are_bilingual(sweep, method, path, status, code):
    response = httpx.request(method, f"{sweep.base}{path}")
    body = _problem(response, status, code)
    assert " / " in str(body["title"])
    if status == 405:
        assert "GET" in response.headers["allow"]


# -- The parts, directly ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": []}]}', 3),
        (b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 1),
        (b'["\\"[[[[", "\\\\"]', 1),  # an escaped quote does not end the string
        (b"[" * 65 + b"]" * 65, 65),
        (b"[[]]" * 100, 2),  # many brackets, little depth
    ],
)
def test_nesting_is_counted_outside_strings_without_parsing(body, depth):
    counted = nesting_depth(body)
    if depth > MAX_DEPTH:
        assert counted == depth
    else:
        assert counted <= MAX_DEPTH


def test_a_body_nested_a_million_deep_is_refused_before_decoding():
    with pytest.raises(BodyRefused) as refused:
        decode_json(b"[" * 1_000_000)
    assert refused.value.code == "body_too_deep"


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("1066.19", "1066.19"), (" 12 ", "12.00"), (5, "5.00"), (Decimal("7.10"), "7.10")],
)
def test_an_amount_is_read_exactly(value, parsed):
    assert parse_amount(value) == Decimal(parsed)


@pytest.mark.parametrize(
    "value",
    [
        "1e309",
        "1E3",
        "NaN",
        "Infinity",
        "-5",
        "0",
        "12.345",
        "1,000.00",
        ".5",
        "5.",
        "+5",
        "9" * 16,
        "9" * 1_000_000,
        "１２３",  # full-width digits
        12.5,
        True,
        None,
        [],
        10**16,
        Decimal("1e309"),
        Decimal("NaN"),
        Decimal("0.001"),
    ],
)
def test_an_amount_out_of_form_or_range_is_a_bilingual_422(value):
    with pytest.raises(ValidationFailed) as refused:
        parse_amount(value, name="amount", label="还款金额", code="amount_invalid")
    assert (refused.value.status, refused.value.code) == (422, "amount_invalid")
    assert "还款金额" in refused.value.detail
    assert "amount" in refused.value.detail
