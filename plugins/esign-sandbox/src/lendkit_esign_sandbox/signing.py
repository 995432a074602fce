"""HMAC-SM3 signatures of the sandbox vendor's requests and callbacks.

Four headers on every request (and every callback, with ``NOTIFY`` in place
of the path)::

    X-Esign-Merchant   the merchant id
    X-Esign-Timestamp  milliseconds since the epoch (refused when 5 minutes off)
    X-Esign-Nonce      8-64 characters, never reused within 10 minutes
    X-Esign-Signature  hex HMAC-SM3(secret, METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex SM3(body))

This module is the vendor's wire format; making and checking the headers
(and the errors, :mod:`lendkit.vendorkit.errors`) are the kit's.
"""

from __future__ import annotations

from lendkit.vendorkit.headers import HeaderNames, HeaderScheme, request_lines
from lendkit.vendorkit.signing import hmac_sm3, sm3_hex

__all__ = ["NOTIFY_PATH", "SCHEME", "signed_headers", "sm3_hex", "verify"]

NOTIFY_PATH = "NOTIFY"
SCHEME = HeaderScheme(HeaderNames.prefixed("X-Esign-"), request_lines(sm3_hex), mac=hmac_sm3)
MERCHANT, TIMESTAMP, NONCE, SIGNATURE = SCHEME.names
signed_headers = SCHEME.headers
verify = SCHEME.verify
