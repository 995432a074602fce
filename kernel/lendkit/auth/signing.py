"""HMAC-SM3 request signing for machine clients (both sides of it).

A signed request carries four headers::

    X-Lendkit-Key:       lk_3f9c...            (the API key id)
    X-Lendkit-Timestamp: 1767225600            (Unix seconds, within ±5 min)
    X-Lendkit-Nonce:     16–64 of [A-Za-z0-9_-], never reused
    X-Lendkit-Signature: hex HMAC-SM3(secret, canonical request)

The canonical request is these lines joined by ``\\n``::

    LENDKIT-HMAC-SM3
    <METHOD, upper case>
    <path, percent-decoded, e.g. /api/auth/me>
    <query: pairs sorted, each key=value percent-encoded (RFC 3986), joined by &>
    <timestamp>
    <nonce>
    <hex SM3 of the body bytes (of the empty string for no body)>

``secret`` is the 64 hex digits given once when the key is created, used as
the 32 bytes they encode. :func:`signed_headers` is the client side.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote

from lendkit.crypto.sm3 import hmac_sm3, sm3

__all__ = [
    "ALGORITHM",
    "KEY_HEADER",
    "NONCE_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "canonical_query",
    "canonical_request",
    "sign",
    "signed_headers",
]

ALGORITHM = "LENDKIT-HMAC-SM3"
KEY_HEADER = "X-Lendkit-Key"
TIMESTAMP_HEADER = "X-Lendkit-Timestamp"
NONCE_HEADER = "X-Lendkit-Nonce"
SIGNATURE_HEADER = "X-Lendkit-Signature"
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")


def canonical_query(query: str | Mapping[str, str]) -> str:
    pairs = (
        list(query.items())
        if isinstance(query, Mapping)
        else parse_qsl(query, keep_blank_values=True)
    )
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def canonical_request(
    method: str, path: str, query: str | Mapping[str, str], timestamp: str, nonce: str, body: bytes
) -> bytes:
    return "\n".join(
        [ALGORITHM, method.upper(), path, canonical_query(query), timestamp, nonce, sm3(body).hex()]
    ).encode()


def sign(secret: str, canonical: bytes) -> str:
    return hmac_sm3(bytes.fromhex(secret), canonical).hex()


def signed_headers(
    key_id: str,
    secret: str,
    method: str,
    path: str,
    *,
    query: str | Mapping[str, str] = "",
    body: bytes = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The headers that sign one request (the client side)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    signature = sign(secret, canonical_request(method, path, query, stamp, nonce, body))
    return {
        KEY_HEADER: key_id,
        TIMESTAMP_HEADER: stamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature,
    }
