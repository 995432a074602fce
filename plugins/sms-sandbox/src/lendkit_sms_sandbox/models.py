"""The plugin's one table: the messages it kept instead of sending them."""

from __future__ import annotations

from datetime import datetime

from lendkit.crypto.orm import Encrypted, EncryptedRow
from lendkit.db import Base, BigId, UTCDateTime, utcnow
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

__all__ = ["KeptMessage"]


class KeptMessage(EncryptedRow, Base):
    """A message 'sent' by the stand-in: number and text SM4-encrypted (the text may hold a code)."""

    __tablename__ = "sms_sandbox_message"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(Encrypted())
    recipient_masked: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Encrypted())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
