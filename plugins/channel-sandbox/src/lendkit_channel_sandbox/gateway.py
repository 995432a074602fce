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

import argparse
import heapq
import itertools
import json
import logging
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from lendkit_channel_sandbox import signing
from lendkit_channel_sandbox.statement import StatementRow, render

__all__ = ["MAGIC_CARDS", "GatewayConfig", "SandboxGateway", "main"]

log = logging.getLogger(__name__)
CHINA = timezone(timedelta(hours=8), "CST")

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
class GatewayConfig:
    merchant_id: str = "LENDKIT-DEMO"
    secret: str = "sandbox-demo-secret"  # noqa: S105 - the documented sandbox key
    callback_delay: float = 0.5  # seconds from submission to the result callback
    duplicate_callbacks: int = 1  # extra copies of every callback, on purpose
    callback_attempts: int = 5  # deliveries tried until the merchant answers 2xx
    callback_retry_interval: float = 1.0
    payout_fee: Decimal = Decimal("1.00")
    withhold_fee: Decimal = Decimal("0.50")
    settle_date: date | None = None  # None: today in China

    def today(self) -> date:
        return self.settle_date or datetime.now(CHINA).date()


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
    callbacks_delivered: int = 0
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


class _Scheduler:
    """One thread running delayed jobs in time order."""

    def __init__(self) -> None:
        self._jobs: list[tuple[float, int, Callable[[], object]]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="sandbox-callbacks", daemon=True)
        self._thread.start()

    def later(self, delay: float, job: Callable[[], object]) -> None:
        with self._wake:
            heapq.heappush(self._jobs, (time.monotonic() + delay, next(self._counter), job))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._jobs or self._jobs[0][0] > time.monotonic()):
                    timeout = self._jobs[0][0] - time.monotonic() if self._jobs else None
                    self._wake.wait(timeout)
                if self._stopped:
                    return
                _, _, job = heapq.heappop(self._jobs)
            try:
                job()
            except Exception:
                log.exception("sandbox gateway job failed")


class SandboxGateway:
    """The gateway's state and behaviour; :meth:`start` serves it over HTTP."""

    def __init__(
        self, config: GatewayConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or GatewayConfig()
        self.host, self.port = host, port
        self.orders: dict[str, Order] = {}
        self.faults: dict[date, Faults] = {}
        self.callback_log: list[tuple[str, int]] = []  # (order no, HTTP status or 0)
        self._lock = threading.RLock()
        self._nonces = signing.NonceCache()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._scheduler: _Scheduler | None = None

    # -- lifecycle --------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxGateway:
        gateway = self

        class Handler(_Handler):
            pass

        Handler.gateway = gateway
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._scheduler = _Scheduler()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-gateway",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxGateway:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

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
        with self._lock:
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
            self._later(self.config.callback_delay, lambda: self.complete(number, outcome, code))
        return 200, answer

    def query(self, number: str) -> tuple[int, dict[str, Any]]:
        """``GET /v1/payments/{no}``."""
        with self._lock:
            order = self.orders.get(number)
            if order is None:
                return 404, {"code": "ORDER_NOT_FOUND", "message": "no such order"}
            return 200, order.public()

    def complete(
        self, number: str, status: str, error_code: str = "", *, notify: bool = True
    ) -> dict[str, Any] | None:
        """Finish a processing order (SUCCESS or FAIL) and call the merchant back."""
        with self._lock:
            order = self.orders.get(number)
            if order is None or order.status != "PROCESSING":
                return None
            order.status = status
            order.error_code = error_code if status == "FAIL" else ""
            order.settle_date = self.config.today()
            order.finished_at = datetime.now(CHINA).isoformat(timespec="seconds")
            body = order.public()
        if notify:
            self.notify(number)
        return body

    def notify(self, number: str) -> None:
        """Send the order's result to the merchant now (plus the configured duplicates)."""
        self._later(0, lambda: self._deliver(number, 1, self.config.duplicate_callbacks))

    def statement(self, day: date) -> str | None:
        """``GET /v1/statements/{day}``: the CSV file, or None before the day has begun."""
        if day > self.config.today():
            return None
        with self._lock:
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

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """``POST /sandbox/config``: change the behaviour while running."""
        for key, value in changes.items():
            if key in ("callback_delay", "callback_retry_interval"):
                setattr(self.config, key, float(value))
            elif key in ("duplicate_callbacks", "callback_attempts"):
                setattr(self.config, key, int(value))
            elif key == "settle_date":
                self.config.settle_date = date.fromisoformat(value) if value else None
            elif key in ("payout_fee", "withhold_fee"):
                setattr(self.config, key, Decimal(str(value)))
            else:
                raise ValueError(f"unknown setting {key!r}")
        return {
            "callback_delay": self.config.callback_delay,
            "duplicate_callbacks": self.config.duplicate_callbacks,
            "settle_date": self.config.today().isoformat(),
        }

    def add_faults(self, day: date, spec: dict[str, Any]) -> None:
        """``POST /sandbox/statements/{day}/faults``: see the README."""
        with self._lock:
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
                            extra.get(
                                "finished_at", datetime.now(CHINA).isoformat(timespec="seconds")
                            )
                        ),
                    )
                )

    # -- callbacks -------------------------------------------------------------

    def _later(self, delay: float, job: Callable[[], object]) -> None:
        if self._scheduler is None:  # not serving: run inline (unit use)
            job()
        else:
            self._scheduler.later(delay, job)

    def _deliver(self, number: str, attempt: int, duplicates: int) -> None:
        with self._lock:
            order = self.orders[number]
            body = json.dumps(
                {**order.public(), "notify_id": f"N{order.gateway_ref}"}, separators=(",", ":")
            ).encode()
            url = order.notify_url
        status = _post(url, body, self.config.merchant_id, self.config.secret)
        with self._lock:
            self.callback_log.append((number, status))
            if 200 <= status < 300:
                order.callbacks_delivered += 1
        if 200 <= status < 300:
            if duplicates > 0:
                self._later(0.02, lambda: self._deliver(number, 1, duplicates - 1))
        elif attempt < self.config.callback_attempts:
            self._later(
                self.config.callback_retry_interval,
                lambda: self._deliver(number, attempt + 1, duplicates),
            )


