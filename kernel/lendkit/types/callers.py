"""Who calls a route: the values :func:`lendkit.callers.caller_of` builds for a handler."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ApiClientCaller", "BorrowerCaller", "Caller", "StaffCaller"]


class _Holder:
    """What every caller answers: does he hold ``permission``?"""

    __slots__ = ()
    permissions: frozenset[str]

    def holds(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True, slots=True)
class StaffCaller(_Holder):
    """A signed-in member of staff: ``user_id`` (the staff user), ``role`` and every
    permission the role holds (the kernel's and the plugins'). ``actor`` names
    him in the audit log (``staff:alice``)."""

    user_id: int
    role: str
    permissions: frozenset[str]
    actor: str


@dataclass(frozen=True, slots=True)
class BorrowerCaller(_Holder):
    """A signed-in borrower: he may see and act on his own records only
    (``borrower_id``); ``permissions`` are the borrower role's."""

    borrower_id: int
    permissions: frozenset[str]
    actor: str


@dataclass(frozen=True, slots=True)
class ApiClientCaller(_Holder):
    """A machine client signing its requests with an API key (``actor`` is ``apikey:lk_...``),
    with the permissions of the key's role."""

    role: str
    permissions: frozenset[str]
    actor: str


Caller = StaffCaller | BorrowerCaller | ApiClientCaller
