"""The scaffolding of a fake vendor server: loopback HTTP, signed requests, callbacks.

A plugin's fake vendor behaves like the real one over real HTTP, so the
plugin is tested (and demonstrated) against the wire format it will meet in
production. What every fake shares lives here; the vendor's endpoints,
state and wire format stay in the plugin::

    @dataclass
    class AcmeConfig(FakeConfig):
        secret: str = "acme-test-secret"

    class AcmeHandler(FakeVendorHandler):
        vendor: ClassVar[FakeAcme]

        def do_POST(self) -> None:
            body = self.body()
            if self.signed(body):  # else it has answered 401
                self.send(*self.vendor.submit(json.loads(body)))

    class FakeAcme(FakeVendor[AcmeConfig]):
        handler = AcmeHandler
        scheme = SCHEME  # a HeaderScheme: how requests and callbacks are signed
        callback_path = "NOTIFY"

        def submit(self, order: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            self.later(self.config.callback_delay, lambda: self.call_back(
                order["no"], lambda: (order["notify_url"], b'{"status":"DONE"}')))
            return 200, {"code": "ACCEPTED"}

    with FakeAcme(AcmeConfig()) as acme:  # a free loopback port: acme.url
        ...

:class:`FakeVendor` checks each merchant request's signature with a nonce
cache (replays and stale timestamps refused), runs delayed jobs on one
thread, and delivers callbacks signed, retried until the merchant answers
2xx and then duplicated on purpose, logging every attempt in
:attr:`FakeVendor.callback_log`. Not serving (never started), it runs jobs
inline, for unit tests of its logic.
"""

from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, Self, TypeVar
from urllib.parse import urlsplit

from lendkit.vendorkit.errors import SignatureError
from lendkit.vendorkit.headers import HeaderScheme
from lendkit.vendorkit.loopback import LOOPBACK, JsonHandler, LoopbackServer
from lendkit.vendorkit.nonces import NonceCache
from lendkit.vendorkit.scheduler import Scheduler

if TYPE_CHECKING:
    pass

__all__ = [
    "FakeConfig",
    "FakeVendor",
    "FakeVendorHandler",
    "Record",
    "parse_command_line",
    "post",
    "quick_config",
]


@dataclass
class FakeConfig:
    """What every fake vendor is configured with; a plugin's configuration extends it."""

    merchant_id: str = "LENDKIT-DEMO"
    secret: str = ""
    callback_delay: float = 0.5  # seconds from a request to its result's callback
    duplicate_callbacks: int = 1  # extra copies of every callback, on purpose
    callback_attempts: int = 5  # deliveries tried until the merchant answers 2xx
    callback_retry_interval: float = 1.0

    def change(self, key: str, value: Any) -> None:
        """Set one setting from a test desk's JSON; :class:`ValueError` if unknown.

        A plugin's configuration overrides this for its own settings and
        passes the rest on with ``super().change(key, value)``.
        """
        if key in ("callback_delay", "callback_retry_interval"):
            setattr(self, key, float(value))
        elif key in ("duplicate_callbacks", "callback_attempts"):
            setattr(self, key, int(value))
        else:
            raise ValueError(f"unknown setting {key!r}")

    def summary(self) -> dict[str, Any]:
        """What the test desk answers after a change (never the secret)."""
        return {
            "callback_delay": self.callback_delay,
            "duplicate_callbacks": self.duplicate_callbacks,
        }


ConfigT = TypeVar("ConfigT", bound=FakeConfig)


class Record(Protocol):
    """What a fake vendor keeps per merchant request: a status and a public view."""

    status: str

    def public(self) -> dict[str, Any]: ...


RecordT = TypeVar("RecordT", bound=Record)


def quick_config(config_type: type[ConfigT], **changes: Any) -> ConfigT:
    """A configuration for tests: a random secret, callbacks within 50 ms, retries 0.2 s apart.

    One duplicate of every callback, as by default; ``changes`` override any field.
    """
    values: dict[str, Any] = {
        "merchant_id": "TEST-MERCHANT",
        "secret": secrets.token_hex(16),
        "callback_delay": 0.05,
        "duplicate_callbacks": 1,
        "callback_retry_interval": 0.2,
    }
    return config_type(**(values | changes))