def _post(url: str, body: bytes, merchant: str, secret: str) -> int:
    headers = signing.signed_headers(merchant, secret, "POST", signing.NOTIFY_PATH, body)
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked at submission
        url, data=body, headers={**headers, "Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


class _Handler(BaseHTTPRequestHandler):
    gateway: SandboxGateway
    server_version = "SandboxGateway/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # Never the bodies; method, path and status only.
        log.debug("sandbox gateway %s", format % args)

    def _send(self, status: int, payload: dict[str, Any] | str) -> None:
        if isinstance(payload, str):
            data, kind = payload.encode(), "text/csv; charset=utf-8"
        else:
            data, kind = json.dumps(payload, ensure_ascii=False).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _signed(self, body: bytes) -> bool:
        config = self.gateway.config
        try:
            signing.verify(
                config.secret,
                dict(self.headers.items()),
                self.command,
                self.path,
                body,
                merchant=config.merchant_id,
                nonces=self.gateway._nonces,
            )
        except signing.SignatureError as exc:
            self._send(401, {"code": "BAD_SIGNATURE", "message": str(exc)})
            return False
        return True

    def do_GET(self) -> None:
        body = b""
        path = urlsplit(self.path).path
        if path.startswith("/sandbox/orders"):
            with self.gateway._lock:
                listed = [o.public() for o in self.gateway.orders.values()]
            self._send(200, {"orders": listed})
            return
        if not self._signed(body):
            return
        if match := re.fullmatch(r"/v1/payments/([A-Za-z0-9_-]+)", path):
            self._send(*self.gateway.query(match.group(1)))
        elif match := re.fullmatch(r"/v1/statements/(\d{4}-\d{2}-\d{2})", path):
            text = self.gateway.statement(date.fromisoformat(match.group(1)))
            if text is None:
                self._send(404, {"code": "STATEMENT_NOT_READY", "message": "try again later"})
            else:
                self._send(200, text)
        else:
            self._send(404, {"code": "NOT_FOUND", "message": path})

    def do_POST(self) -> None:
        body = self._body()
        path = urlsplit(self.path).path
        try:
            payload = json.loads(body or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("a JSON object is expected")
        except ValueError as exc:
            self._send(400, {"code": "BAD_REQUEST", "message": f"body: {exc}"})
            return
        try:
            if path == "/sandbox/config":
                self._send(200, self.gateway.configure(payload))
                return
            if match := re.fullmatch(r"/sandbox/orders/([A-Za-z0-9_-]+)/complete", path):
                done = self.gateway.complete(
                    match.group(1),
                    str(payload.get("status", "SUCCESS")),
                    str(payload.get("error_code", "")),
                    notify=bool(payload.get("notify", True)),
                )
                if done is None:
                    self._send(409, {"code": "NOT_PROCESSING", "message": "unknown or finished"})
                else:
                    self._send(200, done)
                return
            if match := re.fullmatch(r"/sandbox/orders/([A-Za-z0-9_-]+)/notify", path):
                self.gateway.notify(match.group(1))
                self._send(200, {"code": "OK"})
                return
            if match := re.fullmatch(r"/sandbox/statements/(\d{4}-\d{2}-\d{2})/faults", path):
                self.gateway.add_faults(date.fromisoformat(match.group(1)), payload)
                self._send(200, {"code": "OK"})
                return
        except (ValueError, KeyError, InvalidOperation) as exc:
            self._send(400, {"code": "BAD_REQUEST", "message": str(exc)})
            return
        if not self._signed(body):
            return
        if path == "/v1/payments":
            self._send(*self.gateway.submit(payload))
        else:
            self._send(404, {"code": "NOT_FOUND", "message": path})


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox gateway until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--merchant-id", default=GatewayConfig.merchant_id)
    parser.add_argument("--secret", default=GatewayConfig.secret)
    parser.add_argument("--callback-delay", type=float, default=GatewayConfig.callback_delay)
    parser.add_argument("--duplicate-callbacks", type=int, default=1)
    args = parser.parse_args(argv)
    config = GatewayConfig(
        merchant_id=args.merchant_id,
        secret=args.secret,
        callback_delay=args.callback_delay,
        duplicate_callbacks=args.duplicate_callbacks,
    )
    gateway = SandboxGateway(config, args.host, args.port).start()
    print(f"sandbox gateway listening on {gateway.url} (merchant {config.merchant_id})")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        gateway.stop()


if __name__ == "__main__":
    main()
