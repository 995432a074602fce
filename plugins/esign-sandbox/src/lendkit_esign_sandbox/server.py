"""A fake e-signature vendor on loopback that behaves like a real one.

Run it on its own::

    python -m lendkit_esign_sandbox.server --port 8766 --secret sandbox-esign-secret

or start it from a test (``SandboxSigner(config).start()`` picks a free
port); the plugin starts one inside the app process when no URL is
configured. The merchant API is signed (:mod:`lendkit_esign_sandbox.signing`)
and documented in the plugin's README. A request is "signed" after
``callback_delay`` seconds (or by hand at the test desk when ``auto_sign``
is off): the server appends a visible stamp page, "沙箱电子签名 不具法律效力 /
SANDBOX E-SIGNATURE NOT LEGALLY VALID", as an *incremental update*, so the
signed file begins with the exact bytes it was given, and posts the result
to the merchant's ``notify_url`` with an HMAC-SM3 signature — retried until
answered 2xx, and sent ``duplicate_callbacks`` extra times on purpose.

The ``/sandbox/...`` endpoints are the test desk (change the behaviour,
finish or fail a signing by hand, resend a callback). They are not signed:
bind the server to loopback only. The server keeps everything in memory and
is given only the signer's masked name and ID number.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import heapq
import io
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
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from lendkit_esign_sandbox import signing

__all__ = ["SandboxSigner", "SignerConfig", "main", "stamp"]

log = logging.getLogger(__name__)
CHINA = timezone(timedelta(hours=8), "CST")
REQUEST_NO = re.compile(r"[A-Za-z0-9_-]{6,64}")
MAX_DOCUMENT = 8 * 1024 * 1024
FONT = "STSong-Light"  # ReportLab's built-in Simplified Chinese CID font: no font file


@dataclass
class SignerConfig:
    merchant_id: str = "LENDKIT-DEMO"
    secret: str = "sandbox-esign-secret"  # noqa: S105 - the documented sandbox key
    callback_delay: float = 0.3  # seconds from the request to the signature and its callback
    duplicate_callbacks: int = 1  # extra copies of every callback, on purpose
    callback_attempts: int = 5  # deliveries tried until the merchant answers 2xx
    callback_retry_interval: float = 1.0
    auto_sign: bool = True  # False: signings wait for /sandbox/signings/{no}/complete


@dataclass
class Signing:
    request_no: str
    sign_ref: str
    title: str
    document: bytes = field(repr=False)
    document_sm3: str
    signer: str  # masked name and ID number, as given
    notify_url: str
    status: str = "PROCESSING"  # PROCESSING | SIGNED | FAILED
    reason: str = ""
    signed: bytes | None = field(default=None, repr=False)
    signed_at: str = ""
    callbacks_delivered: int = 0
    answer: dict[str, Any] = field(default_factory=dict)

    def public(self, *, with_document: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "merchant_request_no": self.request_no,
            "sign_ref": self.sign_ref,
            "status": self.status,
            "reason": self.reason,
            "signed_at": self.signed_at or None,
            "document_sm3": signing.sm3_hex(self.signed) if self.signed else None,
            "sandbox": True,
        }
        if with_document:
            body["document"] = base64.b64encode(self.signed).decode() if self.signed else None
        return body


def stamp(document: bytes, *, title: str, signer: str, sign_ref: str, signed_at: str) -> bytes:
    """``document`` with a sandbox signature page appended as an incremental update."""
    from pypdf import PdfReader, PdfWriter
    from reportlab.lib.colors import Color
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    red = Color(0.75, 0.1, 0.1)
    page = io.BytesIO()
    sheet = canvas.Canvas(page, pagesize=A4)
    width, height = A4
    sheet.setTitle("Sandbox e-signature")
    sheet.setStrokeColor(red)
    sheet.setFillColor(red)
    sheet.setLineWidth(3)
    sheet.circle(width - 150, height - 190, 70)
    sheet.setFont(FONT, 15)
    sheet.drawCentredString(width - 150, height - 185, "沙箱签章")
    sheet.setFont("Helvetica-Bold", 9)
    sheet.drawCentredString(width - 150, height - 205, "SANDBOX")
    sheet.setFont(FONT, 20)
    sheet.drawString(60, height - 90, "电子签名沙箱 · 不具法律效力")
    sheet.setFont("Helvetica-Bold", 14)
    sheet.drawString(60, height - 115, "SANDBOX E-SIGNATURE - NOT LEGALLY VALID")
    sheet.setFillColorRGB(0.12, 0.14, 0.16)
    lines = [
        ("合同 Contract", title),
        ("签署人 Signer", signer),
        ("签署时间 Signed at", signed_at),
        ("签署流水 Reference", sign_ref),
        ("原文 SM3 Original SM3", signing.sm3_hex(document)),
    ]
    y = height - 290
    for label, value in lines:
        sheet.setFont(FONT, 10)
        sheet.drawString(60, y, label)
        sheet.setFont(FONT, 9)
        sheet.drawString(60, y - 14, value)
        y -= 38
    sheet.setFont(FONT, 9)
    sheet.drawString(
        60, 80, "本页由沙箱电子签约服务生成，仅供演示与测试，不是可靠的电子签名，不具法律效力。"
    )
    sheet.setFont("Helvetica", 8)
    sheet.drawString(
        60, 66, "Made by a sandbox e-signature service for demos and tests: no certificate, "
    )
    sheet.drawString(60, 56, "not a reliable electronic signature, no legal effect.")
    sheet.showPage()
    sheet.save()
    writer = PdfWriter(io.BytesIO(document), incremental=True)
    writer.add_page(PdfReader(io.BytesIO(page.getvalue())).pages[0])
    writer.add_metadata({"/SandboxSignature": sign_ref, "/SandboxSignedAt": signed_at})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class _Scheduler:
    """One thread running delayed jobs in time order."""

    def __init__(self) -> None:
        self._jobs: list[tuple[float, int, Callable[[], object]]] = []
        self._counter = itertools.count()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="esign-sandbox-jobs", daemon=True)
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
                log.exception("sandbox e-sign job failed")


class SandboxSigner:
    """The vendor's state and behaviour; :meth:`start` serves it over HTTP."""

    def __init__(
        self, config: SignerConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or SignerConfig()
        self.host, self.port = host, port
        self.signings: dict[str, Signing] = {}
        self.callback_log: list[tuple[str, int]] = []  # (request no, HTTP status or 0)
        self._lock = threading.RLock()
        self._nonces = signing.NonceCache()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._scheduler: _Scheduler | None = None

    # -- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxSigner:
        signer = self

        class Handler(_Handler):
            pass

        Handler.signer = signer
        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._scheduler = _Scheduler()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="esign-sandbox",
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

    def __enter__(self) -> SandboxSigner:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- the merchant API -------------------------------------------------------------

    def submit(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """``POST /v1/signings``: accept a document to sign; idempotent by request number."""
        number = str(payload.get("merchant_request_no") or "")
        notify_url = str(payload.get("notify_url") or "")
        if not REQUEST_NO.fullmatch(number):
            return 400, {
                "code": "BAD_REQUEST",
                "message": "merchant_request_no: 6-64 [A-Za-z0-9_-]",
            }
        if urlsplit(notify_url).scheme not in ("http", "https"):
            return 400, {"code": "BAD_REQUEST", "message": "notify_url: an http(s) URL"}
        try:
            document = base64.b64decode(str(payload.get("document") or ""), validate=True)
        except (binascii.Error, ValueError):
            return 400, {"code": "BAD_REQUEST", "message": "document: base64 of a PDF"}
        if not document.startswith(b"%PDF-") or len(document) > MAX_DOCUMENT:
            return 400, {"code": "BAD_REQUEST", "message": "document: a PDF of at most 8 MiB"}
        digest = signing.sm3_hex(document)
        if payload.get("document_sm3") != digest:
            return 400, {"code": "DIGEST_MISMATCH", "message": "document_sm3 does not match"}
        signer = payload.get("signer") or {}
        label = f"{signer.get('name', '')} ({signer.get('id_number', '')})"
        with self._lock:
            existing = self.signings.get(number)
            if existing is not None:
                if existing.document_sm3 != digest:
                    return 409, {
                        "code": "DUPLICATE_REQUEST_NO",
                        "message": "request number used for another document",
                    }
                return 200, {**existing.answer, "status": existing.status, "duplicate": True}
            item = Signing(
                request_no=number,
                sign_ref=f"ESB{secrets.token_hex(8).upper()}",
                title=str(payload.get("title") or "")[:120],
                document=document,
                document_sm3=digest,
                signer=label[:80],
                notify_url=notify_url,
            )
            item.answer = {
                "code": "ACCEPTED",
                "sign_ref": item.sign_ref,
                "status": item.status,
                "sign_url": f"{self.url}/sign/{item.sign_ref}",
                "sandbox": True,
            }
            self.signings[number] = item
            answer = dict(item.answer)
        if self.config.auto_sign:
            self._later(self.config.callback_delay, lambda: self.complete(number, "SIGNED"))
        return 200, answer

    def query(self, number: str) -> tuple[int, dict[str, Any]]:
        """``GET /v1/signings/{no}``."""
        with self._lock:
            item = self.signings.get(number)
            if item is None:
                return 404, {"code": "NOT_FOUND", "message": "no such signing"}
            return 200, item.public()

    def complete(
        self, number: str, status: str, reason: str = "", *, notify: bool = True
    ) -> dict[str, Any] | None:
        """Finish a processing signing (SIGNED or FAILED) and call the merchant back."""
        with self._lock:
            item = self.signings.get(number)
            if item is None or item.status != "PROCESSING":
                return None
            signed_at = datetime.now(CHINA).isoformat(timespec="seconds")
            if status == "SIGNED":
                item.signed = stamp(
                    item.document,
                    title=item.title,
                    signer=item.signer,
                    sign_ref=item.sign_ref,
                    signed_at=signed_at,
                )
                item.signed_at = signed_at
            else:
                item.reason = reason or "SIGNER_DECLINED"
            item.status = status
            body = item.public()
        if notify:
            self.notify(number)
        return body

    def notify(self, number: str) -> None:
        """Send the signing's result to the merchant now (plus the configured duplicates)."""
        self._later(0, lambda: self._deliver(number, 1, self.config.duplicate_callbacks))

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """``POST /sandbox/config``: change the behaviour while running."""
        for key, value in changes.items():
            if key in ("callback_delay", "callback_retry_interval"):
                setattr(self.config, key, float(value))
            elif key in ("duplicate_callbacks", "callback_attempts"):
                setattr(self.config, key, int(value))
            elif key == "auto_sign":
                self.config.auto_sign = bool(value)
            else:
                raise ValueError(f"unknown setting {key!r}")
        return {
            "callback_delay": self.config.callback_delay,
            "duplicate_callbacks": self.config.duplicate_callbacks,
            "auto_sign": self.config.auto_sign,
        }

    # -- callbacks ----------------------------------------------------------------

    def _later(self, delay: float, job: Callable[[], object]) -> None:
        if self._scheduler is None:  # not serving: run inline (unit use)
            job()
        else:
            self._scheduler.later(delay, job)

    def _deliver(self, number: str, attempt: int, duplicates: int) -> None:
        with self._lock:
            item = self.signings[number]
            body = json.dumps(
                {**item.public(with_document=True), "notify_id": f"N{item.sign_ref}"},
                separators=(",", ":"),
            ).encode()
            url = item.notify_url
        status = _post(url, body, self.config.merchant_id, self.config.secret)
        with self._lock:
            self.callback_log.append((number, status))
            if 200 <= status < 300:
                item.callbacks_delivered += 1
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
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


class _Handler(BaseHTTPRequestHandler):
    signer: SandboxSigner
    server_version = "SandboxEsign/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        # Never the bodies; method, path and status only.
        log.debug("sandbox e-sign %s", format % args)

    def _send(self, status: int, payload: dict[str, Any] | str) -> None:
        if isinstance(payload, str):
            data, kind = payload.encode(), "text/html; charset=utf-8"
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
        config = self.signer.config
        try:
            signing.verify(
                config.secret,
                dict(self.headers.items()),
                self.command,
                self.path,
                body,
                merchant=config.merchant_id,
                nonces=self.signer._nonces,
            )
        except signing.SignatureError as exc:
            self._send(401, {"code": "BAD_SIGNATURE", "message": str(exc)})
            return False
        return True

    def _json(self, body: bytes) -> dict[str, Any] | None:
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self._send(400, {"code": "BAD_REQUEST", "message": "body: a JSON object"})
            return None
        return payload

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/sign/"):
            self._sign_page(path.removeprefix("/sign/"))
            return
        if not self._signed(b""):
            return
        match = re.fullmatch(r"/v1/signings/([A-Za-z0-9_-]+)", path)
        if match:
            self._send(*self.signer.query(match.group(1)))
            return
        self._send(404, {"code": "NOT_FOUND", "message": path})

    def _sign_page(self, ref: str) -> None:
        with self.signer._lock:
            item = next((s for s in self.signer.signings.values() if s.sign_ref == ref), None)
            status = item.status if item else "NOT_FOUND"
            title = item.title if item else ""
        self._send(
            200 if item else 404,
            "<!doctype html><meta charset='utf-8'><title>Sandbox e-sign</title>"
            "<h1>沙箱电子签约 Sandbox e-signature</h1>"
            "<p><b>不具法律效力 · NOT LEGALLY VALID</b></p>"
            f"<p>{escape(title)}</p><p>状态 Status: {escape(status)}</p>",
        )

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        if path == "/v1/signings":
            if not self._signed(body):
                return
            payload = self._json(body)
            if payload is not None:
                self._send(*self.signer.submit(payload))
            return
        desk = self._json(body) if path.startswith("/sandbox/") else None
        if desk is None:
            if not path.startswith("/sandbox/"):
                self._send(404, {"code": "NOT_FOUND", "message": path})
            return
        if path == "/sandbox/config":
            try:
                self._send(200, self.signer.configure(desk))
            except (ValueError, TypeError) as exc:
                self._send(400, {"code": "BAD_REQUEST", "message": str(exc)})
            return
        match = re.fullmatch(r"/sandbox/signings/([A-Za-z0-9_-]+)/(complete|notify)", path)
        if match is None:
            self._send(404, {"code": "NOT_FOUND", "message": path})
            return
        number, action = match.groups()
        if action == "notify":
            self.signer.notify(number)
            self._send(200, {"code": "OK"})
            return
        status = str(desk.get("status", "SIGNED"))
        if status not in ("SIGNED", "FAILED"):
            self._send(400, {"code": "BAD_REQUEST", "message": "status: SIGNED or FAILED"})
            return
        result = self.signer.complete(number, status, str(desk.get("reason", "")))
        if result is None:
            self._send(409, {"code": "NOT_PROCESSING", "message": "unknown or already final"})
        else:
            self._send(200, result)


def main(argv: list[str] | None = None) -> None:
    """Serve a sandbox e-sign vendor until interrupted."""
    parser = argparse.ArgumentParser(description="Sandbox e-signature vendor (loopback only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--merchant", default=SignerConfig.merchant_id)
    parser.add_argument("--secret", default=SignerConfig.secret)
    parser.add_argument("--callback-delay", type=float, default=SignerConfig.callback_delay)
    args = parser.parse_args(argv)
    config = SignerConfig(
        merchant_id=args.merchant, secret=args.secret, callback_delay=args.callback_delay
    )
    signer = SandboxSigner(config, args.host, args.port).start()
    print(f"sandbox e-sign vendor on {signer.url} (NOT legally valid; Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signer.stop()


if __name__ == "__main__":
    main()
