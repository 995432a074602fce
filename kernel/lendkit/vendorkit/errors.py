"""What goes wrong with a vendor's signed message, one class per reason.

Every error carries ``code``, the word the kernel's hooks use for it
(:class:`~lendkit.types.ChannelError` and
:class:`~lendkit.types.SignatureCallbackRejected` take the same two), so
a plugin passes it on as it is::

    except VendorError as exc:
        raise ChannelError(exc.code, str(exc)) from None

and ``reason``, the finer cause, for logs and the fake server's answers.
The message never holds a secret, a signature or a body.
"""

from __future__ import annotations

from typing import ClassVar, Literal

__all__ = [
    "MalformedCallback",
    "MissingSignature",
    "ReplayedNonce",
    "SignatureError",
    "SignatureMismatch",
    "StaleTimestamp",
    "UnknownMerchant",
    "VendorError",
]


class VendorError(Exception):
    """A vendor's message that must not be acted on."""

    code: ClassVar[Literal["bad_signature", "bad_format"]] = "bad_format"
    reason: ClassVar[str] = "bad_format"


class SignatureError(VendorError):
    """The message is not proven to come from the vendor (or from the merchant)."""

    code = "bad_signature"
    reason = "bad_signature"


class MissingSignature(SignatureError):
    """A header the scheme needs is absent or not of its form."""

    reason = "missing_signature"


class UnknownMerchant(SignatureError):
    """The merchant (app) id is not the one the secret belongs to."""

    reason = "unknown_merchant"


class StaleTimestamp(SignatureError):
    """The timestamp is outside the window around now (a replay, or a clock off)."""

    reason = "stale_timestamp"


class ReplayedNonce(SignatureError):
    """The nonce was seen already within its lifetime: the same message again."""

    reason = "replayed_nonce"


class SignatureMismatch(SignatureError):
    """The signature is not the one the secret makes for these bytes."""

    reason = "signature_mismatch"


class MalformedCallback(VendorError):
    """The signature holds but the body is not what the vendor documents."""
