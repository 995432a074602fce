"""A loan from booking to settlement: the kernel functions behind every transition.

Each function works in the caller's transaction, is idempotent (a retry with
the same key returns the first result), writes the loan's history
(``loan_event``) and publishes an event through the outbox. Money moves only
through clearing: the disbursement is a payment order, repayments arrive as
collected payments in the borrower's suspense account and are allocated here.

Allocation order (``ALLOCATION_ORDER``, a product may reorder it): penalty →
overdue interest → overdue principal → current interest → current
principal. Whatever is left stays in ``borrower_suspense`` as the
borrower's credit, never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lendkit import outbox
from lendkit.clearing import colending, funding, ledger, payments
from lendkit.clearing.colending import Funder, Repayment
from lendkit.clearing.ledger import JournalLine, Line
from lendkit.clearing.money import ZERO, money
from lendkit.errors import ConflictError, NotFoundError, ValidationFailed
from lendkit.lifecycle import accrual, client_context, contracts, overdue
from lendkit.lifecycle.models import RUNNING, Instalment, Loan, LoanEvent, LoanStatus
from lendkit.lifecycle.pricing import annualized_rate, check_rate_cap
from lendkit.lifecycle.schedules import Schedule, build_schedule
from lendkit.types import ALLOCATION_ORDER

if TYPE_CHECKING:
    from lendkit.lifecycle.application_models import Application
    from lendkit.runtime import Runtime

__all__ = [
    "Allocation",
    "activate",
    "allocate",
    "book",
    "disburse",
    "disbursement_failed",
    "record",
]

PENALTY_MULTIPLIER = Decimal("1.5")


@dataclass(frozen=True, slots=True)
class Terms:
    borrower_id: int
    product_code: str
    principal: Decimal
    term: int
    method: str
    annual_rate: Decimal
    penalty_multiplier: Decimal = PENALTY_MULTIPLIER
    grace_days: int = 0
    day_count: int = 360
    upfront_fee: Decimal = ZERO
    instalment_fee: Decimal = ZERO
    shift_holidays: bool = False
    repayment_day: int | None = None
    allocation_order: tuple[str, ...] = ALLOCATION_ORDER
    product_version: int | None = None  # the product version the terms were copied from


def record(
    session: Session,
    loan: Loan,
    kind: str,
    business_date: date,
    *,
    to_status: str | None = None,
    **detail: Any,
) -> None:
    """Append to the loan's history, move its status, publish ``loan.<kind>``."""
    before = loan.status
    if to_status is not None:
        loan.status = to_status
    session.add(
        LoanEvent(
            loan_id=loan.id,
            business_date=business_date,
            kind=kind,
            from_status=before,
            to_status=loan.status,
            detail=detail,
        )
    )
    outbox.publish(
        session,
        f"loan.{kind}",
        {"loan_id": loan.id, "status": loan.status, "business_date": business_date.isoformat()}
        | detail,
    )


def _schedule(terms: Terms | Loan, start: date) -> Schedule:
    """The schedule of a loan's terms (as booked, or as offered) from ``start``."""
    return build_schedule(
        terms.principal,
        terms.term,
        terms.annual_rate,
        terms.method,
        start=start,
        upfront_fee=terms.upfront_fee,
        instalment_fee=terms.instalment_fee,
        shift_holidays=terms.shift_holidays,
        day_count=terms.day_count,
        repayment_day=terms.repayment_day,
    )


