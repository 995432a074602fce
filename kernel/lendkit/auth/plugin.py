"""Built-in plugin: authentication and authorization routes."""

from __future__ import annotations

from datetime import timedelta

from litestar.types import ControllerRouterHandler

import lendkit
from lendkit.auth import api_account, api_borrowers, api_staff, cleanup
from lendkit.types import ComplianceItem, Job

__all__: list[str] = []


@lendkit.hookimpl
def register_routes() -> list[ControllerRouterHandler]:
    return [*api_account.ROUTES, *api_borrowers.ROUTES, *api_staff.ROUTES]


@lendkit.hookimpl
def register_jobs() -> list[Job]:
    return [Job(name="auth-cleanup", every=timedelta(minutes=10), run=cleanup.purge)]


@lendkit.hookimpl
def compliance_items() -> list[ComplianceItem]:
    return [
        ComplianceItem(
            function="Authentication: passwords, TOTP for administrators, lock-out, session time-out",
            clauses=("GB/T 22239-2019 8.1.4.1 身份鉴别", "GB/T 39786-2021 身份鉴别"),
            description="argon2id passwords; TOTP second factor; lock-out after repeated "
            "failures; idle time-out; HMAC-SM3 signed API requests.",
        ),
        ComplianceItem(
            function="Authorization: roles and one permission matrix; masked personal data",
            clauses=("GB/T 22239-2019 8.1.4.2 访问控制", "个人信息保护法 第五十一条"),
            description="Every route declares a permission; unmasked views need pii.unmask "
            "and are audited.",
        ),
    ]
