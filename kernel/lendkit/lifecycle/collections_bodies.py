"""The bodies of the collections routes as the OpenAPI schema shows them (see ``web/routes.py``)."""

from __future__ import annotations

from typing import Final

from lendkit.lifecycle import collection_cases, collection_contacts
from lendkit.web.schema import amount, nullable, obj, text

__all__ = ["ASSIGNMENT", "CONTACT", "NOTE", "PROMISE", "SEND_CONTACT", "WRITE_OFF"]

_NOTE = f"At most {collection_cases.MAX_TEXT} characters; masked before it is stored"

ASSIGNMENT: Final = obj(
    "Give the loan's case to a collector",
    collector=nullable(text("A staff username; null takes the case back")),
    note=text(_NOTE, max_length=collection_cases.MAX_TEXT),
)

NOTE: Final = obj(
    "A note on the loan's case (never changed or deleted)",
    required=("text",),
    text=text(_NOTE, max_length=collection_cases.MAX_TEXT),
)

CONTACT: Final = obj(
    "A contact made now, by hand",
    required=("channel", "outcome"),
    channel=text("How", enum=collection_contacts.CHANNELS),
    outcome=text("What came of it", enum=tuple(sorted(collection_contacts.OUTCOMES))),
    note=text(_NOTE, max_length=collection_cases.MAX_TEXT),
)

SEND_CONTACT: Final = obj(
    "Reach the borrower through an SMS or call plugin",
    required=("channel",),
    channel=text("How", enum=collection_contacts.PLUGIN_CHANNELS),
)

PROMISE: Final = obj(
    "The borrower's promise to pay",
    required=("amount", "date"),
    amount=amount("What the borrower promised (at most what the loan owes)", "500.00"),
    date=text("By when, YYYY-MM-DD", pattern=r"^\d{4}-\d{2}-\d{2}$", example="2026-03-01"),
)

WRITE_OFF: Final = obj(
    "Ask for the loan's write-off; someone else approves it",
    required=("reason",),
    reason=text(_NOTE, max_length=collection_cases.MAX_TEXT),
)
