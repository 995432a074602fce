"""Reading a vendor's callback: first the signature, then the body.

A callback is an unauthenticated POST to a public URL until its signature
checks; nothing in it may be read (not even to log an order number) before.
:func:`verify_callback` does the two steps in that order and answers with
the payload or a specific error::

    try:
        payload = verify_callback(headers, body, SCHEME.checker(secret, "POST", "NOTIFY"))
    except VendorError as exc:  # SignatureError: code "bad_signature"; else "bad_format"
        raise ChannelError(exc.code, str(exc)) from None

``check`` is any ``(headers, body) -> None`` that raises a
:class:`~lendkit.vendorkit.errors.SignatureError`, such as
:meth:`HeaderScheme.checker <lendkit.vendorkit.headers.HeaderScheme.checker>`
or a function of the plugin's own for a vendor that signs callbacks
differently from requests; ``decode`` turns the body into the payload
(:func:`json_object` by default) and raises
:class:`~lendkit.vendorkit.errors.MalformedCallback`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from lendkit.vendorkit.errors import MalformedCallback

__all__ = ["json_object", "verify_callback"]


def json_object(body: bytes) -> dict[str, Any]:
    """``body`` as a JSON object, or :class:`~lendkit.vendorkit.errors.MalformedCallback`."""
    try:
        payload = json.loads(body)
    except ValueError:
        raise MalformedCallback("callback body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedCallback("callback body is not a JSON object")
    return payload


def verify_callback(
    headers: Mapping[str, str],
    body: bytes,
    check: Callable[[Mapping[str, str], bytes], None],
    *,
    decode: Callable[[bytes], dict[str, Any]] = json_object,
) -> dict[str, Any]:
    """The callback's payload once ``check`` accepts its signature."""
    check(headers, body)
    return decode(body)
