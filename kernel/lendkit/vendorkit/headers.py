"""Requests and callbacks signed in four headers: merchant, timestamp, nonce, signature.

The commonest vendor scheme: the merchant (app) id, a timestamp, a fresh
nonce and a MAC over a string to sign travel as headers; the receiver
checks the merchant, the timestamp window, the MAC and then the nonce. A
plugin describes its vendor's variant once and uses it on both sides::

    SCHEME = HeaderScheme(
        HeaderNames.prefixed("X-Acme-", merchant="App-Id", signature="Sign"),
        request_lines(sm3_hex),  # the vendor's layout of the string to sign
        mac=hmac_sm3,
    )

    headers = SCHEME.headers(app_id, secret, "POST", "/v1/orders", body)  # client
    SCHEME.verify(secret, headers, "POST", "/v1/orders", body,
                  merchant=app_id, nonces=cache)  # server: raises a SignatureError

:func:`request_lines` is the layout many vendors use (method, path,
timestamp, nonce, the body's digest, one a line); a vendor with another
passes its own ``(Message) -> bytes``, built with
:func:`~lendkit.vendorkit.signing.canonical`.

The failures are the classes of :mod:`lendkit.vendorkit.errors`. Header
names are matched without regard to case, as HTTP requires.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from lendkit.vendorkit.errors import (
    MissingSignature,
    ReplayedNonce,
    SignatureMismatch,
    UnknownMerchant,
)
from lendkit.vendorkit.nonces import NonceCache, check_timestamp, new_nonce, now_ms
from lendkit.vendorkit.signing import b64, canonical, constant_time_equal, hmac_sha256

__all__ = ["HeaderNames", "HeaderScheme", "Message", "lowered", "request_lines"]


class HeaderNames(NamedTuple):
    """The names of the four headers (unpack them in this order)."""

    merchant: str
    timestamp: str
    nonce: str
    signature: str

    @classmethod
    def prefixed(
        cls,
        prefix: str,
        *,
        merchant: str = "Merchant",
        timestamp: str = "Timestamp",
        nonce: str = "Nonce",
        signature: str = "Signature",
    ) -> HeaderNames:
        """``prefix`` before each name: ``prefixed("X-Acme-")`` is ``X-Acme-Merchant``, ..."""
        return cls(prefix + merchant, prefix + timestamp, prefix + nonce, prefix + signature)


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with lower-case names (HTTP header names ignore case)."""
    return {key.lower(): value for key, value in headers.items()}


@dataclass(frozen=True, slots=True)
class Message:
    """The parts of a request or callback that a string to sign is built from."""

    method: str
    path: str  # as the vendor documents it: path and query as sent, or a fixed word
    timestamp: str
    nonce: str
    body: bytes


def request_lines(digest: Callable[[bytes], str]) -> Callable[[Message], bytes]:
    """The layout ``METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n digest(body)``, UTF-8.

    The method in upper case; ``digest`` is e.g.
    :func:`~lendkit.vendorkit.signing.sm3_hex` (of the empty string for a GET).
    """

    def layout(message: Message) -> bytes:
        parts = (message.method.upper(), message.path, message.timestamp, message.nonce)
        return canonical(*parts, digest(message.body))

    return layout


@dataclass(frozen=True, slots=True)
class HeaderScheme:
    """One vendor's four-header signature scheme.

    ``names``: the merchant, timestamp, nonce and signature header names.
    ``string_to_sign``: the vendor's layout of a :class:`Message`.
    ``mac``: ``(key, message) -> raw MAC``, e.g. :func:`~lendkit.vendorkit.signing.hmac_sm3`.
    ``hex_signature``: the MAC travels as lower-case hex (compared ignoring
    case), else as Base64 (compared exactly).
    ``window``: seconds a timestamp (milliseconds since the epoch) may be off.
    ``nonce_length``: the shortest and longest nonce accepted.
    """

    names: HeaderNames
    string_to_sign: Callable[[Message], bytes]
    mac: Callable[[bytes, bytes], bytes] = hmac_sha256
    hex_signature: bool = True
    window: float = 300.0
    nonce_length: tuple[int, int] = (8, 64)

    def sign(self, secret: str | bytes, message: Message) -> str:
        """The signature of ``message`` under ``secret``, encoded as it travels."""
        key = secret.encode() if isinstance(secret, str) else secret
        raw = self.mac(key, self.string_to_sign(message))
        return raw.hex() if self.hex_signature else b64(raw)

    def headers(
        self,
        merchant: str,
        secret: str | bytes,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        timestamp: str | None = None,
        nonce: str | None = None,
    ) -> dict[str, str]:
        """The four headers that sign this message (now, with a fresh nonce by default)."""
        stamp = timestamp or str(now_ms())
        once = nonce or new_nonce()
        merchant_header, timestamp_header, nonce_header, signature_header = self.names
        return {
            merchant_header: merchant,
            timestamp_header: stamp,
            nonce_header: once,
            signature_header: self.sign(secret, Message(method, path, stamp, once, body)),
        }

    def verify(
        self,
        secret: str | bytes,
        headers: Mapping[str, str],
        method: str,
        path: str,
        body: bytes,
        *,
        merchant: str | None = None,
        nonces: NonceCache | None = None,
        now: int | None = None,
    ) -> None:
        """Raise a :class:`~lendkit.vendorkit.errors.SignatureError` unless the headers sign this.

        Checked in this order: the merchant (when given), that every header
        is there, the timestamp window (``now`` in ms, default the clock),
        the signature, and last the nonce (when a cache is given; callbacks
        a plugin receives are deduplicated by their content instead).
        """
        received = lowered(headers)
        merchant_header, timestamp_header, nonce_header, signature_header = (
            name.lower() for name in self.names
        )
        timestamp = received.get(timestamp_header, "")
        nonce = received.get(nonce_header, "")
        signature = received.get(signature_header, "")
        if merchant is not None and received.get(merchant_header) != merchant:
            raise UnknownMerchant("unknown merchant")
        shortest, longest = self.nonce_length
        if not timestamp or not shortest <= len(nonce) <= longest or not signature:
            raise MissingSignature("missing signature headers")
        check_timestamp(timestamp, window=self.window, now=now)
        expected = self.sign(secret, Message(method, path, timestamp, nonce, body))
        if not constant_time_equal(
            expected, signature.lower() if self.hex_signature else signature
        ):
            raise SignatureMismatch("signature does not match")
        if nonces is not None and not nonces.use(nonce):
            raise ReplayedNonce("nonce already used")

    def checker(
        self,
        secret: str | bytes,
        method: str,
        path: str,
        *,
        merchant: str | None = None,
        nonces: NonceCache | None = None,
    ) -> Callable[[Mapping[str, str], bytes], None]:
        """``verify`` with everything but the headers and body fixed, for
        :func:`~lendkit.vendorkit.callbacks.verify_callback`."""

        def check(headers: Mapping[str, str], body: bytes) -> None:
            self.verify(secret, headers, method, path, body, merchant=merchant, nonces=nonces)

        return check
