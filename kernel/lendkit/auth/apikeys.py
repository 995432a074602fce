"""API keys for machine clients (channel callbacks, integrations).

A key has a public id (``lk_`` + 16 hex), a role (any staff role except
admin) and a 256-bit secret stored SM4-encrypted, because verifying an
HMAC needs the secret itself. Requests are signed as :mod:`lendkit.auth.signing`
describes; the server refuses a timestamp outside ``[auth]
api_clock_skew_seconds`` (±5 min), an unknown or revoked key, a wrong
signature, and a nonce it has seen within the window (replay).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lendkit.auth import signing
from lendkit.auth.digests import equal
from lendkit.auth.errors import Unauthenticated
from lendkit.auth.models import ApiKey, UsedNonce
from lendkit.auth.permissions import STAFF_ROLES
from lendkit.auth.principal import Principal
from lendkit.errors import NotFoundError, ValidationFailed
from lendkit.settings import Settings

__all__ = ["authenticate", "create", "revoke"]

_HEADERS = (
    signing.KEY_HEADER,
    signing.TIMESTAMP_HEADER,
    signing.NONCE_HEADER,
    signing.SIGNATURE_HEADER,
)


def create(session: Session, name: str, role: str, created_by: str) -> tuple[ApiKey, str]:
    """A new key; returns the row and the secret (shown once, never again)."""
    if role not in STAFF_ROLES - {"admin"}:
        raise ValidationFailed(
            "API 密钥的角色须为管理员以外的员工角色。"
            f"An API key's role must be a staff role other than admin: {sorted(STAFF_ROLES - {'admin'})}."
        )
    if not 1 <= len(name) <= 100:
        raise ValidationFailed("名称须为 1–100 个字符。The name needs 1 to 100 characters.")
    secret = secrets.token_hex(32)
    key = ApiKey(
        key_id="lk_" + secrets.token_hex(8),
        name=name,
        role=role,
        secret=secret,
        created_by=created_by,
    )
    session.add(key)
    session.flush()
    return key, secret


def revoke(session: Session, key_id: str, now: datetime) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    if key is None:
        raise NotFoundError("未找到该 API 密钥。No such API key.")
    if key.revoked_at is None:
        key.revoked_at = now
    return key


def _refuse(reason: str, detail: str) -> Unauthenticated:
    return Unauthenticated(f"{detail}", reason=reason)


def authenticate(
    session: Session,
    settings: Settings,
    headers: Mapping[str, str],
    method: str,
    path: str,
    query: str,
    body: bytes,
    now: datetime,
) -> Principal:
    """The API key's principal for a signed request, or 401 ``unauthenticated``."""
    key_id, stamp, nonce, signature = (headers.get(name) for name in _HEADERS)
    if not (key_id and stamp and nonce and signature):
        raise _refuse(
            "missing_signature_headers",
            "签名请求须包含 X-Lendkit-Key、X-Lendkit-Timestamp、X-Lendkit-Nonce、"
            "X-Lendkit-Signature 四个请求头。A signed request needs all four X-Lendkit-* headers.",
        )
    if not re.fullmatch(r"\d{1,12}", stamp) or not signing.NONCE.fullmatch(nonce):
        raise _refuse(
            "malformed_signature_headers",
            "时间戳须为 Unix 秒数，随机数须为 16–64 位字母数字。"
            "The timestamp must be Unix seconds and the nonce 16-64 of [A-Za-z0-9_-].",
        )
    skew = settings.auth.api_clock_skew_seconds
    if abs(now.timestamp() - int(stamp)) > skew:
        raise _refuse(
            "stale_timestamp",
            f"请求时间戳与服务器时间相差超过 {skew} 秒，请校准时钟。"
            f"The request timestamp is more than {skew} seconds from server time.",
        )
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
    canonical = signing.canonical_request(method, path, query, stamp, nonce, body)
    expected = signing.sign(key.secret if key else "00" * 32, canonical)
    if key is None or key.revoked_at is not None or not equal(expected, signature.lower()):
        raise _refuse(
            "bad_signature",
            "API 密钥未知、已吊销，或签名不正确。The API key is unknown or revoked, "
            "or the signature does not match the request.",
        )
    try:
        with session.begin_nested():
            session.add(
                UsedNonce(
                    scope=f"apikey:{key_id}",
                    value=nonce,
                    expires_at=now + timedelta(seconds=2 * skew),
                )
            )
    except IntegrityError:
        raise _refuse(
            "nonce_replayed",
            "该请求已处理过（随机数重复），拒绝重放。This nonce was already used: replay refused.",
        ) from None
    key.last_used_at = now
    return Principal(kind="apikey", actor=f"apikey:{key.key_id}", role=key.role)