def book(
    session: Session,
    runtime: Runtime,
    terms: Terms,
    *,
    idempotency_key: str,
    business_date: date,
    funders: Sequence[Funder] | None = None,
) -> Loan:
    """Book a signed loan: priced, within the cap, funded; not yet disbursed."""
    existing = session.scalar(select(Loan).where(Loan.idempotency_key == idempotency_key))
    if existing is not None:
        if (existing.borrower_id, existing.principal, existing.term, existing.annual_rate) != (
            terms.borrower_id,
            money(terms.principal),
            terms.term,
            terms.annual_rate,
        ):
            raise ConflictError(
                f"idempotency key {idempotency_key!r} was used for a different loan",
                code="idempotency_key_reused",
            )
        return existing
    schedule = _schedule(terms, business_date)
    check_rate_cap(annualized_rate(schedule), runtime.settings, on=business_date)
    cap = runtime.settings.caps.rate_cap(business_date)
    if sorted(terms.allocation_order) != sorted(ALLOCATION_ORDER):
        raise ValidationFailed(
            "还款冲销顺序须恰好列出 "
            + "、".join(ALLOCATION_ORDER)
            + " / the allocation order must list each of "
            + ", ".join(ALLOCATION_ORDER)
            + " once",
            code="allocation_order_invalid",
        )
    if terms.upfront_fee and funders and any(f.source != colending.OWN for f in funders):
        raise ValidationFailed(
            "合作出资贷款暂不支持前置费用 / upfront fees are not supported on co-lent loans yet",
            code="upfront_fee_colending_unsupported",
        )
    penalty, clipped = overdue.penalty_rate(terms.annual_rate, terms.penalty_multiplier, cap)
    loan = Loan(
        borrower_id=terms.borrower_id,
        product_code=terms.product_code,
        product_version=terms.product_version,
        idempotency_key=idempotency_key,
        principal=schedule.principal,
        term=terms.term,
        method=schedule.method,
        annual_rate=terms.annual_rate,
        penalty_rate=penalty,
        day_count=terms.day_count,
        grace_days=terms.grace_days,
        upfront_fee=schedule.upfront_fee,
        instalment_fee=schedule.instalment_fee,
        shift_holidays=terms.shift_holidays,
        repayment_day=terms.repayment_day,
        allocation_order=",".join(terms.allocation_order),
        status=LoanStatus.BOOKED,
        next_period=1,
        dpd=0,
        bucket="M0",
        classification="normal",
    )
    session.add(loan)
    session.flush()
    funding.set_loan_funding(
        session, runtime.settings, loan.id, funders or [Funder(colending.OWN, Decimal(1))]
    )
    record(session, loan, "booked", business_date, principal=str(loan.principal))
    if clipped:
        record(
            session,
            loan,
            "penalty_clipped",
            business_date,
            wanted=str(terms.annual_rate * terms.penalty_multiplier),
            cap=str(cap),
        )
    return loan


def book_offer(session: Session, runtime: Runtime, app: Application) -> Loan:
    """Book the loan of an accepted offer, once (``app.loan_id``), on the offer's terms.

    The offer's principal, rate and fees (as adjusted) and the rest of the
    terms of the product version the application was submitted on are
    copied onto the loan: changing the product later changes nothing here.
    """
    if app.loan_id is not None:
        return session.get_one(Loan, app.loan_id)
    if app.status != "accepted" or app.approved_amount is None or app.annual_rate is None:
        raise ConflictError(
            "只有已接受的报价可以生成贷款 / only an accepted offer becomes a loan",
            code="offer_not_accepted",
        )
    from lendkit.lifecycle.products import version_of

    product = version_of(session, runtime.pm, app.product_code, app.product_version).spec
    loan = book(
        session,
        runtime,
        Terms(
            borrower_id=app.borrower_id,
            product_code=app.product_code,
            principal=app.approved_amount,
            term=app.term,
            method=app.method,
            annual_rate=app.annual_rate,
            penalty_multiplier=product.penalty_multiplier,
            grace_days=product.grace_days,
            day_count=product.day_count,
            upfront_fee=app.upfront_fee or ZERO,
            instalment_fee=product.instalment_fee
            if app.instalment_fee is None
            else app.instalment_fee,
            shift_holidays=product.shift_holidays,
            repayment_day=product.repayment_day,
            allocation_order=product.allocation_order,
            product_version=app.product_version,
        ),
        idempotency_key=f"application:{app.id}",
        business_date=payments.business_today(),
    )
    app.loan_id = loan.id
    return loan


def locked(session: Session, loan_id: int) -> Loan:
    loan = session.get(Loan, loan_id, with_for_update=True, populate_existing=True)
    if loan is None:
        raise NotFoundError(f"no loan {loan_id}", code="unknown_loan")
    return loan


def disburse(
    session: Session,
    runtime: Runtime,
    loan_id: int,
    *,
    channel: str,
    payee: payments.Payee,
    idempotency_key: str,
) -> payments.PaymentOrder:
    """Send the net amount (principal − upfront fee) through ``channel``."""
    loan = locked(session, loan_id)
    if loan.status not in (LoanStatus.BOOKED, LoanStatus.DISBURSING):
        raise ConflictError(
            f"贷款状态为 {loan.status}，不能放款 / loan {loan_id} is {loan.status}: "
            "it cannot be disbursed",
            code="loan_not_disbursable",
        )
    _check_borrower_cap(session, runtime, loan)
    contracts.require_signed(session, loan.id)  # 409 contract_not_signed
    order = payments.request_disbursement(
        session,
        runtime,
        idempotency_key=idempotency_key,
        loan_id=loan.id,
        amount=loan.principal - loan.upfront_fee,
        channel=channel,
        payee=payee,
    )
    if order.status != payments.Status.FAILED and loan.status == LoanStatus.BOOKED:
        record(
            session,
            loan,
            "disbursing",
            payments.business_today(),
            to_status=LoanStatus.DISBURSING,
            order_no=order.order_no,
        )
    return order


