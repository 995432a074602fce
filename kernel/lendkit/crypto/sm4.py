"""SM4-GCM with two interchangeable backends that agree byte for byte.

``OPENSSL`` goes through ``cryptography`` (OpenSSL's SM4): the fast path used
in production. ``GMSSL`` builds GCM (NIST SP 800-38D) on gmssl's pure-Python
SM4 block function: the reference that tests hold the fast path to.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import (
    AEADDecryptionContext,
    AEADEncryptionContext,
    Cipher,
    algorithms,
    modes,
)

from lendkit.crypto import gm

__all__ = ["BACKENDS", "GMSSL", "NONCE_SIZE", "OPENSSL", "TAG_SIZE", "Backend", "DecryptionError"]

NONCE_SIZE = 12
TAG_SIZE = 16


class DecryptionError(Exception):
    """Wrong key, wrong context or altered bytes: the value cannot be opened."""


class Backend(Protocol):
    name: str

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        """Return ciphertext ‖ 16-byte tag."""

    def decrypt(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        """Return the plaintext or raise :class:`DecryptionError`."""

    def block(self, key: bytes, block: bytes) -> bytes:
        """Encrypt one 16-byte block (for the GB/T 32907 vector)."""


try:
    # The very contexts Cipher(...).encryptor() creates, minus its per-call
    # argument checks (which our fixed algorithm and mode always pass): a
    # third of the cost of a short field. Falls back to the public API.
    from cryptography.hazmat.bindings._rust import openssl as _rust

    _encryption_ctx: Callable[[algorithms.SM4, modes.GCM], AEADEncryptionContext] = (
        _rust.ciphers.create_encryption_ctx
    )
    _decryption_ctx: Callable[[algorithms.SM4, modes.GCM], AEADDecryptionContext] = (
        _rust.ciphers.create_decryption_ctx
    )
except (ImportError, AttributeError):  # pragma: no cover - another cryptography build

    def _encryption_ctx(algorithm: algorithms.SM4, mode: modes.GCM) -> AEADEncryptionContext:
        return Cipher(algorithm, mode).encryptor()

    def _decryption_ctx(algorithm: algorithms.SM4, mode: modes.GCM) -> AEADDecryptionContext:
        return Cipher(algorithm, mode).decryptor()


@lru_cache(maxsize=64)
def _sm4(key: bytes) -> algorithms.SM4:
    # Validated once per data key: field values are short, set-up dominates.
    return algorithms.SM4(key)


class _OpenSSL:
    name = "openssl"

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        encryptor = _encryption_ctx(_sm4(key), modes.GCM(nonce))
        encryptor.authenticate_additional_data(aad)
        return encryptor.update(plaintext) + encryptor.finalize() + encryptor.tag

    def decrypt(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < TAG_SIZE:
            raise DecryptionError("value too short")
        body, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
        # The tag at the end rather than in the mode: GCM's constructor checks
        # a tag it is given, and that check is a tenth of a short field's cost.
        decryptor = _decryption_ctx(_sm4(key), modes.GCM(nonce))
        decryptor.authenticate_additional_data(aad)
        try:
            return decryptor.update(body) + decryptor.finalize_with_tag(tag)
        except InvalidTag:
            raise DecryptionError("authentication failed") from None

    def block(self, key: bytes, block: bytes) -> bytes:
        # One raw block, for the GB/T 32907 vector and GCM internals only.
        encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305
        return encryptor.update(block) + encryptor.finalize()


_R = 0xE1 << 120  # GCM's reduction polynomial, bit-reflected


def _gf_mult(x: int, y: int) -> int:
    """Multiply in GF(2^128) as GCM defines it (SP 800-38D, Algorithm 1)."""
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


class _Gmssl:
    name = "gmssl"

    def block(self, key: bytes, block: bytes) -> bytes:
        return gm.sm4_block_encrypt(key, block)

    def _ghash(self, h: int, aad: bytes, body: bytes) -> int:
        y = 0
        for data in (aad, body):
            for i in range(0, len(data), 16):
                chunk = data[i : i + 16].ljust(16, b"\0")
                y = _gf_mult(y ^ int.from_bytes(chunk, "big"), h)
        lengths = (len(aad) * 8).to_bytes(8, "big") + (len(body) * 8).to_bytes(8, "big")
        return _gf_mult(y ^ int.from_bytes(lengths, "big"), h)

    def _ctr(self, key: bytes, j0: bytes, data: bytes) -> bytes:
        out = bytearray()
        counter = int.from_bytes(j0[12:], "big")
        for i in range(0, len(data), 16):
            counter = (counter + 1) & 0xFFFFFFFF
            stream = self.block(key, j0[:12] + counter.to_bytes(4, "big"))
            out += bytes(a ^ b for a, b in zip(data[i : i + 16], stream, strict=False))
        return bytes(out)

    def _tag(self, key: bytes, j0: bytes, aad: bytes, body: bytes) -> bytes:
        h = int.from_bytes(self.block(key, bytes(16)), "big")
        s = self._ghash(h, aad, body)
        return (s ^ int.from_bytes(self.block(key, j0), "big")).to_bytes(16, "big")

    def encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        if len(nonce) != NONCE_SIZE:
            raise ValueError("SM4-GCM here takes a 12-byte nonce")
        j0 = nonce + b"\0\0\0\1"
        body = self._ctr(key, j0, plaintext)
        return body + self._tag(key, j0, aad, body)

    def decrypt(self, key: bytes, nonce: bytes, sealed: bytes, aad: bytes) -> bytes:
        if len(nonce) != NONCE_SIZE or len(sealed) < TAG_SIZE:
            raise DecryptionError("malformed value")
        j0 = nonce + b"\0\0\0\1"
        body, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
        if not hmac.compare_digest(self._tag(key, j0, aad, body), tag):
            raise DecryptionError("authentication failed")
        return self._ctr(key, j0, body)


OPENSSL: Backend = _OpenSSL()
GMSSL: Backend = _Gmssl()
BACKENDS: dict[str, Backend] = {b.name: b for b in (OPENSSL, GMSSL)}
