"""Signature primitives of vendor wire formats: digests, MACs, RSA, strings to sign.

A vendor proves a message is its own (and a merchant that a request is) by
signing a *string to sign* built from parts of the message, with a shared
secret (HMAC-SHA256, HMAC-SM3) or a private key (SHA256withRSA). Which
parts, in which order, and whether the result travels as hex or Base64 is
the vendor's wire format and stays in its plugin; the mechanics are here::

    message = canonical("POST", "/v1/payments", timestamp, nonce, sm3_hex(body))
    signature = hmac_sm3(secret, message).hex()
    ...
    if not constant_time_equal(signature, received):
        raise SignatureMismatch("signature does not match")

Compare what a peer sent only with :func:`constant_time_equal` (a plain
``==`` tells an attacker how many leading characters were right). Keys and
secrets may be ``str`` (UTF-8) or ``bytes``. No MD5 or SHA-1 here: a vendor
whose format demands one keeps that digest in its own plugin, allow-listed.
"""

from __future__ import annotations

import base64
import hmac as std_hmac
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lendkit.crypto.sm3 import hmac_sm3, sm3_hex

__all__ = [
    "b64",
    "canonical",
    "constant_time_equal",
    "hmac_sha256",
    "hmac_sm3",
    "rsa_sha256_sign",
    "rsa_sha256_verify",
    "sha256_hex",
    "sm3_hex",
    "sorted_pairs",
]


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _digest_hex(algorithm: hashes.HashAlgorithm, data: bytes) -> str:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize().hex()


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of ``data``."""
    return _digest_hex(hashes.SHA256(), data)


def _mac(algorithm: hashes.HashAlgorithm, key: str | bytes, message: str | bytes) -> bytes:
    mac = hmac.HMAC(_bytes(key), algorithm)
    mac.update(_bytes(message))
    return mac.finalize()


def hmac_sha256(key: str | bytes, message: str | bytes) -> bytes:
    """The raw 32-byte HMAC-SHA256 of ``message`` under ``key``."""
    return _mac(hashes.SHA256(), key, message)


def rsa_sha256_sign(private_key: rsa.RSAPrivateKey | bytes, message: bytes) -> bytes:
    """SHA256withRSA (PKCS #1 v1.5) of ``message``; the key as an object or unencrypted PEM."""
    if isinstance(private_key, bytes):
        loaded = serialization.load_pem_private_key(private_key, password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise TypeError("not an RSA private key")
        private_key = loaded
    return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def rsa_sha256_verify(
    public_key: rsa.RSAPublicKey | bytes, message: bytes, signature: bytes
) -> bool:
    """Whether ``signature`` is SHA256withRSA (PKCS #1 v1.5) of ``message`` by ``public_key``."""
    if isinstance(public_key, bytes):
        loaded = serialization.load_pem_public_key(public_key)
        if not isinstance(loaded, rsa.RSAPublicKey):
            raise TypeError("not an RSA public key")
        public_key = loaded
    try:
        public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def canonical(*parts: str, sep: str = "\n") -> bytes:
    """``parts`` joined by ``sep``, UTF-8: the usual string to sign.

    An empty part still takes its separator (``canonical("GET", "", "/x")``
    is ``b"GET\\n\\n/x"``), as the vendors that sign fixed lines expect.
    """
    return sep.join(parts).encode()


def sorted_pairs(params: Mapping[str, str], *, sep: str = "&", skip_blank: bool = True) -> str:
    """``k=v`` pairs sorted by key in ASCII order and joined by ``sep``, values raw.

    Blank values are left out unless ``skip_blank`` is false (vendors differ;
    the safe course is never to send one).
    """
    return sep.join(
        f"{key}={value}" for key, value in sorted(params.items()) if value or not skip_blank
    )


def b64(data: bytes) -> str:
    """Standard Base64 (with padding) of ``data``, as text."""
    return base64.b64encode(data).decode("ascii")


def constant_time_equal(expected: str | bytes, received: str | bytes) -> bool:
    """``expected == received`` in time that does not depend on where they differ."""
    return std_hmac.compare_digest(_bytes(expected), _bytes(received))