def _check_borrower_cap(session: Session, runtime: Runtime, loan: Loan) -> None:
    """The borrower's loans still owing, this one included, stay within
    ``[caps] per_borrower`` (checked again here: applications may have raced)."""
    owing = session.scalar(
        select(func.coalesce(func.sum(Loan.principal), 0)).where(
            Loan.borrower_id == loan.borrower_id,
            Loan.id != loan.id,
            Loan.status.in_((LoanStatus.DISBURSING, LoanStatus.ACTIVE, LoanStatus.OVERDUE)),
        )
    )
    cap = runtime.settings.caps.per_borrower
    if money(owing or 0) + loan.principal > cap:
        raise ConflictError(
            f"借款人在贷余额将超过上限 {cap} 元 / the borrower's loans would exceed the cap of "
            f"{cap} per borrower",
            code="borrower_cap_exceeded",
        )


def activate(session: Session, loan_id: int, disbursed_on: date) -> Loan:
    """The borrower has the money: lay out the schedule from ``disbursed_on``."""
    loan = locked(session, loan_id)
    if loan.status != LoanStatus.DISBURSING and loan.status != LoanStatus.BOOKED:
        return loan  # already active (a repeated event) or past it
    schedule = _schedule(loan, disbursed_on)
    start = disbursed_on
    for row in schedule.rows:
        session.add(
            Instalment(
                loan_id=loan.id,
                period=row.period,
                start_date=start,
                due_date=row.due_date,
                principal=row.principal,
                # 随借随还: interest is what end of day accrues on the balance.
                interest=ZERO if loan.method == "draw-repay" else row.interest,
                fee=row.fee,
                interest_accrued=ZERO,
                fee_accrued=ZERO,
                paid_principal=ZERO,
                paid_interest=ZERO,
                paid_fee=ZERO,
                status="pending",
            )
        )
        start = row.due_date
    loan.disbursed_on = disbursed_on
    loan.next_period = schedule.rows[0].period
    if loan.upfront_fee:
        # Own funds only (see book): the fee is principal the borrower owes
        # but never received, and the lender's income.
        ledger.post(
            session,
            business_date=disbursed_on,
            idempotency_key=f"loan:{loan.id}:upfront_fee",
            cause=f"loan:{loan.id}",
            memo="upfront fee",
            lines=[
                Line.debit("loan_principal", loan.upfront_fee, loan_id=loan.id, source="own"),
                Line.credit("fee_income", loan.upfront_fee, loan_id=loan.id, source="own"),
            ],
        )
    record(
        session,
        loan,
        "disbursed",
        disbursed_on,
        to_status=LoanStatus.ACTIVE,
        # What a subscriber needs (referral rebates, marketing), without reading tables.
        borrower_id=loan.borrower_id,
        product_code=loan.product_code,
        principal=str(loan.principal),
        net_disbursed=str(loan.principal - loan.upfront_fee),
        referral_code=client_context.referral_code_of_loan(session, loan.id),
    )
    return loan


def disbursement_failed(session: Session, loan_id: int, business_date: date, code: str) -> None:
    """The payout failed and was reversed: the loan may be disbursed again."""
    loan = locked(session, loan_id)
    if loan.status == LoanStatus.DISBURSING:
        record(
            session,
            loan,
            "disbursement_failed",
            business_date,
            to_status=LoanStatus.BOOKED,
            code=code,
        )


# -- Repayment -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Allocation:
    """How one repayment was applied; ``credit`` stayed with the borrower."""

    repayment: Repayment
    credit: Decimal
    settled: bool


def receivable(session: Session, loan_id: int, account: str) -> Decimal:
    """What the journal says the loan still owes on one receivable account."""
    total = session.scalar(
        select(func.coalesce(func.sum(JournalLine.amount), 0))
        .join(ledger.Account, ledger.Account.id == JournalLine.account_id)
        .where(JournalLine.loan_id == loan_id, ledger.Account.code == account)
    )
    return money(total or 0)


