"""The stored form of an encrypted value, and sealing/opening it.

Layout (format version 1)::

    version (1 byte = 0x01) ‖ key id (4 bytes, big-endian) ‖ nonce (12) ‖ SM4-GCM ciphertext ‖ tag (16)

The associated data is the 5-byte header followed by the *context*
(``table \\0 column \\0 row key``), so a value copied to another row, column
or table — or given another key id — fails to open.
"""

from __future__ import annotations

import struct
from os import urandom

from lendkit.crypto.sm4 import NONCE_SIZE, TAG_SIZE, Backend, DecryptionError

__all__ = ["FORMAT_VERSION", "HEADER_SIZE", "context", "key_id_of", "open_value", "seal_value"]

FORMAT_VERSION = 1
_HEADER = struct.Struct(">BI")
HEADER_SIZE = _HEADER.size
MIN_SIZE = HEADER_SIZE + NONCE_SIZE + TAG_SIZE


def context(table: str, column: str, row_key: bytes) -> bytes:
    return table.encode() + b"\0" + column.encode() + b"\0" + row_key


def seal_value(backend: Backend, key_id: int, key: bytes, plaintext: bytes, ctx: bytes) -> bytes:
    header = _HEADER.pack(FORMAT_VERSION, key_id)
    nonce = urandom(NONCE_SIZE)  # what secrets.token_bytes returns, one call less
    return header + nonce + backend.encrypt(key, nonce, plaintext, header + ctx)


def key_id_of(value: bytes) -> int:
    if len(value) < MIN_SIZE:
        raise DecryptionError("not an encrypted value (too short)")
    version, key_id = _HEADER.unpack_from(value)
    if version != FORMAT_VERSION:
        raise DecryptionError(f"unknown format version {version}")
    return int(key_id)


def open_value(backend: Backend, key: bytes, value: bytes, ctx: bytes) -> bytes:
    key_id_of(value)  # validates the header
    nonce_end = HEADER_SIZE + NONCE_SIZE
    return backend.decrypt(
        key, value[HEADER_SIZE:nonce_end], value[nonce_end:], value[:HEADER_SIZE] + ctx
    )
