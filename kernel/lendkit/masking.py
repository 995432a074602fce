"""Masking of personal data in free text: log lines, error messages, exports.

Structured fields are masked where they are rendered; this is the safety net
for text that may carry a number someone pasted.
"""

from __future__ import annotations

import re

__all__ = ["mask_card", "mask_id_number", "mask_name", "mask_phone", "mask_text"]

_ID = re.compile(r"(?<!\d)(\d{4})\d{10}(\d{3}[\dXx])(?![\dXx])")
_CARD = re.compile(r"(?<!\d)\d{12,15}(\d{4})(?!\d)")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_id_number(value: str) -> str:
    """``110101199003071234`` → ``1101**********1234``."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:] if len(value) > 8 else "*" * len(value)


def mask_phone(value: str) -> str:
    """``13812345678`` → ``138****5678``."""
    return value[:3] + "****" + value[-4:] if len(value) >= 8 else "*" * len(value)


def mask_card(value: str) -> str:
    """``6222020200112233445`` → ``**** 3445``."""
    return "**** " + value[-4:] if len(value) > 4 else "****"


def mask_name(value: str) -> str:
    """``张三`` → ``张*``; ``欧阳娜娜`` → ``欧***``."""
    return value[:1] + "*" * (len(value) - 1) if value else value


def mask_text(text: str) -> str:
    """Mask every resident ID, bank card and mobile number found in ``text``."""
    text = _ID.sub(lambda m: m.group(1) + "*" * 10 + m.group(2), text)
    text = _CARD.sub(lambda m: "**** " + m.group(1), text)
    return _PHONE.sub(lambda m: m.group(1) + "****" + m.group(2), text)