def _recognise_in_full(
    session: Session,
    loan: Loan,
    funders: Sequence[Funder],
    row: Instalment,
    component: Literal["fee", "interest"],
    business_date: date,
    through: date | None,
) -> None:
    """Recognise the rest of a row's fee or interest now: it is being paid before
    end of day accrued all of it (end of day then finds nothing left)."""
    full = getattr(row, component)
    accrued = row.fee_accrued if component == "fee" else accrual.recognised_interest(row, through)
    if full > accrued:
        _accrue(
            session,
            loan,
            funders,
            "loan_fees" if component == "fee" else "loan_interest",
            full - accrued,
            f"loan:{loan.id}:{component}:{row.period}",
            business_date,
        )
        setattr(row, f"{component}_accrued", full)


def _accrue(
    session: Session,
    loan: Loan,
    funders: Sequence[Funder],
    account: str,
    amount: Decimal,
    key: str,
    business_date: date,
) -> None:
    ledger.post(
        session,
        business_date=business_date,
        idempotency_key=key,
        cause=f"loan:{loan.id}",
        memo=f"{account} recognised on payment",
        lines=colending.accrued(
            account, amount, funders, loan.id, rule="own" if account == "loan_fees" else "share"
        ),
    )


def allocate(
    session: Session,
    loan_id: int,
    amount: Decimal,
    *,
    channel: str,
    idempotency_key: str,
    business_date: date,
) -> Allocation:
    """Apply ``amount`` (already in ``borrower_suspense``) to the loan, in order.

    Paying an instalment before its due date pays its whole interest (the
    remainder is recognised now); the next end of day then finds nothing
    left to accrue on it.
    """
    loan = locked(session, loan_id)
    done = _posted(session, f"{idempotency_key}:allocate")
    if done is not None:
        return _allocation_of(done, amount, loan)
    if loan.status not in RUNNING:
        raise ConflictError(
            f"贷款状态为 {loan.status}，不能还款 / loan {loan_id} is {loan.status}: "
            "nothing to repay",
            code="loan_not_repayable",
        )
    funders = funding.funders_of(session, loan.id)
    rows = session.scalars(
        select(Instalment)
        .where(Instalment.loan_id == loan.id, Instalment.status.in_(OPEN_ROWS))
        .order_by(Instalment.period)
        .with_for_update()
    ).all()
    through = accrual.covered_through(session, loan.id)
    left = money(amount)
    parts = {"penalty": ZERO, "interest": ZERO, "principal": ZERO, "fees": ZERO}

    def take(owed: Decimal) -> Decimal:
        nonlocal left
        paid = min(left, max(owed, ZERO))
        left -= paid
        return paid

    late = [r for r in rows if r.status in ("due", "overdue")]
    current = [r for r in rows if r.status == "pending"][:1]

    def penalty() -> None:
        parts["penalty"] += take(receivable(session, loan.id, "loan_penalty"))

    def interest(group: list[Instalment]) -> None:
        """Fees and interest of each row, oldest first (recognised if not yet accrued)."""
        for row in group:
            fee = take(row.fee - row.paid_fee)
            if fee > row.fee_accrued - row.paid_fee:
                _recognise_in_full(session, loan, funders, row, "fee", business_date, through)
            paid = take(row.interest - row.paid_interest)
            if paid > accrual.recognised_interest(row, through) - row.paid_interest:
                _recognise_in_full(session, loan, funders, row, "interest", business_date, through)
            row.paid_fee += fee
            row.paid_interest += paid
            parts["fees"] += fee
            parts["interest"] += paid

    def principal(group: list[Instalment]) -> None:
        for row in group:
            paid = take(row.principal - row.paid_principal)
            row.paid_principal += paid
            parts["principal"] += paid

    steps: dict[str, Callable[[], None]] = {
        "penalty": penalty,
        "overdue_interest": lambda: interest(late),
        "overdue_principal": lambda: principal(late),
        "current_interest": lambda: interest(current),
        "current_principal": lambda: principal(current),
    }
    for step in loan.allocation_order.split(","):
        steps[step]()
    repayment = Repayment(
        principal=parts["principal"],
        interest=parts["interest"],
        penalty=parts["penalty"],
        fees=parts["fees"],
    )
    _post_repayment(session, loan, repayment, channel, idempotency_key, business_date)
    for row in rows:
        if (
            row.paid_principal == row.principal
            and row.paid_interest == row.interest
            and (row.paid_fee == row.fee)
        ):
            if row.status == "pending":
                # Paid ahead: the next period starts accruing.
                loan.next_period = row.period + 1
            row.status = "paid"
    session.flush()
    settled = _refresh_standing(session, loan, rows, business_date, repayment, left)
    return Allocation(repayment, left, settled)


