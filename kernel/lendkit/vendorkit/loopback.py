"""A threaded HTTP server on loopback, for fake vendors and the endpoints tests stand up.

::

    class Hello(JsonHandler):
        def do_GET(self) -> None:
            self.send(200, {"hello": "world"})

    with LoopbackServer(Hello) as server:  # a free port on 127.0.0.1
        httpx.get(server.url + "/")

``port=0`` (the default) takes a free port, known once started
(:attr:`LoopbackServer.port`); a fixed port is for servers run by hand.
Requests are served each on its own daemon thread, so a handler may block
(or call the test back) without stalling the others. The host may be
another address for a server run on purpose beside other machines, but the
test desks of fake vendors are unauthenticated: keep those on loopback.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self

__all__ = ["LOOPBACK", "JsonHandler", "LoopbackServer"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class LoopbackServer:
    """Serve ``handler`` on ``host``:``port`` from a background thread until stopped."""

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        *,
        host: str = LOOPBACK,
        port: int = 0,
        name: str = "loopback-http",
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.name = name
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port``, no trailing slash."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Self:
        """Bind and serve; the port is known when this returns."""
        if self._server is not None:
            raise RuntimeError(f"{self.name} is already started")
        server = ThreadingHTTPServer((self.host, self.port), self.handler)
        server.daemon_threads = True  # a hung client must not keep the process alive
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how soon stop() is noticed
            name=self.name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler that reads bodies and answers JSON (or text), logging no bodies.

    ``text_type`` is the Content-Type of text answers (HTML pages, CSV files).
    """

    text_type: ClassVar[str] = "text/plain; charset=utf-8"

    def log_message(self, format: str, *args: Any) -> None:
        # Method, path and status only: bodies carry personal data and secrets.
        log.debug("%s %s", type(self).__name__, format % args)

    def body(self) -> bytes:
        """The request body, as many bytes as Content-Length says."""
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status: int, payload: Mapping[str, Any] | str) -> None:
        """Answer ``status`` with ``payload``: a mapping as JSON, a string as text."""
        if isinstance(payload, str):
            data, kind = payload.encode(), self.text_type
        else:
            data, kind = json.dumps(payload, ensure_ascii=False).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
