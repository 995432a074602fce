"""Reconciliation: channel statement ↔ payment orders ↔ ledger, per channel and day.

For one channel and business date, each line of the channel's statement is
matched to our payment order by order number, and each order to its
journal entry (found by its idempotency key, not through the order's own
pointer, so the three sources are checked independently):

* **matched** — same amount, both sides final and agreeing, ledger posted;
* ``missing_ours`` — the channel moved money for an order we do not have;
* ``missing_theirs`` — we confirmed an order (result date = that day) the
  statement does not list;
* ``amount_mismatch`` — the statement's amount differs from the order's, or
  the ledger's booked amount differs from what the channel moved;
* ``status_mismatch`` — the channel says succeeded where we say failed or in
  transit, or failed where we say confirmed or in transit.

Every mismatch becomes a row in the exceptions queue (once per channel,
date, kind and order, however often reconciliation reruns). Resolving one is
an audited action (:func:`resolve`) that posts balanced entries when money
moves; an open exception that a later run no longer finds is closed by the
system, on record. Each run is kept with its counts: the summary per channel
per day is the latest run, and it books the channel's fees for the day
(:func:`book_fees`).

A daily file may hold a million lines, so the work is set-based: the lines
are stored with one COPY (PostgreSQL), the file's SM3 digest is OpenSSL's
where available, and the database matches all lines in one query that
returns only the mismatches (bench/reconcile.py: 1,000,000 lines well
within 30 s, in little memory).

Where to look: ``models`` (the statement, run, exception and resolution
tables), ``statements`` (importing a statement file), ``matching`` (the
set-based match and the exceptions queue), ``fees`` (booking the channel's
fees), ``resolution`` (settling an exception), ``run`` (a day's
reconciliation, the ``reconcile-daily`` job), ``summaries`` (what the runs
found, what is still open). The names below are the package's public face.
"""

from __future__ import annotations

from lendkit.clearing.reconcile.fees import book_fees, fee_cause, fees_booked
from lendkit.clearing.reconcile.matching import match
from lendkit.clearing.reconcile.models import (
    ACTIONS,
    KINDS,
    ChannelStatement,
    ChannelStatementLine,
    ReconException,
    ReconResolution,
    ReconRun,
)
from lendkit.clearing.reconcile.resolution import resolve
from lendkit.clearing.reconcile.run import ChannelUnavailable, reconcile, reconcile_yesterday
from lendkit.clearing.reconcile.statements import import_statement
from lendkit.clearing.reconcile.summaries import Summary, exceptions, summary

__all__ = [
    "ACTIONS",
    "KINDS",
    "ChannelStatement",
    "ChannelStatementLine",
    "ChannelUnavailable",
    "ReconException",
    "ReconResolution",
    "ReconRun",
    "Summary",
    "book_fees",
    "exceptions",
    "fee_cause",
    "fees_booked",
    "import_statement",
    "match",
    "reconcile",
    "reconcile_yesterday",
    "resolve",
    "summary",
]