def _posted(session: Session, key: str) -> ledger.JournalEntry | None:
    """The entry posted under ``key``: a payment applied before (a retry)."""
    return session.scalar(
        select(ledger.JournalEntry).where(ledger.JournalEntry.idempotency_key == key)
    )


def _allocation_of(entry: ledger.JournalEntry, amount: Decimal, loan: Loan) -> Allocation:
    parts = {"loan_principal": ZERO, "loan_interest": ZERO, "loan_penalty": ZERO, "loan_fees": ZERO}
    for line in entry.lines:
        if line.account.code in parts:
            parts[line.account.code] -= line.amount
    repayment = Repayment(
        principal=parts["loan_principal"],
        interest=parts["loan_interest"],
        penalty=parts["loan_penalty"],
        fees=parts["loan_fees"],
    )
    return Allocation(repayment, money(amount) - repayment.total, loan.status == LoanStatus.SETTLED)


def _refresh_standing(
    session: Session,
    loan: Loan,
    rows: Sequence[Instalment],
    business_date: date,
    repayment: Repayment,
    credit: Decimal,
) -> bool:
    """After a repayment: cured, settled, or still overdue with a new DPD."""
    record(
        session,
        loan,
        "repaid",
        business_date,
        principal=str(repayment.principal),
        interest=str(repayment.interest),
        penalty=str(repayment.penalty),
        fees=str(repayment.fees),
        credit=str(credit),
    )
    unpaid = [r for r in rows if r.status != "paid"]
    if not unpaid and receivable(session, loan.id, "loan_penalty") == 0:
        loan.dpd, loan.bucket = 0, "M0"
        record(session, loan, "settled", business_date, to_status=LoanStatus.SETTLED)
        return True
    late = [r for r in unpaid if r.status == "overdue"]
    if loan.status == LoanStatus.OVERDUE and not late:
        loan.dpd, loan.bucket = 0, "M0"
        record(session, loan, "cured", business_date, to_status=LoanStatus.ACTIVE)
    elif late:
        loan.dpd = (business_date - min(r.due_date for r in late)).days
        loan.bucket = overdue.bucket_of(loan.dpd)
    return False


def outstanding(session: Session, loan_id: int) -> dict[str, Decimal]:
    """The loan's receivables as the journal has them, by component."""
    return {
        account: receivable(session, loan_id, account)
        for account in ("loan_principal", "loan_interest", "loan_penalty", "loan_fees")
    }


# -- Prepayment ----------------------------------------------------------------


def payoff(session: Session, loan_id: int, *, fee_rate: Decimal = ZERO) -> Repayment:
    """What settles the loan today: penalty, everything due, the current period's
    interest accrued so far (not the rest of it), all principal, and the
    prepayment fee (``fee_rate`` × outstanding principal)."""
    rows = session.scalars(
        select(Instalment).where(Instalment.loan_id == loan_id, Instalment.status.in_(OPEN_ROWS))
    ).all()
    late = [r for r in rows if r.status != "pending"]
    principal = sum((r.principal - r.paid_principal for r in rows), ZERO)
    through = accrual.covered_through(session, loan_id)
    return Repayment(
        principal=principal,
        interest=sum((r.interest - r.paid_interest for r in late), ZERO)
        + sum(
            (
                accrual.recognised_interest(r, through) - r.paid_interest
                for r in rows
                if r.status == "pending"
            ),
            ZERO,
        ),
        penalty=receivable(session, loan_id, "loan_penalty"),
        fees=sum((r.fee - r.paid_fee for r in late), ZERO) + money(principal * fee_rate),
    )


