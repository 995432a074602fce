"""The demo tenant: created and seeded on SQLite on first run, reused after."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lendkit.crypto.keys import write_master_key
from lendkit.lifecycle.demo import simulate
from lendkit.runtime import Runtime, open_runtime
from lendkit.settings import CONFIG_ENV

__all__ = ["DEMO_CONFIG", "prepare_demo"]

DEMO_CONFIG = """\
# Demo tenant created by `lendkit demo`. Edit freely; delete the folder to start over.
data_dir = "data"

[tenant]
name = "Demo Microfinance Co."
slug = "demo"
display_name = "演示小贷"
primary_colour = "#b4232a"

[plugins]
# The sandboxes stand in for real vendors: NOT real checks, NO real money (demo only).
# identity-sandbox: identity verifier; bureau-sandbox: credit reports;
# channel-sandbox: payment gateway; esign-sandbox: e-signature vendor, NOT
# legally valid (runs inside the app); sms-sandbox: SMS kept, never sent.
enabled = [
    "marketing",
    "identity-sandbox",
    "bureau-sandbox",
    "channel-sandbox",
    "esign-sandbox",
    "sms-sandbox",
]

# The demo's own products, seeded on first start (the kernel ships none);
# change them afterwards through the products API (/api/admin/products).
[[products]]
code = "consumer-12"
name = "消费贷 Consumer instalment loan"
min_amount = "1000.00"
max_amount = "200000.00"
terms_months = [3, 6, 12, 24]
annual_rate = "0.1090"
repayment_methods = ["equal-installment", "equal-principal"]
upfront_fee_rate = "0.0100"
description = "等额本息 / 等额本金, monthly instalments."

[[products]]
code = "business-bullet"
name = "经营贷 Business loan, interest first"
min_amount = "10000.00"
max_amount = "300000.00"
terms_months = [6, 12]
annual_rate = "0.1440"
repayment_methods = ["interest-first", "bullet"]
description = "先息后本 or 到期一次还本付息."

[payments]
callback_base_url = "http://127.0.0.1:8000"

# Run the fake gateway with `lendkit sandbox-gateway --port 8765` to move (fake) money.
[payments.channels.sandbox]
url = "http://127.0.0.1:8765"
merchant_id = "LENDKIT-DEMO"
secret = "sandbox-demo-secret"
"""


def banner(base: str) -> str:
    """What to open and how to sign in, printed when the demo starts."""
    from lendkit.auth.demo import DEMO_BORROWERS, DEMO_STAFF

    staff = ", ".join(login.login for login in DEMO_STAFF)
    admin = DEMO_STAFF[0]
    with_totp = [login for login in DEMO_STAFF if login.totp_secret]
    borrower = DEMO_BORROWERS[0]
    return "\n".join(
        [
            "",
            f"  Open     {base}/                 home page: products and branding",
            f"           {base}/schema           API documentation (OpenAPI)",
            f"           {base}/readyz           readiness checks",
            f"  Staff    POST {base}/api/auth/staff/login  {{username, password, totp}}",
            f"           usernames {staff}; password {admin.password}",
            *(f"           {login.login} TOTP secret {login.totp_secret}" for login in with_totp),
            "           current code: .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('<secret>').now())\"",
            f"  Borrower POST {base}/api/auth/borrower/login  {{phone, password}}",
            f"           phones {', '.join(b.login for b in DEMO_BORROWERS)}; password {borrower.password}",
            f"  Loans    GET {base}/api/loans  (staff); lendkit reconcile exceptions; lendkit eod --date D",
            "  Stop     Ctrl-C",
            "",
        ]
    )


def prepare_demo(directory: Path, echo: Callable[[str], object] = print) -> Runtime:
    """Create ``directory`` with settings and a seeded database unless it exists."""
    directory = directory.resolve()
    config = directory / "lendkit.toml"
    if not config.exists():
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(DEMO_CONFIG, encoding="utf-8")
        echo(f"created demo tenant in {directory}")
    os.environ[CONFIG_ENV] = str(config)
    runtime = open_runtime()
    master_key = runtime.settings.keys.master_key_file
    if master_key and not runtime.settings.path(master_key).exists():
        write_master_key(runtime.settings.path(master_key))
        echo(f"created a demo master key in {runtime.settings.path(master_key)}")
    fresh = not (runtime.settings.path(runtime.settings.data_dir) / "lendkit.db").exists()
    runtime.upgrade()
    if fresh:
        with runtime.sessions.begin() as session:
            runtime.pm.hook.seed_demo(session=session, settings=runtime.settings)
        simulate(runtime, echo)
        echo("seeded demo data")
    return runtime
