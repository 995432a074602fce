"""Funding sources (own funds, partner institutions) and each loan's funding shares.

A funding source is a sub-ledger: its own ``fund_pool:<code>`` (and, for a
partner, ``partner_payable:<code>``) accounts. Its *agreement* says how the
components other than principal and interest are shared (penalty and fees:
by share, or all to own funds). Sources and agreements are never edited in
place — a new agreement is a new source code — so every past split can be
recomputed exactly; deactivating a source only stops new loans using it.

A loan's funders are written once (:func:`set_loan_funding`) and validated:
known active sources, positive shares summing to 1, own funds at least
``[caps] min_own_share``. Writing the same funders again is a no-op;
different ones are a conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import BigInteger, Boolean, ForeignKey, Numeric, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from lendkit import audit
from lendkit.clearing.colending import OWN, Agreement, Funder, validate_funders
from lendkit.db import Base, UTCDateTime, utcnow
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.settings import Settings

__all__ = [
    "OWN",
    "FundingSource",
    "LoanFunding",
    "add_source",
    "agreement_of",
    "funders_of",
    "set_loan_funding",
    "sources",
]

Kind = Literal["own", "partner"]
Rule = Literal["share", "own"]
SHARE = Numeric(7, 6)


class FundingSource(Base):
    __tablename__ = "funding_source"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # own | partner
    # The agreement: how penalty and fees are shared ("share" or "own").
    penalty_rule: Mapped[str] = mapped_column(String(8), default="share")
    fees_rule: Mapped[str] = mapped_column(String(8), default="own")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def agreement(self) -> Agreement:
        return Agreement(penalty=self.penalty_rule, fees=self.fees_rule)  # type: ignore[arg-type]


class LoanFunding(Base):
    """One funder's share of one loan; written once with the loan's other funders."""

    __tablename__ = "loan_funding"

    loan_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("funding_source.code"), primary_key=True)
    share: Mapped[Decimal] = mapped_column(SHARE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def sources(session: Session, *, active_only: bool = False) -> list[FundingSource]:
    query = select(FundingSource).order_by(FundingSource.id)
    if active_only:
        query = query.where(FundingSource.active.is_(True))
    return list(session.scalars(query))


def add_source(
    session: Session,
    code: str,
    name: str,
    *,
    kind: Kind = "partner",
    penalty: Rule = "share",
    fees: Rule = "own",
    actor: str = "system",
) -> FundingSource:
    """Register a partner institution (the own source exists from the start); audited."""
    if kind != "partner":
        raise ValidationFailed("only partner sources can be added", code="invalid_funding_source")
    if not code.isidentifier() or not code.islower() or len(code) > 32:
        raise ValidationFailed(
            f"source code {code!r}: lower-case letters, digits and _ only",
            code="invalid_funding_source",
        )
    if penalty not in ("share", "own") or fees not in ("share", "own"):
        raise ValidationFailed("penalty and fees rules are 'share' or 'own'", code="invalid_rule")
    if session.scalar(select(FundingSource.id).where(FundingSource.code == code)) is not None:
        raise ConflictError(f"funding source {code!r} exists", code="funding_source_exists")
    source = FundingSource(
        code=code, name=name, kind=kind, penalty_rule=penalty, fees_rule=fees, active=True
    )
    session.add(source)
    session.flush()
    audit.record(
        session, actor, "funding.source_added", f"funding_source:{code}", penalty=penalty, fees=fees
    )
    return source


def agreement_of(session: Session, loan_id: int) -> Agreement:
    """The agreement of the loan's partner (own funds alone: the default agreement).

    A loan has at most one partner in this version; with several, the first
    partner's agreement governs.
    """
    partner = session.scalar(
        select(FundingSource)
        .join(LoanFunding, LoanFunding.source == FundingSource.code)
        .where(LoanFunding.loan_id == loan_id, FundingSource.kind == "partner")
        .order_by(FundingSource.id)
        .limit(1)
    )
    return partner.agreement if partner is not None else Agreement()


def funders_of(session: Session, loan_id: int) -> list[Funder]:
    """The loan's funders, own funds first; :class:`NotFoundError` if none were set."""
    rows = session.execute(
        select(LoanFunding.source, LoanFunding.share)
        .where(LoanFunding.loan_id == loan_id)
        .order_by(LoanFunding.source != OWN, LoanFunding.source)
    ).all()
    if not rows:
        raise NotFoundError(f"loan {loan_id} has no funding shares", code="loan_not_funded")
    return [Funder(source, Decimal(share).normalize()) for source, share in rows]


def set_loan_funding(
    session: Session, settings: Settings, loan_id: int, funders: Sequence[Funder]
) -> list[Funder]:
    """Record who funds ``loan_id`` and with which share, once.

    Raises :class:`ValidationFailed` (``invalid_funding``) for unknown or
    inactive sources, bad shares or too small an own share, and
    :class:`ConflictError` (``funding_already_set``) when different funders
    were recorded before.
    """
    if not funders:
        raise ValidationFailed("a loan needs at least one funder", code="invalid_funding")
    if len({f.source for f in funders}) != len(funders):
        raise ValidationFailed("a source appears twice", code="invalid_funding")
    for funder in funders:
        if funder.share != funder.share.quantize(Decimal("0.000001")):
            raise ValidationFailed(
                f"share {funder.share} has more than 6 decimal places", code="invalid_funding"
            )
    known = {
        s.code: s
        for s in session.scalars(
            select(FundingSource).where(FundingSource.code.in_([f.source for f in funders]))
        )
    }
    for funder in funders:
        source = known.get(funder.source)
        if source is None or not source.active:
            raise ValidationFailed(
                f"unknown or inactive funding source {funder.source!r}", code="invalid_funding"
            )
    try:
        validate_funders(funders, settings.caps.min_own_share)
    except ValueError as exc:
        raise ValidationFailed(str(exc), code="invalid_funding") from None
    wanted = sorted((f.source, f.share) for f in funders)
    existing = session.execute(
        select(LoanFunding.source, LoanFunding.share).where(LoanFunding.loan_id == loan_id)
    ).all()
    if existing:
        if sorted((source, Decimal(share)) for source, share in existing) != wanted:
            raise ConflictError(
                f"loan {loan_id} is already funded differently", code="funding_already_set"
            )
        return funders_of(session, loan_id)
    for funder in funders:
        session.add(LoanFunding(loan_id=loan_id, source=funder.source, share=funder.share))
    session.flush()
    return funders_of(session, loan_id)
