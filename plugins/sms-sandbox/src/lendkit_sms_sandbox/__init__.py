"""lendkit-sms-sandbox: a stand-in SMS sender that keeps messages, never sends them.

Public functions (for the demo's pages and for tests)::

    from lendkit_sms_sandbox import latest_code, messages

    code = latest_code(session, "13800138000", "otp_login")
"""

from lendkit_sms_sandbox.store import Message, latest_code, messages

__all__ = ["Message", "latest_code", "messages"]
