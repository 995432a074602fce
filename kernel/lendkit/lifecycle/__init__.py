"""The loan lifecycle: schedules, pricing, and (later) the loan state machine.

:mod:`lendkit.lifecycle.schedules` builds repayment schedules and
:mod:`lendkit.lifecycle.pricing` prices them (the all-in annualized rate of
PBOC Announcement 〔2021〕No. 3 and the tenant's cap); both are pure
calculation in ``Decimal``, with no database and no tenant.
"""
