"""Envelope keys: a master key outside the database wraps data keys inside it.

The master key (16 bytes, hex) lives in a file or an environment variable
named in ``[keys]`` — never in the database or the repository. A plugin may
replace it with an external KMS/HSM through the ``key_wrapper`` hook. Data
keys are random, stored wrapped in ``crypto_key``: the newest ``field`` key
encrypts, every unretired one decrypts; one ``index`` key feeds the blind
indexes.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, insert, select

from lendkit.crypto import blind, gm
from lendkit.crypto.fields import key_id_of, open_value, seal_value
from lendkit.crypto.sm4 import OPENSSL, Backend, DecryptionError
from lendkit.db import utcnow
from lendkit.errors import StartupError
from lendkit.models import CryptoKey
from lendkit.settings import Settings
from lendkit.types import KeyWrapper

__all__ = [
    "KeyRing",
    "MasterKey",
    "create_data_key",
    "ensure_keys",
    "load_master_key",
    "write_master_key",
]

KEY_SIZE = 16
REFRESH_SECONDS = 30.0  # how soon other processes start using a rotated key


@dataclass(frozen=True, slots=True)
class MasterKey:
    """The local master key: wraps data keys with SM4-GCM."""

    key: bytes
    backend: Backend = OPENSSL
    name: str = "local"

    def wrap(self, purpose: str, data_key: bytes) -> bytes:
        return seal_value(
            self.backend, 0, self.key, data_key, b"lendkit data key\0" + purpose.encode()
        )

    def unwrap(self, purpose: str, wrapped: bytes) -> bytes:
        return open_value(self.backend, self.key, wrapped, b"lendkit data key\0" + purpose.encode())


def write_master_key(path: Path) -> None:
    """Create a new master key file readable by its owner only; never overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(KEY_SIZE) + "\n")


def load_master_key(settings: Settings) -> MasterKey:
    """The master key from ``keys.master_key_env`` or ``keys.master_key_file``."""
    keys = settings.keys
    if keys.master_key_env:
        source = f"keys.master_key_env = {keys.master_key_env!r}"
        text = os.environ.get(keys.master_key_env)
        if text is None:
            raise StartupError(f"{source}: the variable is not set")
    elif keys.master_key_file:
        path = settings.path(keys.master_key_file)
        source = f"keys.master_key_file = {keys.master_key_file!r}"
        if not path.exists():
            raise StartupError(
                f"{source}: {path} does not exist; create it with `lendkit keys init`"
            )
        text = path.read_text(encoding="ascii")
    else:
        raise StartupError("keys: set master_key_file or master_key_env")
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        key = b""
    if len(key) != KEY_SIZE:
        raise StartupError(f"{source}: expected {KEY_SIZE * 2} hex digits")
    return MasterKey(key)


def _new_key(purpose: str) -> bytes:
    if purpose == "sm2":
        return gm.sm2_keypair()[0].encode()  # private key, hex
    return secrets.token_bytes(KEY_SIZE if purpose == "field" else 32)


# field: SM4 data keys (rotated); index: blind-index HMAC key; audit: audit
# row MAC key; sm2: the audit checkpoint signing key.
PURPOSES = ("field", "index", "audit", "sm2")


def create_data_key(connection: Connection, wrapper: KeyWrapper, purpose: str) -> int:
    """Add a new random key of ``purpose``; a new ``field`` key becomes the active one."""
    result = connection.execute(
        insert(CryptoKey).values(
            purpose=purpose,
            wrapped=wrapper.wrap(purpose, _new_key(purpose)),
            wrapper=wrapper.name,
            created_at=utcnow(),
        )
    )
    key_id: int = result.inserted_primary_key[0]  # type: ignore[index]
    return key_id


def ensure_keys(connection: Connection, wrapper: KeyWrapper) -> None:
    """Create the first field and index keys of a new tenant (no-op afterwards)."""
    purposes = set(connection.scalars(select(CryptoKey.purpose).distinct()))
    for purpose in PURPOSES:
        if purpose not in purposes:
            create_data_key(connection, wrapper, purpose)


class KeyRing:
    """Unwrapped data keys of this tenant, loaded through the caller's connection.

    Loading uses the connection of the transaction at hand, never a second
    one: on SQLite a second connection would wait for the first one's lock.
    """

    def __init__(
        self, wrapper_factory: Callable[[], KeyWrapper], backend: Backend = OPENSSL
    ) -> None:
        self.wrapper_factory = wrapper_factory
        self.backend = backend
        self._wrapper: KeyWrapper | None = None
        self._keys: dict[int, bytes] = {}
        self._active: int | None = None
        self._singles: dict[str, bytes] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    @property
    def wrapper(self) -> KeyWrapper:
        if self._wrapper is None:
            self._wrapper = self.wrapper_factory()
        return self._wrapper

    def load(self, connection: Connection) -> None:
        rows = connection.execute(
            select(CryptoKey.id, CryptoKey.purpose, CryptoKey.wrapped).where(
                CryptoKey.retired_at.is_(None)
            )
        ).all()
        keys: dict[int, bytes] = {}
        singles: dict[str, bytes] = {}
        for row in sorted(rows, key=lambda r: r.id):
            if row.purpose == "field":
                keys[row.id] = self.wrapper.unwrap(row.purpose, row.wrapped)
            else:
                singles.setdefault(row.purpose, self.wrapper.unwrap(row.purpose, row.wrapped))
        if not keys or set(singles) != set(PURPOSES) - {"field"}:
            raise StartupError("data keys missing: run `lendkit db upgrade`")
        with self._lock:
            self._keys, self._active, self._singles = keys, max(keys), singles
            self._loaded_at = time.monotonic()

    def _fresh(self, connection: Connection) -> None:
        if self._active is None or time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            self.load(connection)

    def active_key_id(self, connection: Connection) -> int:
        self._fresh(connection)
        assert self._active is not None
        return self._active

    def seal(self, connection: Connection, plaintext: str, ctx: bytes) -> bytes:
        key_id = self.active_key_id(connection)
        return seal_value(self.backend, key_id, self._keys[key_id], plaintext.encode(), ctx)

    def open(self, connection: Connection, value: bytes, ctx: bytes) -> str:
        key_id = key_id_of(value)
        if key_id not in self._keys:
            self.load(connection)  # rotated by another process since we loaded
        if key_id not in self._keys:
            raise DecryptionError(f"unknown or retired key id {key_id}")
        return open_value(self.backend, self._keys[key_id], value, ctx).decode()

    def single(self, connection: Connection, purpose: str) -> bytes:
        """The one key of ``purpose`` (index, audit, sm2)."""
        self._fresh(connection)
        return self._singles[purpose]

    def blind_index(self, connection: Connection, kind: str, value: str) -> bytes:
        return blind.blind_index(self.single(connection, "index"), kind, value)