def prepay(
    session: Session,
    loan_id: int,
    amount: Decimal,
    *,
    channel: str,
    idempotency_key: str,
    business_date: date,
    fee_rate: Decimal = ZERO,
) -> Allocation:
    """Settle the loan early from ``amount`` (already in suspense); what is left
    over stays the borrower's credit. Less than the payoff is refused
    (``prepayment_short``): allocate it as an ordinary repayment instead."""
    loan = locked(session, loan_id)
    done = _posted(session, f"{idempotency_key}:allocate")
    if done is not None:
        return _allocation_of(done, amount, loan)
    if loan.status not in RUNNING:
        raise ConflictError(
            f"贷款状态为 {loan.status}，不能提前还款 / loan {loan_id} is {loan.status}: "
            "it cannot be prepaid",
            code="loan_not_repayable",
        )
    due = payoff(session, loan_id, fee_rate=fee_rate)
    if money(amount) < due.total:
        raise ValidationFailed(
            f"提前结清需 {due.total} 元，只收到 {money(amount)} 元 / "
            f"settling the loan takes {due.total}, not {money(amount)}",
            code="prepayment_short",
        )
    funders = funding.funders_of(session, loan.id)
    rows = _open_rows(session, loan.id)
    through = accrual.covered_through(session, loan.id)
    fee = money(sum((r.principal - r.paid_principal for r in rows), ZERO) * fee_rate)
    if fee:
        _accrue(session, loan, funders, "loan_fees", fee, f"{idempotency_key}:fee", business_date)
    for row in rows:
        # Fees and interest due, the current period's interest to date; all principal.
        if row.status != "pending":
            _recognise_in_full(session, loan, funders, row, "fee", business_date, through)
            row.paid_fee = row.fee
            row.paid_interest = row.interest
        else:
            row.paid_interest = accrual.recognised_interest(row, through)
        row.paid_principal = row.principal
        row.status = "paid" if row.status != "pending" else "prepaid"
    _post_repayment(session, loan, due, channel, idempotency_key, business_date)
    credit = money(amount) - due.total
    loan.dpd, loan.bucket = 0, "M0"
    record(
        session,
        loan,
        "prepaid",
        business_date,
        to_status=LoanStatus.SETTLED,
        principal=str(due.principal),
        interest=str(due.interest),
        penalty=str(due.penalty),
        fees=str(due.fees),
        credit=str(credit),
    )
    return Allocation(due, credit, True)


Reamortize = Literal["shorten", "reduce"]


def prepay_part(
    session: Session,
    loan_id: int,
    amount: Decimal,
    *,
    mode: Reamortize,
    channel: str,
    idempotency_key: str,
    business_date: date,
) -> Allocation:
    """Pay ``amount`` of principal early and lay out the rest of the schedule again.

    The current instalment is paid as scheduled (its interest in full, as for
    any instalment paid before its due date) and ``amount`` beyond it goes to
    principal; the instalments after it are rebuilt on the lower balance
    with the loan's method and rate, on the same due dates: ``reduce`` keeps
    their number and lowers the payment, ``shorten`` keeps the payment and
    drops the last ones (``cancelled``). The old schedule is kept in the
    loan's history (``reamortized``). Nothing overdue may be left
    (``settle_overdue_first``); paying everything is :func:`prepay`.
    """
    loan = locked(session, loan_id)
    done = _posted(session, f"{idempotency_key}:allocate")
    if done is not None:  # a retry: the instalment's entry and the extra principal's
        first = _posted(session, f"{idempotency_key}:instalment:allocate")
        assert first is not None  # posted in the same transaction as ``done``
        one, two = _allocation_of(first, ZERO, loan), _allocation_of(done, ZERO, loan)
        return Allocation(
            Repayment(
                principal=one.repayment.principal + two.repayment.principal,
                interest=one.repayment.interest,
                penalty=one.repayment.penalty,
                fees=one.repayment.fees,
            ),
            ZERO,
            False,
        )
    rows = _open_rows(session, loan.id)
    if loan.status != LoanStatus.ACTIVE or any(r.status != "pending" for r in rows):
        raise ConflictError(
            "请先还清逾期和到期款项 / pay what is due or overdue first",
            code="settle_overdue_first",
        )
    current, later = rows[0], list(rows[1:])
    owed_now = current.principal + current.interest + current.fee
    extra = money(amount) - owed_now
    balance_after = sum((r.principal for r in later), ZERO)
    if extra <= 0 or extra >= balance_after:
        raise ValidationFailed(
            f"部分提前还款须多于本期应还 {owed_now} 元且少于结清金额 / a part prepayment must be "
            f"more than this instalment's {owed_now} and less than settling the loan",
            code="prepayment_amount_invalid",
        )
    paid = allocate(
        session,
        loan_id,
        owed_now,
        channel=channel,
        idempotency_key=f"{idempotency_key}:instalment",
        business_date=business_date,
    )
    if paid.credit:
        raise ConflictError("the instalment did not take its amount", code="prepayment_failed")
    remaining = balance_after - extra
    old = [(r.period, str(r.principal), str(r.interest)) for r in later]
    count = len(later) if mode == "reduce" else _shortened(loan, later, remaining)
    fresh = build_schedule(
        remaining,
        count,
        loan.annual_rate,
        loan.method if loan.method != "bullet" else "interest-first",
        start=current.due_date,
        instalment_fee=loan.instalment_fee,
    ).rows
    for row, new in zip(later, [*fresh, *([None] * (len(later) - count))], strict=True):
        if new is None:
            row.principal = row.interest = row.fee = ZERO
            row.status = "cancelled"
        else:
            row.principal, row.interest, row.fee = new.principal, new.interest, new.fee
    later[0].principal += extra  # taken now, booked against the next instalment's row
    later[0].paid_principal += extra
    repayment = Repayment(principal=extra)
    _post_repayment(session, loan, repayment, channel, idempotency_key, business_date)
    record(
        session,
        loan,
        "reamortized",
        business_date,
        mode=mode,
        principal=str(extra),
        periods=count,
        old_schedule=old,
    )
    session.flush()
    return Allocation(
        Repayment(
            principal=paid.repayment.principal + extra,
            interest=paid.repayment.interest,
            penalty=paid.repayment.penalty,
            fees=paid.repayment.fees,
        ),
        ZERO,
        False,
    )


