"""SM3 (GB/T 32905) and HMAC-SM3: the one place the kit computes them.

OpenSSL through ``cryptography`` does the work; gmssl's pure-Python SM3 is
only the reference the tests compare against (it takes milliseconds per
kilobyte). Plugins may call these functions: this module is public API.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes, hmac

__all__ = ["hmac_sm3", "sm3", "sm3_hex"]


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data``."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def sm3_hex(data: bytes) -> str:
    """Lower-case hex SM3 of ``data``."""
    return sm3(data).hex()


def hmac_sm3(key: str | bytes, message: str | bytes) -> bytes:
    """The raw 32-byte HMAC-SM3 of ``message`` under ``key`` (strings as UTF-8)."""
    mac = hmac.HMAC(_bytes(key), hashes.SM3())
    mac.update(_bytes(message))
    return mac.finalize()
