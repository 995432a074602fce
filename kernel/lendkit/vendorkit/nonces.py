"""Replay protection: a nonce seen once is refused, a timestamp far from now is refused.

A signed request can be copied off the wire and sent again; its signature
still holds. The vendor (and a fake server playing one) therefore checks
two things the signature covers:

* the timestamp is within a window around now (:func:`check_timestamp`), so
  an old request is refused outright;
* the nonce was not seen within its lifetime (:class:`NonceCache`), which
  must be at least twice the window so that no request inside the window
  can be replayed.

Record a nonce only *after* the signature checks, or anyone could burn the
nonces a merchant is going to use. One cache serves one process (it is
thread-safe); servers behind a load balancer need a shared store instead.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable

from lendkit.vendorkit.errors import MissingSignature, StaleTimestamp

__all__ = ["NonceCache", "check_timestamp", "new_nonce", "now_ms"]


def now_ms() -> int:
    """Milliseconds since the epoch, the unit most vendors' timestamps use."""
    return int(time.time() * 1000)


def new_nonce() -> str:
    """32 random hex characters (128 bits), never to be sent twice."""
    return secrets.token_hex(16)


def check_timestamp(value: str, *, window: float, now: int | None = None, unit: int = 1000) -> int:
    """``value`` (whole ``1/unit`` seconds since the epoch) as an int, if within ``window`` s.

    Raises :class:`~lendkit.vendorkit.errors.MissingSignature` when it is not
    a whole number and :class:`~lendkit.vendorkit.errors.StaleTimestamp` when
    it is more than ``window`` seconds before or after ``now`` (by default
    the clock, in the same unit).
    """
    if not value.isascii() or not value.isdigit():
        raise MissingSignature("missing signature headers")
    stamp = int(value)
    current = int(time.time() * unit) if now is None else now
    if abs(stamp - current) > window * unit:
        raise StaleTimestamp("timestamp too far from now")
    return stamp


class NonceCache:
    """Nonces seen in the last ``ttl`` seconds (one process; thread-safe).

    Memory is bounded: past ``capacity`` entries the expired ones are
    dropped. ``clock`` is monotonic seconds, replaceable in tests.
    """

    def __init__(
        self,
        ttl: float = 600.0,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._capacity = capacity
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def use(self, nonce: str) -> bool:
        """Record ``nonce``; False if it was already used within the lifetime."""
        now = self._clock()
        with self._lock:
            if len(self._seen) > self._capacity:
                self._seen = {n: t for n, t in self._seen.items() if now - t < self.ttl}
            seen = self._seen.get(nonce)
            if seen is not None and now - seen < self.ttl:
                return False
            self._seen[nonce] = now
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)