def _shortened(loan: Loan, later: Sequence[Instalment], remaining: Decimal) -> int:
    """How many instalments of at most the old payment repay ``remaining``."""
    old_payment = later[0].principal + later[0].interest
    for count in range(1, len(later) + 1):
        rows = build_schedule(
            remaining, count, loan.annual_rate, loan.method, start=later[0].start_date
        ).rows
        if max(r.principal + r.interest for r in rows) <= old_payment:
            return count
    return len(later)


OPEN_ROWS = ("pending", "due", "overdue")


def _open_rows(session: Session, loan_id: int) -> Sequence[Instalment]:
    return session.scalars(
        select(Instalment)
        .where(Instalment.loan_id == loan_id, Instalment.status.in_(OPEN_ROWS))
        .order_by(Instalment.period)
        .with_for_update()
    ).all()


def _post_repayment(
    session: Session,
    loan: Loan,
    repayment: Repayment,
    channel: str,
    idempotency_key: str,
    business_date: date,
) -> None:
    """Suspense to the receivables, then the channel's money back to the funders' pools.

    Each component is shared between funders in proportion to what the
    journal says each is owed on it, not by funding share: daily accruals
    and earlier repayments each round to the fen, so shares would drift a
    fen from the receivables; this way paying a component in full clears
    every funder's part exactly, and no funder's part is ever overpaid.
    """
    if not repayment.total:
        return
    allocated = [Line.debit("borrower_suspense", repayment.total, loan_id=loan.id)]
    pools: dict[str, Decimal] = {}
    for account, amount in (
        ("loan_principal", repayment.principal),
        ("loan_interest", repayment.interest),
        ("loan_penalty", repayment.penalty),
        ("loan_fees", repayment.fees),
    ):
        if not amount:
            continue
        for source, part in _split_by_owed(amount, _owed_by_source(session, loan.id, account)):
            allocated.append(Line.credit(account, part, loan_id=loan.id, source=source))
            pools[source] = pools.get(source, ZERO) + part
    ledger.post(
        session,
        business_date=business_date,
        idempotency_key=f"{idempotency_key}:allocate",
        cause=f"loan:{loan.id}",
        memo="repayment allocated",
        lines=allocated,
    )
    ledger.post(
        session,
        business_date=business_date,
        idempotency_key=f"{idempotency_key}:settle",
        cause=f"loan:{loan.id}",
        memo="repayment settled to the funders' pools",
        lines=[
            *(
                Line.debit(f"fund_pool:{source}", part, loan_id=loan.id, source=source)
                for source, part in pools.items()
            ),
            Line.credit(f"channel_in_transit:{channel}", repayment.total, loan_id=loan.id),
        ],
    )


