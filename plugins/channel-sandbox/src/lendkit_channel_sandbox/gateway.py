"""A fake payment gateway on loopback that behaves like a real one.

Run it on its own::

    python -m lendkit_channel_sandbox.gateway --port 8765 --secret sandbox-demo-secret

or start it from a test (``SandboxGateway(config).start()`` picks a free
port). The merchant API is signed (see :mod:`lendkit_channel_sandbox.signing`)
and documented in the plugin's README; results arrive asynchronously by
signed callback after ``callback_delay`` seconds, failed deliveries are
retried, and every callback is sent ``duplicate_callbacks`` extra times on
purpose. Magic card numbers choose the outcome (see :data:`MAGIC_CARDS`).

The ``/sandbox/...`` endpoints are the test desk: change the behaviour,
finish an order by hand, put faults into a day's statement. They are not
signed: bind the gateway to loopback only.

The gateway keeps its orders in memory and never stores or logs the account
holder's name or the full card number (only the last four digits).
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar
from urllib.parse import urlsplit

from lendkit.clock import china_now, china_today
from lendkit.vendorkit.fake import FakeConfig, FakeVendor, FakeVendorHandler, parse_command_line
from lendkit.vendorkit.loopback import LOOPBACK

from lendkit_channel_sandbox import signing
from lendkit_channel_sandbox.statement import StatementRow, render

__all__ = ["MAGIC_CARDS", "GatewayConfig", "SandboxGateway", "main"]


# Last four digits of the card -> what happens (any other card succeeds).
MAGIC_CARDS: dict[str, tuple[str, str]] = {
    "0051": ("FAIL", "INSUFFICIENT_BALANCE"),  # 余额不足 (withholding) / 备付金不足 (payout)
    "0062": ("FAIL", "CARD_FROZEN"),  # 卡片冻结
    "0014": ("REJECT", "INVALID_CARD"),  # refused at once: 卡号无效
    "0099": ("PENDING", ""),  # stays PROCESSING until /sandbox/orders/{no}/complete
}
MESSAGES = {
    "INSUFFICIENT_BALANCE": "余额不足 insufficient balance",
    "CARD_FROZEN": "卡片已冻结 card frozen",
    "INVALID_CARD": "卡号无效 invalid card number",
}
TYPES = ("PAYOUT", "WITHHOLD")
AMOUNT_RE = re.compile(r"^[1-9]\d{0,11}\.\d{2}$|^0\.(0[1-9]|[1-9]\d)$")


@dataclass
class GatewayConfig(FakeConfig):
    secret: str = "sandbox-demo-secret"  # noqa: S105 - the documented sandbox key
    payout_fee: Decimal = Decimal("1.00")
    withhold_fee: Decimal = Decimal("0.50")
    settle_date: date | None = None  # None: today in China

    def today(self) -> date:
        return self.settle_date or china_today()

    def change(self, key: str, value: Any) -> None:
        if key == "settle_date":
            self.settle_date = date.fromisoformat(value) if value else None
        elif key in ("payout_fee", "withhold_fee"):
            setattr(self, key, Decimal(str(value)))
        else:
            super().change(key, value)

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "settle_date": self.today().isoformat()}


@dataclass
class Order:
    merchant_order_no: str
    gateway_ref: str
    type: str
    amount: Decimal
    card_tail: str
    notify_url: str
    status: str = "PROCESSING"  # PROCESSING | SUCCESS | FAIL | REJECTED
    error_code: str = ""
    settle_date: date | None = None
    finished_at: str = ""
    submitted: dict[str, Any] = field(default_factory=dict)  # the first answer, for duplicates

    def public(self) -> dict[str, Any]:
        return {
            "merchant_order_no": self.merchant_order_no,
            "gateway_ref": self.gateway_ref,
            "type": self.type,
            "amount": f"{self.amount:.2f}",
            "status": self.status,
            "error_code": self.error_code,
            "error_message": MESSAGES.get(self.error_code, ""),
            "settle_date": self.settle_date.isoformat() if self.settle_date else None,
            "finished_at": self.finished_at or None,
        }


@dataclass
class Faults:
    """Deliberate differences between a day's statement and the truth."""

    omit: set[str] = field(default_factory=set)
    amounts: dict[str, Decimal] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    duplicate: set[str] = field(default_factory=set)
    extra: list[StatementRow] = field(default_factory=list)


