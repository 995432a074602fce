"""Value types that hook specifications name: the public plugin API.

They are small, immutable and carry data only; see :mod:`lendkit.hookspecs`
for when each one is asked for. This package imports nothing else from the
kernel (a test checks), so a plugin, the hook specifications and the kernel
all depend on it and it on none of them. Import every name from
``lendkit.types``; the submodules group them by the hooks that use them.
"""

from __future__ import annotations

from lendkit.types.callers import ApiClientCaller, BorrowerCaller, Caller, StaffCaller
from lendkit.types.contacts import ContactReceipt, ContactRequest
from lendkit.types.contracts import (
    ContractSigner,
    ContractToSign,
    SignatureCallbackRejected,
    SignatureResult,
    SignatureTicket,
)
from lendkit.types.credit import (
    Applicant,
    ClientContext,
    CreditReport,
    LimitProposal,
    OfferAdjustment,
    OfferTerms,
    OfferToAdjust,
    RiskOutcome,
    RiskSignal,
)
from lendkit.types.events import Event
from lendkit.types.identity import IdentityClaim, IdentityVerdict
from lendkit.types.payments import (
    ChannelAck,
    ChannelError,
    ChannelResult,
    PaymentChannel,
    PaymentInstruction,
    PaymentKind,
    StatementLine,
)
from lendkit.types.products import ALLOCATION_ORDER, AccountSpec, AccountType, ProductSpec
from lendkit.types.registration import (
    ComplianceItem,
    Job,
    JobContext,
    KeyWrapper,
    Page,
    PageArea,
    Permission,
)

__all__ = [
    "ALLOCATION_ORDER",
    "AccountSpec",
    "AccountType",
    "ApiClientCaller",
    "Applicant",
    "BorrowerCaller",
    "Caller",
    "ChannelAck",
    "ChannelError",
    "ChannelResult",
    "ClientContext",
    "ComplianceItem",
    "ContactReceipt",
    "ContactRequest",
    "ContractSigner",
    "ContractToSign",
    "CreditReport",
    "Event",
    "IdentityClaim",
    "IdentityVerdict",
    "Job",
    "JobContext",
    "KeyWrapper",
    "LimitProposal",
    "OfferAdjustment",
    "OfferTerms",
    "OfferToAdjust",
    "Page",
    "PageArea",
    "PaymentChannel",
    "PaymentInstruction",
    "PaymentKind",
    "Permission",
    "ProductSpec",
    "RiskOutcome",
    "RiskSignal",
    "SignatureCallbackRejected",
    "SignatureResult",
    "SignatureTicket",
    "StaffCaller",
    "StatementLine",
]
