"""E-signature of loan agreements (``sign_contract``, ``parse_signature_callback``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    pass

__all__ = [
    "ContractSigner",
    "ContractToSign",
    "SignatureCallbackRejected",
    "SignatureResult",
    "SignatureTicket",
]


@dataclass(frozen=True, slots=True)
class ContractSigner:
    """The borrower who signs, as an e-sign vendor's CA needs him: personal data.

    Vendors issue the signer a certificate bound to his real name and
    resident ID number and confirm by SMS to his mobile. Send these to the
    vendor only; never log them (``lendkit.masking``), never put them in an
    exception message. Left out of ``repr``.
    """

    borrower_id: int
    name: str = field(repr=False)
    id_number: str = field(repr=False)
    phone: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ContractToSign:
    """A rendered loan agreement to have signed by its borrower.

    ``request_no`` numbers this signing attempt: send it to the vendor as
    your order number and expect it back with the result, so a repeated
    request never starts a second signing. ``pdf`` is the agreement exactly
    as the borrower read it, ``sm3`` its SM3 digest (lower-case hex).
    Results go to :meth:`callback_url` of your vendor name.
    """

    request_no: str
    contract_no: str
    loan_id: int
    title: str
    pdf: bytes = field(repr=False)
    sm3: str
    signer: ContractSigner
    callback_base_url: str

    def callback_url(self, vendor: str) -> str:
        """Where vendor ``vendor`` posts its result for this request."""
        return f"{self.callback_base_url.rstrip('/')}/api/contracts/esign/{vendor}/callback"


@dataclass(frozen=True, slots=True)
class SignatureTicket:
    """A vendor's answer to ``sign_contract``: signing has started, or is already over.

    ``vendor`` is your vendor name (the one in the callback URL);
    ``reference`` the vendor's id of the signing, for disputes; ``sign_url``
    the page where the borrower signs (H5), if the vendor has one. A vendor
    that signs at once answers ``signed`` with ``signed_pdf``, or ``failed``
    with a short ``reason`` code. ``sandbox`` marks a signature without legal
    effect (demo and tests): the kernel shows it as such.
    """

    vendor: str
    reference: str
    status: Literal["pending", "signed", "failed"] = "pending"
    sign_url: str = ""
    signed_pdf: bytes | None = field(default=None, repr=False)
    reason: str = ""
    sandbox: bool = False


@dataclass(frozen=True, slots=True)
class SignatureResult:
    """The outcome of a signing, read from the vendor's verified callback.

    ``request_no`` is the number the kernel gave in :class:`ContractToSign`;
    ``signed_pdf`` the signed document (required with ``signed``): an
    incremental update of the PDF sent, so it begins with exactly its bytes.
    ``reason`` is a short code with ``failed`` (``signer_declined``,
    ``expired``, ...).
    """

    request_no: str
    vendor: str
    reference: str
    status: Literal["signed", "failed"]
    signed_pdf: bytes | None = field(default=None, repr=False)
    reason: str = ""
    sandbox: bool = False


class SignatureCallbackRejected(Exception):
    """Raised by ``parse_signature_callback``: the callback is forged or not understood.

    ``code`` is ``bad_signature`` (the kernel answers 401 ``callback_rejected``)
    or ``bad_format`` (400 ``callback_malformed``).
    """

    def __init__(self, code: Literal["bad_signature", "bad_format"], message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
