"""Errors the kernel raises on purpose, each with a stable code.

``LendkitError`` subclasses become RFC 9457 problem details in the web app
(status and code from the class) and one clear line in the CLI.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConflictError",
    "LendkitError",
    "NotFoundError",
    "StartupError",
    "ValidationFailed",
]


class LendkitError(Exception):
    """Base class; ``code`` is stable and documented, ``status`` is HTTP."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code


class ValidationFailed(LendkitError):
    status = 422
    code = "validation_failed"
    title = "Invalid input"


class NotFoundError(LendkitError):
    status = 404
    code = "not_found"
    title = "Not found"


class ConflictError(LendkitError):
    status = 409
    code = "conflict"
    title = "Conflict"


class StartupError(LendkitError):
    """The tenant cannot start: bad settings, unknown plugin, unreachable DB.

    The CLI prints it as one line and exits with code 2.
    """

    status = 500
    code = "startup_error"
    title = "Cannot start"
