"""The vendor kit: what vendor plugins and their fake servers share.

A vendor plugin talks to a vendor over HTTP: it signs its requests, checks
the signature of every callback before reading it, and is tested against a
fake server on loopback that behaves like the vendor (signed requests,
asynchronous signed callbacks, retries, duplicates, replays refused). The
vendor's wire format — header names, the layout of the string to sign, the
endpoints, the JSON — stays in the plugin; the mechanics are here, one job
a module:

:mod:`~lendkit.vendorkit.signing`
    digests (SM3, SHA-256), HMAC-SM3 and HMAC-SHA256, SHA256withRSA,
    strings to sign (:func:`~lendkit.vendorkit.signing.canonical`, sorted
    ``k=v`` pairs), Base64, and the constant-time compare.
:mod:`~lendkit.vendorkit.nonces`
    the timestamp window and a thread-safe nonce cache with a lifetime.
:mod:`~lendkit.vendorkit.headers`
    :class:`~lendkit.vendorkit.headers.HeaderScheme`: a request or callback
    signed in four headers (merchant, timestamp, nonce, signature), made and
    verified.
:mod:`~lendkit.vendorkit.callbacks`
    a signed callback's headers and body to its verified payload, or a
    specific error.
:mod:`~lendkit.vendorkit.errors`
    those errors, one class per reason, each with the ``code`` the kernel's
    hooks take (``bad_signature`` or ``bad_format``).
:mod:`~lendkit.vendorkit.loopback`
    a threaded HTTP server on 127.0.0.1 (free port or a given one), a
    context manager with a base URL, and a JSON request handler.
:mod:`~lendkit.vendorkit.scheduler`
    one thread running delayed jobs in time order.
:mod:`~lendkit.vendorkit.fake`
    the base of a fake vendor server: configuration, signed merchant
    requests, callbacks retried and duplicated, a command line.
:mod:`~lendkit.vendorkit.recorder`
    a merchant's callback endpoint for tests, recording what arrives.

Importing the kit loads the standard library and ``cryptography`` only (no
database, no web framework), so a plugin's client code and a fake server
run anywhere. docs/plugins.md, "Writing a vendor plugin", walks through it.
"""

from __future__ import annotations

__all__: list[str] = []
