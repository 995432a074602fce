"""Hook implementations of the esign-sandbox plugin: a vendor that signs nothing real.

Where the vendor is: ``url`` in ``[plugins.options.esign-sandbox]`` (with
``merchant_id`` and ``secret``, defaulting to the documented sandbox values)
when a server runs on its own (``lendkit esign-sandbox-server``); otherwise
the plugin starts one inside this process on a free loopback port, with a
random secret, the first time it is needed — so the demo signs with nothing
else to run. Either way results come back over HTTP to the tenant's
``/api/contracts/esign/esign-sandbox/callback``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import lendkit
from lendkit.masking import mask_id_number, mask_name
from lendkit.plugin_options import plugin_options
from lendkit.settings import Settings
from lendkit.types import (
    ComplianceItem,
    ContractToSign,
    SignatureCallbackRejected,
    SignatureResult,
    SignatureTicket,
)
from lendkit.vendorkit.callbacks import verify_callback
from lendkit.vendorkit.errors import VendorError
from pydantic import BaseModel, ConfigDict

from lendkit_esign_sandbox import signing
from lendkit_esign_sandbox.server import SandboxSigner, SignerConfig

__all__ = ["NAME", "Endpoint", "endpoint"]

log = logging.getLogger(__name__)

# Read by the host from this source (like REQUIRES): a warning at every start and a
# banner on every page while this stand-in is enabled.
STAND_IN = "signatures are not legally valid"

NAME = "esign-sandbox"
TIMEOUT = 10.0


class Options(BaseModel):
    """``[plugins.options.esign-sandbox]``: a sandbox vendor running on its own, or none."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None  # none: the plugin starts a vendor inside this process
    merchant_id: str = SignerConfig.merchant_id
    secret: str = SignerConfig.secret


# Read by the host: the plugin's settings section is validated by this model.
OPTIONS = Options
_embedded: SandboxSigner | None = None
_embedded_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    merchant: str
    secret: str


def endpoint(settings: Settings) -> Endpoint:
    """The sandbox vendor to talk to: the configured one, or one started in this process."""
    global _embedded
    options = plugin_options(settings, NAME, Options)
    if options.url:
        return Endpoint(options.url.rstrip("/"), options.merchant_id, options.secret)
    with _embedded_lock:
        if _embedded is None:
            config = SignerConfig(merchant_id="LENDKIT-EMBEDDED", secret=secrets.token_hex(16))
            _embedded = SandboxSigner(config).start()
            log.warning(
                "started the sandbox e-sign vendor in this process (NOT legally valid)",
                extra={"url": _embedded.url},
            )
        config = _embedded.config
        return Endpoint(_embedded.url, config.merchant_id, config.secret)


def _call(where: Endpoint, method: str, path: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signing.signed_headers(where.merchant, where.secret, method, path, body)
    response = httpx.request(
        method,
        where.url + path,
        content=body,
        headers={**headers, "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    answer = response.json() if response.content else {}
    if response.status_code != 200 or not isinstance(answer, dict):
        code = answer.get("code") if isinstance(answer, dict) else None
        raise RuntimeError(f"sandbox e-sign vendor answered {response.status_code} {code}")
    return answer


@lendkit.hookimpl
def sign_contract(contract: ContractToSign, settings: Settings) -> SignatureTicket | None:
    """Send the agreement to the sandbox vendor; the signature comes by callback."""
    where = endpoint(settings)
    answer = _call(
        where,
        "POST",
        "/v1/signings",
        {
            "merchant_request_no": contract.request_no,
            "title": contract.title,
            "document": base64.b64encode(contract.pdf).decode("ascii"),
            "document_sm3": contract.sm3,
            # The sandbox needs no identity: it is shown only masked on the stamp.
            "signer": {
                "name": mask_name(contract.signer.name),
                "id_number": mask_id_number(contract.signer.id_number),
            },
            "notify_url": contract.callback_url(NAME),
        },
    )
    log.warning(
        "sandbox e-signature requested: NOT legally valid",
        extra={"request_no": contract.request_no, "sign_ref": answer.get("sign_ref")},
    )
    return SignatureTicket(
        vendor=NAME,
        reference=str(answer["sign_ref"]),
        status="pending",
        sign_url=str(answer.get("sign_url") or ""),
        sandbox=True,
    )


STATUSES = {"SIGNED": "signed", "FAILED": "failed"}


@lendkit.hookimpl
def parse_signature_callback(
    vendor: str, headers: Mapping[str, str], body: bytes, settings: Settings
) -> SignatureResult | None:
    """Verify the sandbox vendor's HMAC-SM3 signature, then read the result."""
    if vendor != NAME:
        return None
    where = endpoint(settings)
    check = signing.SCHEME.checker(
        where.secret, "POST", signing.NOTIFY_PATH, merchant=where.merchant
    )
    try:
        payload = verify_callback(headers, body, check)
    except VendorError as exc:
        raise SignatureCallbackRejected(exc.code, str(exc)) from None
    try:
        status = STATUSES[str(payload["status"])]
        document = payload.get("document")
        signed = base64.b64decode(document, validate=True) if document else None
        if signed is not None and signing.sm3_hex(signed) != payload.get("document_sm3"):
            raise ValueError("document_sm3 does not match the document")
        return SignatureResult(
            request_no=str(payload["merchant_request_no"]),
            vendor=NAME,
            reference=str(payload["sign_ref"]),
            status=status,  # type: ignore[arg-type]
            signed_pdf=signed,
            reason=str(payload.get("reason") or "").lower(),
            sandbox=True,
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise SignatureCallbackRejected("bad_format", f"callback not understood: {exc}") from None


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Sandbox e-signature vendor (demo and tests only)",
            clauses=("中华人民共和国电子签名法 第十三条 (测试环境: 不是可靠的电子签名)",),
            description="Stamps the agreement with a visible 'sandbox: not legally valid' page; "
            "no certificate, no CA, no legal effect. Disable it on a tenant that lends real "
            "money and enable a licensed e-sign vendor's plugin.",
        )
    ]