def post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> int:
    """POST ``body`` to ``url``: the HTTP status, or 0 when nothing answered."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("a callback URL is http(s)")
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url, data=body, headers=dict(headers), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return 0


class FakeVendor(Generic[ConfigT]):
    """A fake vendor's state and behaviour; :meth:`start` serves it over HTTP.

    Subclasses set ``handler`` (a :class:`FakeVendorHandler`; each server
    binds its own copy with ``vendor`` pointing back here), ``scheme`` (the
    signatures of merchant requests and of callbacks) and ``callback_path``
    (the path signed into callbacks), and implement :meth:`callback_for`.
    Their records (orders, signings: anything with a ``status`` and a
    ``public()`` view, see :class:`Record`) are answered by :meth:`answer`
    and made final by :meth:`finish`. ``lock`` guards the vendor's state,
    which handlers read from their own threads.
    """

    handler: ClassVar[type[FakeVendorHandler]]
    scheme: ClassVar[HeaderScheme]
    callback_path: ClassVar[str]
    callback_timeout: ClassVar[float] = 10.0  # seconds the merchant has to answer
    pending_status: ClassVar[str] = "PROCESSING"  # a record's status until it is final

    def __init__(self, config: ConfigT, host: str = LOOPBACK, port: int = 0) -> None:
        self.config = config
        self.host, self.port = host, port
        self.callback_log: list[tuple[str, int]] = []  # (key, HTTP status or 0) per attempt
        self.nonces = NonceCache()
        self.lock = threading.RLock()
        self._server: LoopbackServer | None = None
        self._jobs: Scheduler | None = None

    # -- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        name = type(self).__name__
        bound = type(self.handler.__name__, (self.handler,), {"vendor": self})
        self._jobs = Scheduler(f"{name}-jobs")
        try:
            server = LoopbackServer(bound, host=self.host, port=self.port, name=name).start()
        except OSError:
            self._jobs.stop()
            self._jobs = None
            raise
        self._server = server
        self.port = server.port
        return self

    def stop(self) -> None:
        jobs, server = self._jobs, self._server
        self._jobs = self._server = None
        if jobs is not None:
            jobs.stop()
        if server is not None:
            server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def serve_until_interrupted(self, banner: str) -> None:
        """Start, print ``banner`` (``{url}`` and ``{merchant}`` filled in), serve until Ctrl-C."""
        self.start()
        print(banner.format(url=self.url, merchant=self.config.merchant_id), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    # -- the merchant's requests and the test desk -------------------------------------

    def verify_request(
        self, headers: Mapping[str, str], method: str, path: str, body: bytes
    ) -> None:
        """Raise a :class:`~lendkit.vendorkit.errors.SignatureError` unless the merchant
        signed this request, with a timestamp in the window and a nonce not used before."""
        self.scheme.verify(
            self.config.secret,
            headers,
            method,
            path,
            body,
            merchant=self.config.merchant_id,
            nonces=self.nonces,
        )

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /sandbox/config``-style change of behaviour while running."""
        for key, value in changes.items():
            self.config.change(key, value)
        return self.config.summary()

    # -- the vendor's records ------------------------------------------------------

    def answer(
        self, records: Mapping[str, Record], key: str, missing: Mapping[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """A query's answer: 200 and the record's public view, or 404 and ``missing``."""
        with self.lock:
            record = records.get(key)
            return (404, dict(missing)) if record is None else (200, record.public())

    def finish(
        self,
        records: Mapping[str, RecordT],
        key: str,
        settle: Callable[[RecordT], None],
        *,
        notify: bool = True,
    ) -> dict[str, Any] | None:
        """Make a pending record final with ``settle`` (under :attr:`lock`) and call back.

        None, and nothing done, when ``key`` is unknown or no longer
        :attr:`pending_status`; else the record's public view once settled.
        """
        with self.lock:
            record = records.get(key)
            if record is None or record.status != self.pending_status:
                return None
            settle(record)
            body = record.public()
        if notify:
            self.notify(key)
        return body

    # -- callbacks ----------------------------------------------------------------

    def notify(self, key: str) -> None:
        """Send the result of ``key`` to the merchant now (plus the configured duplicates)."""
        self.call_back(key, lambda: _encoded(*self.callback_for(key)))

    def callback_for(self, key: str) -> tuple[str, Mapping[str, Any] | bytes]:
        """The notify URL and body of the callback about ``key``; runs under :attr:`lock`.

        A mapping is sent as compact JSON (see :meth:`callback_headers`).
        """
        raise NotImplementedError(f"{type(self).__name__} sends no callbacks")

    def later(self, delay: float, job: Callable[[], object]) -> None:
        """Run ``job`` in ``delay`` seconds on the job thread (at once, inline, if not serving)."""
        if self._jobs is None:
            job()
        else:
            self._jobs.later(delay, job)

    def call_back(self, key: str, build: Callable[[], tuple[str, bytes]]) -> None:
        """Deliver a callback now; ``build()`` gives its ``(url, body)`` at each attempt.

        Each attempt is signed afresh (:meth:`callback_headers`) and logged
        as ``(key, status)``. A refused or unanswered one is retried every
        ``callback_retry_interval`` s, ``callback_attempts`` times at most;
        an answered one is then sent ``duplicate_callbacks`` more times.
        ``build`` runs under :attr:`lock`.
        """
        self.later(0, lambda: self._deliver(key, build, 1, self.config.duplicate_callbacks))

    def callback_headers(self, body: bytes) -> dict[str, str]:
        """A JSON callback's headers, signed by :attr:`scheme` over :attr:`callback_path`."""
        config = self.config
        signed = self.scheme.headers(
            config.merchant_id, config.secret, "POST", self.callback_path, body
        )
        return {**signed, "Content-Type": "application/json"}

    def _deliver(
        self, key: str, build: Callable[[], tuple[str, bytes]], attempt: int, duplicates: int
    ) -> None:
        with self.lock:
            url, body = build()
        status = post(url, body, self.callback_headers(body), timeout=self.callback_timeout)
        with self.lock:
            self.callback_log.append((key, status))
        if 200 <= status < 300:
            if duplicates > 0:
                self.later(0.02, lambda: self._deliver(key, build, 1, duplicates - 1))
        elif attempt < self.config.callback_attempts:
            self.later(
                self.config.callback_retry_interval,
                lambda: self._deliver(key, build, attempt + 1, duplicates),
            )


def _encoded(url: str, body: Mapping[str, Any] | bytes) -> tuple[str, bytes]:
    if isinstance(body, bytes):
        return url, body
    return url, json.dumps(body, separators=(",", ":")).encode()


class FakeVendorHandler(JsonHandler):
    """The request handler of a :class:`FakeVendor`; ``vendor`` is the one it serves."""

    vendor: ClassVar[FakeVendor[Any]]

    def signed(self, body: bytes) -> bool:
        """Whether the merchant signed this request; if not, answer :meth:`refuse` and say no."""
        try:
            self.vendor.verify_request(dict(self.headers.items()), self.command, self.path, body)
        except SignatureError as exc:
            self.refuse(exc)
            return False
        return True

    def refuse(self, error: SignatureError) -> None:
        """The answer to a request whose signature failed: 401 with the reason."""
        self.send(401, {"code": "BAD_SIGNATURE", "message": str(error)})


def parse_command_line(
    argv: Sequence[str] | None, defaults: ConfigT, *, description: str, port: int
) -> tuple[ConfigT, str, int]:
    """A fake vendor's command line: its configuration, host and port.

    ``--host`` (loopback), ``--port``, ``--merchant-id`` (or ``--merchant``),
    ``--secret``, ``--callback-delay``, ``--duplicate-callbacks``; what is not
    given keeps its value in ``defaults``.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--merchant-id", "--merchant", default=defaults.merchant_id)
    parser.add_argument("--secret", default=defaults.secret)
    parser.add_argument("--callback-delay", type=float, default=defaults.callback_delay)
    parser.add_argument("--duplicate-callbacks", type=int, default=defaults.duplicate_callbacks)
    args = parser.parse_args(argv)
    config = replace(
        defaults,
        merchant_id=args.merchant_id,
        secret=args.secret,
        callback_delay=args.callback_delay,
        duplicate_callbacks=args.duplicate_callbacks,
    )
    return config, args.host, args.port
