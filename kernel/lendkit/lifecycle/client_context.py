"""What came with an application besides its terms: the app's device and network
facts, and the referral code the borrower gave.

The borrower's app sends a ``client`` object with the application (device
fingerprint, its own IP address, user agent, coarse location, app version);
the web server adds the address it saw the request come from. All of it is
checked for form here (422 ``invalid_client``), stored beside the
application in ``application_context`` — the device id, both addresses and
the location SM4-encrypted, the device id with a blind index so that
applications can be counted by device without decrypting — and handed to
the credit hooks as :class:`lendkit.types.ClientContext`. The referral code
rides to the loan's events (``loan.disbursed``).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import BigInteger, ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lendkit.crypto.orm import BlindIndex, Encrypted, EncryptedRow, lookup
from lendkit.db import Base, UTCDateTime, utcnow
from lendkit.errors import ValidationFailed
from lendkit.row_values import from_fields
from lendkit.types import ClientContext

__all__ = [
    "ApplicationContext",
    "Extras",
    "borrowers_on_device",
    "client_of",
    "parse",
    "record",
    "referral_code_of",
    "referral_code_of_loan",
    "seen_address",
]

DEVICE_KIND: Final = "device"
_DEVICE = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
_VERSION = re.compile(r"[A-Za-z0-9._+-]{1,32}")
_REFERRAL = re.compile(r"[A-Za-z0-9_-]{1,32}")
MAX_USER_AGENT: Final = 512
MAX_LOCATION: Final = 64
_FIELDS: Final = frozenset({"device_id", "ip", "user_agent", "location", "app_version"})


class ApplicationContext(EncryptedRow, Base):
    """The client facts and referral code of one application (written with it, never changed)."""

    __tablename__ = "application_context"

    application_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("application.id"), primary_key=True, autoincrement=False
    )
    borrower_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("borrower.id"))
    device_id: Mapped[str | None] = mapped_column(Encrypted())
    device_index: Mapped[bytes | None] = mapped_column(
        BlindIndex("device_id", kind=DEVICE_KIND), index=True
    )
    ip: Mapped[str | None] = mapped_column(Encrypted())  # as the app claims it
    seen_ip: Mapped[str | None] = mapped_column(Encrypted())  # as the web server saw it
    location: Mapped[str | None] = mapped_column(Encrypted())
    user_agent: Mapped[str | None] = mapped_column(String(MAX_USER_AGENT))
    app_version: Mapped[str | None] = mapped_column(String(32))
    referral_code: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class Extras:
    """The checked ``client`` object (without the seen address) and referral code."""

    client: ClientContext | None = None
    referral_code: str | None = None


def _invalid(zh: str, en: str, code: str = "invalid_client") -> ValidationFailed:
    return ValidationFailed(f"{zh} / {en}", code=code)


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _invalid(
            f"client.{name} 须为 1 至 {limit} 个字符的文本",
            f"client.{name} must be text of 1 to {limit} characters",
        )
    if any(unicodedata.category(c).startswith("C") for c in value):
        raise _invalid(
            f"client.{name} 含有控制字符", f"client.{name} must not hold control characters"
        )
    return value.strip()


def _pattern(value: object, name: str, pattern: re.Pattern[str], allowed: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _invalid(f"client.{name} 格式不正确（{allowed}）", f"client.{name} must be {allowed}")
    return value


def _ip(value: object, name: str) -> str:
    try:
        if not isinstance(value, str) or len(value) > 45:
            raise ValueError(value)
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise _invalid(
            f"{name} 不是有效的 IP 地址", f"{name} is not an IPv4 or IPv6 address"
        ) from None


def seen_address(host: str | None) -> str | None:
    """The peer address as the server saw it, if it is one (a test client's may not be)."""
    try:
        return str(ipaddress.ip_address(host)) if host else None
    except ValueError:
        return None


def parse(data: Mapping[str, Any]) -> Extras:
    """Check ``client`` and ``referral_code`` of an application body (both optional)."""
    referral = data.get("referral_code")
    if referral is not None and (
        not isinstance(referral, str) or not _REFERRAL.fullmatch(referral)
    ):
        raise _invalid(
            "推荐码须为 1 至 32 个字母、数字、_ 或 -",
            "referral_code must be 1 to 32 letters, digits, _ or -",
            code="invalid_referral_code",
        )
    raw = data.get("client")
    if raw is None:
        return Extras(referral_code=referral)
    if not isinstance(raw, Mapping):
        raise _invalid("client 须为对象", "client must be an object")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _invalid(
            f"client 含有未知字段 {', '.join(map(str, unknown))}",
            f"client has unknown fields {', '.join(map(str, unknown))}; it takes "
            + ", ".join(sorted(_FIELDS)),
        )

    def optional(name: str, check: Any) -> str | None:
        value = raw.get(name)
        return None if value is None else str(check(value))

    client = ClientContext(
        device_id=optional(
            "device_id",
            lambda v: _pattern(v, "device_id", _DEVICE, "1 to 128 letters, digits or ._:+/=-"),
        ),
        ip=optional("ip", lambda v: _ip(v, "client.ip")),
        location=optional("location", lambda v: _text(v, "location", MAX_LOCATION)),
        user_agent=optional("user_agent", lambda v: _text(v, "user_agent", MAX_USER_AGENT)),
        app_version=optional(
            "app_version",
            lambda v: _pattern(v, "app_version", _VERSION, "1 to 32 letters, digits or ._+-"),
        ),
    )
    return Extras(client=client, referral_code=referral)


def record(
    session: Session,
    application_id: int,
    borrower_id: int,
    client: ClientContext | None,
    referral_code: str | None,
) -> None:
    """Store an application's context (in its submitting transaction)."""
    if client is None and referral_code is None:
        return
    client = client or ClientContext()
    session.add(
        ApplicationContext(
            application_id=application_id,
            borrower_id=borrower_id,
            device_id=client.device_id,
            ip=client.ip,
            seen_ip=client.seen_ip,
            location=client.location,
            user_agent=client.user_agent,
            app_version=client.app_version,
            referral_code=referral_code,
        )
    )
    session.flush()  # before the credit hooks, so that they count this application too


def _row(session: Session, application_id: int) -> ApplicationContext | None:
    return session.get(ApplicationContext, application_id)


def client_of(session: Session, application_id: int) -> ClientContext | None:
    """The client facts of an application, or None when it came with none."""
    row = _row(session, application_id)
    if row is None:
        return None
    return from_fields(ClientContext, row)


def referral_code_of(session: Session, application_id: int) -> str | None:
    row = _row(session, application_id)
    return None if row is None else row.referral_code


def referral_code_of_loan(session: Session, loan_id: int) -> str | None:
    """The referral code of the application a loan was booked from, if any."""
    from lendkit.lifecycle.application_models import Application

    return session.scalar(
        select(ApplicationContext.referral_code)
        .join(Application, Application.id == ApplicationContext.application_id)
        .where(Application.loan_id == loan_id)
    )


def borrowers_on_device(session: Session, device_id: str) -> int:
    """How many borrowers applied from the device ``device_id`` (by its blind index)."""
    index = lookup(session, DEVICE_KIND, device_id)
    return int(
        session.scalar(
            select(func.count(func.distinct(ApplicationContext.borrower_id))).where(
                ApplicationContext.device_index == index
            )
        )
        or 0
    )
