"""A merchant's callback endpoint for tests: records what arrives, refuses on demand.

::

    with Recorder(refuse_first=1) as merchant:  # the first delivery gets a 500
        vendor.submit({..., "notify_url": merchant.url + "/notify"})
        wait_for(lambda: len(merchant.received) >= 2)
        headers, body = merchant.received[-1]

Every POST is kept as ``(headers, body)`` in :attr:`Recorder.received`,
in arrival order, and answered 500 while :attr:`Recorder.refuse` is above
zero (counting down), 200 after.
"""

from __future__ import annotations

import threading
from typing import ClassVar, Self

from lendkit.vendorkit.loopback import JsonHandler, LoopbackServer

__all__ = ["Recorder"]


class _Recording(JsonHandler):
    recorder: ClassVar[Recorder]

    def do_POST(self) -> None:
        self.send_response(self.recorder.record(dict(self.headers.items()), self.body()))
        self.send_header("Content-Length", "0")
        self.end_headers()


class Recorder(LoopbackServer):
    """A loopback server that records POSTs; starts serving at once (``url`` is ready)."""

    def __init__(self, refuse_first: int = 0, *, name: str = "callback-recorder") -> None:
        super().__init__(type("Recording", (_Recording,), {"recorder": self}), name=name)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.refuse = refuse_first
        self._lock = threading.Lock()
        self.start()

    def record(self, headers: dict[str, str], body: bytes) -> int:
        """Keep one delivery; the status to answer it with."""
        with self._lock:
            self.received.append((headers, body))
            refused = self.refuse > 0
            self.refuse -= 1
        return 500 if refused else 200

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        return self  # started already
