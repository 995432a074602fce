"""The sandbox gateway's daily statement file (对账单): layout, writer, parser.

UTF-8, comma-separated, ``\\n`` line ends, no quoting (no field holds a
comma). First line: the column names below. Then one line per order that
reached a final state on that settlement date, in the order they finished.
Last line: the trailer ``#TOTAL,<lines>,<succeeded lines>,<succeeded amount>``.

=================  =========================================================
column             meaning
=================  =========================================================
settle_date        settlement date, ``YYYY-MM-DD`` (China time)
merchant_order_no  the merchant's order number (lendkit's ``order_no``)
gateway_ref        the gateway's reference
type               ``PAYOUT`` (disbursement) or ``WITHHOLD`` (collection, 代扣)
amount             CNY, two decimals, positive
fee                the gateway's fee, CNY, two decimals (0.00 on failures)
status             ``SUCCESS`` or ``FAIL``
error_code         empty on success; e.g. ``INSUFFICIENT_BALANCE``
finished_at        ISO 8601 with offset
=================  =========================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

__all__ = ["COLUMNS", "StatementFormatError", "StatementRow", "parse", "render"]

COLUMNS = (
    "settle_date",
    "merchant_order_no",
    "gateway_ref",
    "type",
    "amount",
    "fee",
    "status",
    "error_code",
    "finished_at",
)
TRAILER = "#TOTAL"


class StatementFormatError(ValueError):
    """The file does not follow the documented layout."""


@dataclass(frozen=True, slots=True)
class StatementRow:
    settle_date: date
    merchant_order_no: str
    gateway_ref: str
    type: str  # PAYOUT | WITHHOLD
    amount: Decimal
    fee: Decimal
    status: str  # SUCCESS | FAIL
    error_code: str
    finished_at: str


def render(rows: Iterable[StatementRow]) -> str:
    rows = list(rows)
    lines = [",".join(COLUMNS)]
    for row in rows:
        lines.append(
            ",".join(
                (
                    row.settle_date.isoformat(),
                    row.merchant_order_no,
                    row.gateway_ref,
                    row.type,
                    f"{row.amount:.2f}",
                    f"{row.fee:.2f}",
                    row.status,
                    row.error_code,
                    row.finished_at,
                )
            )
        )
    succeeded = [row for row in rows if row.status == "SUCCESS"]
    total = sum((row.amount for row in succeeded), Decimal("0.00"))
    lines.append(f"{TRAILER},{len(rows)},{len(succeeded)},{total:.2f}")
    return "\n".join(lines) + "\n"


def _amount(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise StatementFormatError(f"{where}: {text!r} is not an amount") from None
    if value != value.quantize(Decimal("0.01")) or value < 0:
        raise StatementFormatError(f"{where}: {text!r} is not an amount in fen")
    return value


def parse(text: str) -> list[StatementRow]:
    """Parse and check a statement file: header, every field, and the trailer's totals."""
    lines = text.splitlines()
    if not lines or lines[0] != ",".join(COLUMNS):
        raise StatementFormatError("line 1: not the statement header")
    if len(lines) < 2 or not lines[-1].startswith(TRAILER + ","):
        raise StatementFormatError("the trailer line is missing (truncated file?)")
    rows: list[StatementRow] = []
    for number, line in enumerate(lines[1:-1], start=2):
        fields = line.split(",")
        if len(fields) != len(COLUMNS):
            raise StatementFormatError(f"line {number}: {len(fields)} fields, not {len(COLUMNS)}")
        values = dict(zip(COLUMNS, fields, strict=True))
        where = f"line {number}"
        try:
            settle_date = date.fromisoformat(values["settle_date"])
        except ValueError:
            raise StatementFormatError(f"{where}: bad settle_date") from None
        if values["type"] not in ("PAYOUT", "WITHHOLD") or values["status"] not in (
            "SUCCESS",
            "FAIL",
        ):
            raise StatementFormatError(f"{where}: bad type or status")
        if not values["merchant_order_no"]:
            raise StatementFormatError(f"{where}: merchant_order_no is empty")
        rows.append(
            StatementRow(
                settle_date=settle_date,
                merchant_order_no=values["merchant_order_no"],
                gateway_ref=values["gateway_ref"],
                type=values["type"],
                amount=_amount(values["amount"], where),
                fee=_amount(values["fee"], where),
                status=values["status"],
                error_code=values["error_code"],
                finished_at=values["finished_at"],
            )
        )
    trailer = lines[-1].split(",")
    succeeded = [row for row in rows if row.status == "SUCCESS"]
    total = sum((row.amount for row in succeeded), Decimal("0.00"))
    expected = [TRAILER, str(len(rows)), str(len(succeeded)), f"{total:.2f}"]
    if trailer != expected:
        raise StatementFormatError(
            f"trailer {','.join(trailer)!r} does not match the lines ({','.join(expected)})"
        )
    return rows
