"""Errors the kernel raises on purpose, each with a stable code.

``LendkitError`` subclasses become RFC 9457 problem details in the web app
(status and code from the class) and one clear line in the CLI. One shape
for every error: besides its code and detail, any of them may carry a
machine-readable ``reason``, response ``headers`` (``Retry-After``,
``WWW-Authenticate``) and field-level ``errors`` (:class:`FieldProblem`);
:meth:`LendkitError.problem_fields` is what the problem document adds.
A code has one status everywhere (``tests/test_error_codes.py`` checks).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

__all__ = [
    "ConflictError",
    "FieldProblem",
    "LendkitError",
    "NotFoundError",
    "StartupError",
    "ValidationFailed",
]


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One field that failed: a stable ``code`` and a bilingual ``detail``."""

    field: str
    code: str
    detail: str


class LendkitError(Exception):
    """Base class; ``code`` is stable and documented, ``status`` is HTTP.

    ``reason`` refines the code for machines (which check refused a
    signature), ``headers`` go on the response, ``errors`` name each field
    that failed.
    """

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        **kwargs: Any,
    ) -> None:
        # One line declares a refusal: class Gone(LendkitError, status=410, code="gone", ...).
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if code is not None:
            cls.code = code
        if title is not None:
            cls.title = title

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
        errors: Iterable[FieldProblem] = (),
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code  # type: ignore[misc]  # per-instance refinement of the class code
        self.reason = reason
        self.headers: dict[str, str] = dict(headers or {})
        self.errors: tuple[FieldProblem, ...] = tuple(errors)

    def problem_fields(self) -> dict[str, Any]:
        """What the problem document carries beyond type, title, status, detail, code."""
        fields: dict[str, Any] = {}
        if self.reason:
            fields["reason"] = self.reason
        if self.errors:
            fields["errors"] = [asdict(problem) for problem in self.errors]
        return fields


class ValidationFailed(LendkitError, status=422, code="validation_failed", title="Invalid input"):
    """Input that breaks a rule; ``errors`` may name each field."""


class NotFoundError(LendkitError, status=404, code="not_found", title="Not found"):
    """No such record (or not one the caller may see)."""


class ConflictError(LendkitError, status=409, code="conflict", title="Conflict"):
    """The request conflicts with the record's state."""


class StartupError(LendkitError, status=500, code="startup_error", title="Cannot start"):
    """The tenant cannot start: bad settings, unknown plugin, unreachable DB.

    The CLI prints it as one line and exits with code 2.
    """
