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

import base64
import binascii
import io
import json
import re
import secrets
from dataclasses import dataclass, field
from html import escape
from typing import Any, ClassVar
from urllib.parse import urlsplit

from lendkit.clock import china_now
from lendkit.vendorkit.fake import FakeConfig, FakeVendor, FakeVendorHandler, parse_command_line
from lendkit.vendorkit.loopback import LOOPBACK

from lendkit_esign_sandbox import signing

__all__ = ["SandboxSigner", "SignerConfig", "main", "stamp"]

REQUEST_NO = re.compile(r"[A-Za-z0-9_-]{6,64}")
MAX_DOCUMENT = 8 * 1024 * 1024
FONT = "STSong-Light"  # ReportLab's built-in Simplified Chinese CID font: no font file


@dataclass
class SignerConfig(FakeConfig):
    secret: str = "sandbox-esign-secret"  # noqa: S105 - the documented sandbox key
    callback_delay: float = 0.3  # seconds from the request to the signature and its callback
    auto_sign: bool = True  # False: signings wait for /sandbox/signings/{no}/complete

    def change(self, key: str, value: Any) -> None:
        if key == "auto_sign":
            self.auto_sign = bool(value)
        else:
            super().change(key, value)

    def summary(self) -> dict[str, Any]:
        return {**super().summary(), "auto_sign": self.auto_sign}


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


class SandboxSigner(FakeVendor[SignerConfig]):
    """The vendor's state and behaviour; :meth:`start` serves it over HTTP."""

    scheme = signing.SCHEME
    callback_path = signing.NOTIFY_PATH

    def __init__(
        self, config: SignerConfig | None = None, host: str = LOOPBACK, port: int = 0
    ) -> None:
        super().__init__(config or SignerConfig(), host, port)
        self.signings: dict[str, Signing] = {}

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
        with self.lock:
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
            self.later(self.config.callback_delay, lambda: self.complete(number, "SIGNED"))
        return 200, answer

    def query(self, number: str) -> tuple[int, dict[str, Any]]:
        """``GET /v1/signings/{no}``."""
        return self.answer(
            self.signings, number, {"code": "NOT_FOUND", "message": "no such signing"}
        )

    def complete(
        self, number: str, status: str, reason: str = "", *, notify: bool = True
    ) -> dict[str, Any] | None:
        """Finish a processing signing (SIGNED or FAILED) and call the merchant back."""

        def settle(item: Signing) -> None:
            signed_at = china_now().isoformat(timespec="seconds")
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

        return self.finish(self.signings, number, settle, notify=notify)

    def callback_for(self, number: str) -> tuple[str, dict[str, Any]]:
        item = self.signings[number]
        return item.notify_url, {
            **item.public(with_document=True),
            "notify_id": f"N{item.sign_ref}",
        }


class _Handler(FakeVendorHandler):
    vendor: ClassVar[SandboxSigner]
    server_version = "SandboxEsign/1.0"
    text_type = "text/html; charset=utf-8"

    def _json(self, body: bytes) -> dict[str, Any] | None:
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            self.send(400, {"code": "BAD_REQUEST", "message": "body: a JSON object"})
            return None
        return payload

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path.startswith("/sign/"):
            self._sign_page(path.removeprefix("/sign/"))
            return
        if not self.signed(b""):
            return
        match = re.fullmatch(r"/v1/signings/([A-Za-z0-9_-]+)", path)
        if match:
            self.send(*self.vendor.query(match.group(1)))
            return
        self.send(404, {"code": "NOT_FOUND", "message": path})

    def _sign_page(self, ref: str) -> None:
        with self.vendor.lock:
            item = next((s for s in self.vendor.signings.values() if s.sign_ref == ref), None)
            status = item.status if item else "NOT_FOUND"
            title = item.title if item else ""
        self.send(
            200 if item else 404,
            "<!doctype html><meta charset='utf-8'><title>Sandbox e-sign</title>"
            "<h1>沙箱电子签约 Sandbox e-signature</h1>"
            "<p><b>不具法律效力 · NOT LEGALLY VALID</b></p>"
            f"<p>{escape(title)}</p><p>状态 Status: {escape(status)}</p>",
        )

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self.body()
        if path == "/v1/signings":
            if not self.signed(body):
                return
            payload = self._json(body)
            if payload is not None:
                self.send(*self.vendor.submit(payload))
            return
        desk = self._json(body) if path.startswith("/sandbox/") else None
        if desk is None:
            if not path.startswith("/sandbox/"):
                self.send(404, {"code": "NOT_FOUND", "message": path})
            return
        if path == "/sandbox/config":
            try:
                self.send(200, self.vendor.configure(desk))
            except (ValueError, TypeError) as exc:
                self.send(400, {"code": "BAD_REQUEST", "message": str(exc)})
            return
        match = re.fullmatch(r"/sandbox/signings/([A-Za-z0-9_-]+)/(complete|notify)", path)
        if match is None:
            self.send(404, {"code": "NOT_FOUND", "message": path})
            return
        number, action = match.groups()
        if action == "notify":
            self.vendor.notify(number)
            self.send(200, {"code": "OK"})
            return
        status = str(desk.get("status", "SIGNED"))
        if status not in ("SIGNED", "FAILED"):
            self.send(400, {"code": "BAD_REQUEST", "message": "status: SIGNED or FAILED"})
            return
        result = self.vendor.complete(number, status, str(desk.get("reason", "")))
        if result is None:
            self.send(409, {"code": "NOT_PROCESSING", "message": "unknown or already final"})
        else:
            self.send(200, result)


SandboxSigner.handler = _Handler


def main(argv: list[str] | None = None) -> None:
    """Serve a sandbox e-sign vendor until interrupted."""
    description = "Sandbox e-signature vendor (loopback only)"
    config, host, port = parse_command_line(
        argv, SignerConfig(), description=description, port=8766
    )
    banner = "sandbox e-sign vendor on {url} (NOT legally valid; Ctrl-C to stop)"
    SandboxSigner(config, host, port).serve_until_interrupted(banner)


if __name__ == "__main__":
    main()
