"""HMAC-SM3 signatures of the sandbox vendor's requests and callbacks.

Four headers on every request (and every callback, with ``NOTIFY`` in place
of the path)::

    X-Esign-Merchant   the merchant id
    X-Esign-Timestamp  milliseconds since the epoch (refused when 5 minutes off)
    X-Esign-Nonce      8-64 characters, never reused within 10 minutes
    X-Esign-Signature  hex HMAC-SM3(secret, METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex SM3(body))
"""

from __future__ import annotations

import hmac as std_hmac
import secrets
import threading
import time
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes, hmac

__all__ = [
    "MERCHANT",
    "NONCE",
    "NOTIFY_PATH",
    "SIGNATURE",
    "TIMESTAMP",
    "NonceCache",
    "SignatureError",
    "sign",
    "signed_headers",
    "sm3_hex",
    "verify",
]

MERCHANT = "X-Esign-Merchant"
TIMESTAMP = "X-Esign-Timestamp"
NONCE = "X-Esign-Nonce"
SIGNATURE = "X-Esign-Signature"
NOTIFY_PATH = "NOTIFY"
MAX_SKEW_MS = 5 * 60 * 1000
NONCE_TTL = 10 * 60.0


class SignatureError(Exception):
    """The request's signature, timestamp or nonce is not acceptable."""


def sm3_hex(data: bytes) -> str:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize().hex()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = "\n".join((method.upper(), path, timestamp, nonce, sm3_hex(body))).encode()
    mac = hmac.HMAC(secret.encode(), hashes.SM3())
    mac.update(message)
    return mac.finalize().hex()


def signed_headers(
    merchant: str, secret: str, method: str, path: str, body: bytes = b""
) -> dict[str, str]:
    timestamp = str(int(time.time() * 1000))
    nonce = secrets.token_hex(16)
    return {
        MERCHANT: merchant,
        TIMESTAMP: timestamp,
        NONCE: nonce,
        SIGNATURE: sign(secret, method, path, timestamp, nonce, body),
    }


class NonceCache:
    """Nonces seen in the last ten minutes (one process; thread-safe)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def use(self, nonce: str) -> bool:
        """Record ``nonce``; False if it was already used."""
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {n: t for n, t in self._seen.items() if now - t < NONCE_TTL}
            seen = self._seen.get(nonce)
            if seen is not None and now - seen < NONCE_TTL:
                return False
            self._seen[nonce] = now
            return True


def verify(
    secret: str,
    headers: Mapping[str, str],
    method: str,
    path: str,
    body: bytes,
    *,
    merchant: str | None = None,
    nonces: NonceCache | None = None,
) -> None:
    """Raise :class:`SignatureError` unless the headers sign this request."""
    lower = {key.lower(): value for key, value in headers.items()}
    timestamp = lower.get(TIMESTAMP.lower(), "")
    nonce = lower.get(NONCE.lower(), "")
    signature = lower.get(SIGNATURE.lower(), "")
    if merchant is not None and lower.get(MERCHANT.lower()) != merchant:
        raise SignatureError("unknown merchant")
    if not timestamp.isdigit() or not 8 <= len(nonce) <= 64 or not signature:
        raise SignatureError("missing signature headers")
    if abs(int(timestamp) - int(time.time() * 1000)) > MAX_SKEW_MS:
        raise SignatureError("timestamp too far from now")
    expected = sign(secret, method, path, timestamp, nonce, body)
    if not std_hmac.compare_digest(expected, signature.lower()):
        raise SignatureError("signature does not match")
    if nonces is not None and not nonces.use(nonce):
        raise SignatureError("nonce already used")
