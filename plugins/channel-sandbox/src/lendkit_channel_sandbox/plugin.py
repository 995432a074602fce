"""Hook implementations of the channel-sandbox plugin."""

from __future__ import annotations

import lendkit
from lendkit.settings import Settings
from lendkit.types import ComplianceItem, PaymentChannel

from lendkit_channel_sandbox.channel import SandboxChannel
from lendkit_channel_sandbox.gateway import GatewayConfig

__all__: list[str] = []

# Read by the host from this source (like REQUIRES): a warning at every start and a
# banner on every page while this stand-in is enabled.
STAND_IN = "payments go to a fake gateway, no money moves"
# Its row in the tenant's compliance package.
COMPLIANCE = ComplianceItem(
    "Sandbox payment channel (tests and demo only)",
    ("非银行支付机构网络支付业务管理办法 (测试环境)",),
    "A fake gateway on loopback; no real money moves. Disable it on a production tenant.",
)

NAME = "sandbox"
DEFAULT_URL = "http://127.0.0.1:8765"


@lendkit.hookimpl
def register_channels(settings: Settings) -> list[PaymentChannel]:
    """The ``sandbox`` channel; options in ``[payments.channels.sandbox]``."""
    options = settings.payments.channels.get(NAME, {})
    return [
        SandboxChannel(
            str(options.get("url", DEFAULT_URL)),
            str(options.get("merchant_id", GatewayConfig.merchant_id)),
            str(options.get("secret", GatewayConfig.secret)),
            name=NAME,
            timeout=float(options.get("timeout", 10)),
        )
    ]


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [COMPLIANCE]
