"""Hook implementations of the channel-sandbox plugin."""

from __future__ import annotations

import lendkit
from lendkit.plugin_options import plugin_options
from lendkit.settings import Settings
from lendkit.types import ComplianceItem, PaymentChannel
from pydantic import BaseModel, ConfigDict, Field

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

PLUGIN = "channel-sandbox"
NAME = "sandbox"  # the channel's name, as payment orders and statements give it
DEFAULT_URL = "http://127.0.0.1:8765"


class Options(BaseModel):
    """``[plugins.options.channel-sandbox]``: where the fake gateway listens, as whom."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = DEFAULT_URL
    merchant_id: str = GatewayConfig.merchant_id
    secret: str = GatewayConfig.secret
    timeout: float = Field(10.0, gt=0, le=300)


# Read by the host: the plugin's settings section is validated by this model.
OPTIONS = Options


@lendkit.hookimpl
def register_channels(settings: Settings) -> list[PaymentChannel]:
    """The ``sandbox`` channel; options in ``[plugins.options.channel-sandbox]``."""
    options = plugin_options(settings, PLUGIN, Options)
    return [
        SandboxChannel(
            options.url,
            options.merchant_id,
            options.secret,
            name=NAME,
            timeout=options.timeout,
        )
    ]


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [COMPLIANCE]
