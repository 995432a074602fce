"""Merchant signatures of the sandbox gateway: HMAC-SM3 over the request.

String to sign (UTF-8, lines joined by ``\\n``)::

    METHOD            e.g. POST
    PATH              path and query as sent, e.g. /v1/payments; "NOTIFY" for callbacks
    TIMESTAMP         milliseconds since the epoch, as in X-Sandbox-Timestamp
    NONCE             as in X-Sandbox-Nonce (8 to 64 characters, never reused)
    SM3(body)         lower-case hex; the SM3 of the empty string for GET

``X-Sandbox-Signature`` = lower-case hex HMAC-SM3(merchant secret, string),
with the merchant id in ``X-Sandbox-Merchant``. The gateway refuses a
timestamp more than five minutes off and a nonce seen in the last ten
minutes. Callbacks are signed the same way by the gateway, with ``NOTIFY``
in place of the path (the merchant may sit behind a proxy that rewrites
paths). The kit (:mod:`lendkit.vendorkit.headers`) makes and checks them.
"""

from __future__ import annotations

from lendkit.vendorkit.headers import HeaderNames, HeaderScheme, request_lines
from lendkit.vendorkit.signing import hmac_sm3, sm3_hex

__all__ = ["NOTIFY_PATH", "SCHEME", "signed_headers", "verify"]

SCHEME = HeaderScheme(HeaderNames.prefixed("X-Sandbox-"), request_lines(sm3_hex), mac=hmac_sm3)
MERCHANT, TIMESTAMP, NONCE, SIGNATURE = SCHEME.names
NOTIFY_PATH = "NOTIFY"
signed_headers, verify = SCHEME.headers, SCHEME.verify
