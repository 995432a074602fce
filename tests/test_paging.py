"""List endpoints page (issue 9, item 7): each says its total and where the next
page is, instead of stopping silently at a hundred."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import httpx
import pytest
from lendkit.auth.testing import staff_headers
from lendkit.errors import ValidationFailed
from lendkit.lifecycle import booking
from lendkit.testing.factories import borrower
from lendkit.web import paging
from lendkit.web.paging import Window, page_of_list


def _window(limit: str | None = None, offset: str | None = None, query=()) -> Window:
    class Url:
        path = "/api/things"

    class Request:
        url = Url()

    Url.query = "&".join(f"{k}={v}" for k, v in query)
    return paging.provide_window(Request(), limit, offset)  # type: ignore[arg-type]


def test_a_window_defaults_to_the_first_page_of_fifty():
    window = _window()
    assert (window.limit, window.offset) == (paging.DEFAULT, 0) == (50, 0)


@pytest.mark.parametrize(
    ("limit", "offset"),
    [
        ("0", None),
        ("201", None),
        ("-1", None),
        ("abc", None),
        ("1e3", None),
        ("٣", None),  # a digit, but not an ASCII one
        (None, "-1"),
        (None, "1e309"),
        (None, "99999999999999999999"),
        (None, "1000000001"),
    ],
)
def test_a_window_out_of_range_is_a_specific_422(limit, offset):
    with pytest.raises(ValidationFailed) as refused:
        _window(limit, offset)
    assert refused.value.code == "page_invalid"
    assert "须为" in refused.value.detail
    assert "must be" in refused.value.detail


def test_next_keeps_the_filters_and_moves_the_offset_on():
    window = _window("2", "4", query=[("status", "active"), ("limit", "2"), ("offset", "4")])
    assert window.next_url(total=7) == "/api/things?status=active&limit=2&offset=6"
    assert window.next_url(total=6) is None


def test_a_list_pages_whole_and_says_its_total():
    items = list(range(5))
    first = page_of_list(_window("2"), items)
    last = page_of_list(_window("2", "4"), items)
    assert first == {
        "items": [0, 1],
        "total": 5,
        "limit": 2,
        "offset": 0,
        "next": "/api/things?limit=2&offset=2",
    }
    assert (last["items"], last["next"]) == ([4], None)
    assert page_of_list(_window("2", "10"), items)["items"] == []


def _book(runtime, count: int) -> list[int]:
    ids = []
    with runtime.sessions.begin() as session:
        for n in range(count):
            loan = booking.book(
                session,
                runtime,
                booking.Terms(
                    borrower_id=borrower(session, 7000 + n),
                    product_code="cash",
                    principal=Decimal("1000.00"),
                    term=3,
                    method="equal-installment",
                    annual_rate=Decimal("0.12"),
                ),
                idempotency_key=f"book:{uuid.uuid4()}",
                business_date=date(2026, 1, 5),
            )
            ids.append(loan.id)
    return ids


def test_the_loan_list_says_its_total_and_following_next_reaches_every_loan(runtime, live_server):
    booked = _book(runtime, 7)
    staff = staff_headers(runtime, "finance")
    seen: list[int] = []
    url: str | None = "/api/loans?status=booked&limit=3"
    pages = 0
    while url is not None:
        page = httpx.get(f"{live_server}{url}", headers=staff).json()
        assert page["total"] == 7
        assert page["limit"] == 3
        seen += [loan["id"] for loan in page["items"]]
        url = page["next"]
        pages += 1
        if url is not None:
            assert "status=booked" in url
    assert pages == 3
    assert seen == sorted(booked, reverse=True)  # newest first, each exactly once
    none = httpx.get(f"{live_server}/api/loans?status=active", headers=staff).json()
    assert (none["items"], none["total"], none["next"]) == ([], 0, None)


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "offset=-1", "limit=ten"])
def test_a_bad_page_of_loans_is_a_bilingual_422(runtime, live_server, query):
    response = httpx.get(
        f"{live_server}/api/loans?{query}", headers=staff_headers(runtime, "finance")
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "page_invalid"
