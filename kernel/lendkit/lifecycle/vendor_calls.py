"""Asking a vendor plugin's hook without letting its failure lose the attempt.

Contacting a borrower and sending a contract for signature record an attempt
before they ask the vendor, and its outcome after: a vendor that answers
nothing or raises is an outcome to record, never an exception that rolls the
attempt back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["ask_vendor"]

T = TypeVar("T")


def ask_vendor(
    ask: Callable[[], T | None],
    *,
    missing: str,
    broken: str,
    log: logging.Logger,
    warning: str,
    extra: Mapping[str, Any],
) -> tuple[T | None, str]:
    """``ask()``'s answer and ``""``; or None and why not: ``missing`` when no
    plugin answered, ``broken`` when it raised (logged as ``warning`` with
    ``extra`` and the exception's type only: its text may carry personal data)."""
    try:
        answer = ask()
    except Exception as exc:  # a vendor's failure must not lose the attempt
        log.warning(warning, extra={**extra, "error": type(exc).__name__})
        return None, broken
    return answer, "" if answer is not None else missing