class SandboxGateway(FakeVendor[GatewayConfig]):
    """The gateway's state and behaviour; :meth:`start` serves it over HTTP."""

    scheme = signing.SCHEME
    callback_path = signing.NOTIFY_PATH
    callback_timeout = 5.0

    def __init__(
        self, config: GatewayConfig | None = None, host: str = LOOPBACK, port: int = 0
    ) -> None:
        super().__init__(config or GatewayConfig(), host, port)
        self.orders: dict[str, Order] = {}
        self.faults: dict[date, Faults] = {}

    # -- the merchant API --------------------------------------------------------

    def submit(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``POST /v1/payments``: accept (or refuse) an order; idempotent by order number."""
        number = str(payload.get("merchant_order_no") or "")
        kind = payload.get("type")
        amount_text = str(payload.get("amount") or "")
        card = str(payload.get("card_no") or "")
        notify_url = str(payload.get("notify_url") or "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{6,64}", number):
            return 400, {"code": "BAD_REQUEST", "message": "merchant_order_no: 6-64 [A-Za-z0-9_-]"}
        if kind not in TYPES:
            return 400, {"code": "BAD_REQUEST", "message": "type: PAYOUT or WITHHOLD"}
        if not AMOUNT_RE.match(amount_text):
            return 400, {"code": "BAD_REQUEST", "message": "amount: positive, two decimals"}
        if not card.isdigit() or not 12 <= len(card) <= 19 or not payload.get("account_name"):
            return 400, {"code": "BAD_REQUEST", "message": "account_name and card_no required"}
        if urlsplit(notify_url).scheme not in ("http", "https"):
            return 400, {"code": "BAD_REQUEST", "message": "notify_url: an http(s) URL"}
        amount = Decimal(amount_text)
        with self.lock:
            existing = self.orders.get(number)
            if existing is not None:
                same = (existing.type, existing.amount, existing.card_tail) == (
                    kind,
                    amount,
                    card[-4:],
                )
                if not same:
                    return 409, {
                        "code": "DUPLICATE_ORDER_NO",
                        "message": "order number used for a different payment",
                    }
                return 200, {**existing.submitted, "duplicate": True}
            order = Order(
                merchant_order_no=number,
                gateway_ref=f"SBX{secrets.token_hex(8).upper()}",
                type=kind,
                amount=amount,
                card_tail=card[-4:],
                notify_url=notify_url,
            )
            outcome, code = MAGIC_CARDS.get(order.card_tail, ("SUCCESS", ""))
            if outcome == "REJECT":
                order.status, order.error_code = "REJECTED", code
                order.submitted = {
                    "code": "REJECTED",
                    "gateway_ref": order.gateway_ref,
                    "status": "FAIL",
                    "error_code": code,
                    "error_message": MESSAGES.get(code, ""),
                }
            else:
                order.submitted = {
                    "code": "ACCEPTED",
                    "gateway_ref": order.gateway_ref,
                    "status": "PROCESSING",
                }
            self.orders[number] = order
            answer = dict(order.submitted)
        if outcome in ("SUCCESS", "FAIL"):
            self.later(self.config.callback_delay, lambda: self.complete(number, outcome, code))
        return 200, answer

    def query(self, number: str) -> tuple[int, dict[str, Any]]:
        """``GET /v1/payments/{no}``."""
        missing = {"code": "ORDER_NOT_FOUND", "message": "no such order"}
        return self.answer(self.orders, number, missing)

    def complete(
        self, number: str, status: str, error_code: str = "", *, notify: bool = True
    ) -> dict[str, Any] | None:
        """Finish a processing order (SUCCESS or FAIL) and call the merchant back."""

        def settle(order: Order) -> None:
            order.status = status
            order.error_code = error_code if status == "FAIL" else ""
            order.settle_date = self.config.today()
            order.finished_at = china_now().isoformat(timespec="seconds")

        return self.finish(self.orders, number, settle, notify=notify)

    def callback_for(self, number: str) -> tuple[str, dict[str, Any]]:
        order = self.orders[number]
        return order.notify_url, {**order.public(), "notify_id": f"N{order.gateway_ref}"}

    def statement(self, day: date) -> str | None:
        """``GET /v1/statements/{day}``: the CSV file, or None before the day has begun."""
        if day > self.config.today():
            return None
        with self.lock:
            finished = [
                o
                for o in self.orders.values()
                if o.settle_date == day and o.status in ("SUCCESS", "FAIL")
            ]
            finished.sort(key=lambda o: (o.finished_at, o.merchant_order_no))
            faults = self.faults.get(day, Faults())
            rows: list[StatementRow] = []
            for order in finished:
                if order.merchant_order_no in faults.omit:
                    continue
                status = faults.statuses.get(order.merchant_order_no, order.status)
                row = StatementRow(
                    settle_date=day,
                    merchant_order_no=order.merchant_order_no,
                    gateway_ref=order.gateway_ref,
                    type=order.type,
                    amount=faults.amounts.get(order.merchant_order_no, order.amount),
                    fee=self._fee(order.type) if status == "SUCCESS" else Decimal("0.00"),
                    status=status,
                    error_code=order.error_code if status == "FAIL" else "",
                    finished_at=order.finished_at,
                )
                rows.append(row)
                if order.merchant_order_no in faults.duplicate:
                    rows.append(replace(row, gateway_ref=f"{row.gateway_ref}R"))
            rows += faults.extra
        return render(rows)

    def _fee(self, kind: str) -> Decimal:
        return self.config.payout_fee if kind == "PAYOUT" else self.config.withhold_fee

    # -- the test desk ------------------------------------------------------------

    def add_faults(self, day: date, spec: dict[str, Any]) -> None:
        """``POST /sandbox/statements/{day}/faults``: see the README."""
        with self.lock:
            faults = self.faults.setdefault(day, Faults())
            faults.omit |= set(spec.get("omit", []))
            faults.duplicate |= set(spec.get("duplicate", []))
            faults.amounts |= {k: Decimal(str(v)) for k, v in spec.get("amounts", {}).items()}
            faults.statuses |= dict(spec.get("statuses", {}))
            for extra in spec.get("extra", []):
                faults.extra.append(
                    StatementRow(
                        settle_date=day,
                        merchant_order_no=str(extra["merchant_order_no"]),
                        gateway_ref=str(extra.get("gateway_ref", f"SBX{secrets.token_hex(8)}")),
                        type=str(extra.get("type", "WITHHOLD")),
                        amount=Decimal(str(extra["amount"])),
                        fee=Decimal(str(extra.get("fee", "0.00"))),
                        status=str(extra.get("status", "SUCCESS")),
                        error_code=str(extra.get("error_code", "")),
                        finished_at=str(
                            extra.get("finished_at", china_now().isoformat(timespec="seconds"))
                        ),
                    )
                )


class _Handler(FakeVendorHandler):
    vendor: ClassVar[SandboxGateway]
    server_version = "SandboxGateway/1.0"
    text_type = "text/csv; charset=utf-8"

    def do_GET(self) -> None:
        body = b""
        path = urlsplit(self.path).path
        if path.startswith("/sandbox/orders"):
            with self.vendor.lock:
                listed = [o.public() for o in self.vendor.orders.values()]
            self.send(200, {"orders": listed})
            return
        if not self.signed(body):
            return
        if match := re.fullmatch(r"/v1/payments/([A-Za-z0-9_-]+)", path):
            self.send(*self.vendor.query(match.group(1)))
        elif match := re.fullmatch(r"/v1/statements/(\d{4}-\d{2}-\d{2})", path):
            text = self.vendor.statement(date.fromisoformat(match.group(1)))
            if text is None:
                self.send(404, {"code": "STATEMENT_NOT_READY", "message": "try again later"})
            else:
                self.send(200, text)
        else:
            self.send(404, {"code": "NOT_FOUND", "message": path})

    def do_POST(self) -> None:
        body = self.body()
        path = urlsplit(self.path).path
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("a JSON object is expected")
        except ValueError as exc:
            self.send(400, {"code": "BAD_REQUEST", "message": f"body: {exc}"})
            return
        try:
            if path == "/sandbox/config":
                self.send(200, self.vendor.configure(payload))
                return
            if match := re.fullmatch(r"/sandbox/orders/([A-Za-z0-9_-]+)/complete", path):
                done = self.vendor.complete(
                    match.group(1),
                    str(payload.get("status", "SUCCESS")),
                    str(payload.get("error_code", "")),
                    notify=bool(payload.get("notify", True)),
                )
                if done is None:
                    self.send(409, {"code": "NOT_PROCESSING", "message": "unknown or finished"})
                else:
                    self.send(200, done)
                return
            if match := re.fullmatch(r"/sandbox/orders/([A-Za-z0-9_-]+)/notify", path):
                self.vendor.notify(match.group(1))
                self.send(200, {"code": "OK"})
                return
            if match := re.fullmatch(r"/sandbox/statements/(\d{4}-\d{2}-\d{2})/faults", path):
                self.vendor.add_faults(date.fromisoformat(match.group(1)), payload)
                self.send(200, {"code": "OK"})
                return
        except (ValueError, KeyError, InvalidOperation) as exc:
            self.send(400, {"code": "BAD_REQUEST", "message": str(exc)})
            return
        if not self.signed(body):
            return
        if path == "/v1/payments":
            self.send(*self.vendor.submit(payload))
        else:
            self.send(404, {"code": "NOT_FOUND", "message": path})


SandboxGateway.handler = _Handler


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox gateway until interrupted."""
    summary = __doc__.splitlines()[0] if __doc__ else ""
    config, host, port = parse_command_line(argv, GatewayConfig(), description=summary, port=8765)
    banner = "sandbox gateway listening on {url} (merchant {merchant})"
    SandboxGateway(config, host, port).serve_until_interrupted(banner)


if __name__ == "__main__":
    main()