def _split_by_owed(amount: Decimal, owed: dict[str, Decimal]) -> list[tuple[str, Decimal]]:
    """``amount`` in whole fen for each funder in proportion to what it is owed
    (largest remainders get the odd fen): never more than a funder is owed,
    exactly what each is owed when all of it is paid."""
    fen = {source: int(value * 100) for source, value in owed.items() if value > 0}
    total, wanted = sum(fen.values()), int(money(amount) * 100)
    if wanted > total:
        raise ValueError(f"paying {amount} of a receivable of {Decimal(total) / 100}")
    parts = {source: wanted * owed_fen // total for source, owed_fen in fen.items()}
    left = wanted - sum(parts.values())
    for source in sorted(fen, key=lambda s: (-(wanted * fen[s] % total), -fen[s], s))[:left]:
        parts[source] += 1
    return [(source, Decimal(part) / 100) for source, part in parts.items() if part]


# -- Write-off and recoveries --------------------------------------------------


def request_write_off(
    session: Session, loan_id: int, *, requested_by: str, reason: str, business_date: date
) -> None:
    """Ask for a write-off; another member of staff approves it (four eyes)."""
    loan = locked(session, loan_id)
    if loan.status != LoanStatus.OVERDUE:
        raise ConflictError(
            f"只有逾期贷款可以核销 / only an overdue loan can be written off, not a {loan.status} one",
            code="loan_not_write_off_able",
        )
    record(
        session,
        loan,
        "write_off_requested",
        business_date,
        requested_by=requested_by,
        reason=reason,
    )


def approve_write_off(
    session: Session, loan_id: int, *, approved_by: str, business_date: date
) -> Loan:
    """Write the loan off: each funder bears its own part of what is still owed.

    Own funds' receivables go to the ``write_off`` expense; a partner's
    principal comes off its capital and its income parts off what we owe it.
    """
    loan = locked(session, loan_id)
    if loan.status == LoanStatus.WRITTEN_OFF:
        return loan
    requested = session.scalars(
        select(LoanEvent)
        .where(LoanEvent.loan_id == loan_id, LoanEvent.kind == "write_off_requested")
        .order_by(LoanEvent.id.desc())
    ).first()
    if requested is None or loan.status != LoanStatus.OVERDUE:
        raise ConflictError(
            "没有待批准的核销申请 / there is no write-off request to approve",
            code="no_write_off_request",
        )
    if requested.detail.get("requested_by") == approved_by:
        raise ConflictError(
            "申请人不能批准自己的核销 / the requester cannot approve their own write-off",
            code="four_eyes_required",
        )
    lines: list[Line] = []
    for account in ("loan_principal", "loan_interest", "loan_penalty", "loan_fees"):
        for source, amount in _owed_by_source(session, loan.id, account).items():
            if not amount:
                continue
            if source == colending.OWN:
                other = "write_off"
            elif account == "loan_principal":
                other = f"funding_capital:{source}"
            else:
                other = f"partner_payable:{source}"
            lines += [
                Line.debit(other, amount, loan_id=loan.id, source=source),
                Line.credit(account, amount, loan_id=loan.id, source=source),
            ]
    if lines:
        ledger.post(
            session,
            business_date=business_date,
            idempotency_key=f"loan:{loan.id}:write_off",
            cause=f"loan:{loan.id}",
            memo=f"written off, approved by {approved_by}",
            lines=lines,
        )
    record(
        session,
        loan,
        "written_off",
        business_date,
        to_status=LoanStatus.WRITTEN_OFF,
        approved_by=approved_by,
        requested_by=requested.detail.get("requested_by"),
    )
    return loan


def _owed_by_source(session: Session, loan_id: int, account: str) -> dict[str, Decimal]:
    return {
        source: money(total)
        for source, total in session.execute(
            select(JournalLine.source, func.sum(JournalLine.amount))
            .join(ledger.Account, ledger.Account.id == JournalLine.account_id)
            .where(JournalLine.loan_id == loan_id, ledger.Account.code == account)
            .group_by(JournalLine.source)
        )
        if source is not None
    }


def recover(
    session: Session,
    loan_id: int,
    amount: Decimal,
    *,
    channel: str,
    idempotency_key: str,
    business_date: date,
) -> None:
    """Money collected after a write-off: each funder recovers by its share."""
    loan = locked(session, loan_id)
    if loan.status != LoanStatus.WRITTEN_OFF:
        raise ConflictError(f"loan {loan_id} is not written off", code="loan_not_written_off")
    funders = funding.funders_of(session, loan.id)
    total = money(amount)
    parts = colending._parts(total, funders)
    recovered = [
        Line.credit(
            "recoveries" if source == colending.OWN else f"funding_capital:{source}",
            part,
            loan_id=loan.id,
            source=source,
        )
        for source, part in parts
    ]
    ledger.post(
        session,
        business_date=business_date,
        idempotency_key=f"{idempotency_key}:recover",
        cause=f"loan:{loan.id}",
        memo="recovered after write-off",
        lines=[Line.debit("borrower_suspense", total, loan_id=loan.id), *recovered],
    )
    ledger.post(
        session,
        business_date=business_date,
        idempotency_key=f"{idempotency_key}:settle",
        cause=f"loan:{loan.id}",
        memo="recovery settled to the funders' pools",
        lines=[
            *(
                Line.debit(f"fund_pool:{source}", part, loan_id=loan.id, source=source)
                for source, part in parts
            ),
            Line.credit(f"channel_in_transit:{channel}", total, loan_id=loan.id),
        ],
    )
    record(session, loan, "recovered", business_date, amount=str(total))
