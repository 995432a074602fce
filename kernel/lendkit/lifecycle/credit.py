"""Credit-limit assessment: the credit hooks asked in turn, then a policy that is data.

For one application, in the caller's transaction:

1. **consent** — :func:`~lendkit.lifecycle.consents.require_consent` for
   ``credit_query`` (征信业管理条例 Art. 29). Without an active authorization
   no bureau is asked: 403 ``consent_required`` and nothing is written.
2. **credit_report** — bureau plugins in turn; the first report wins.
3. **enrich_applicant** — every plugin may add attributes (strings) to the
   applicant, for the hooks after it; a key given twice keeps the first.
4. **assess_application** — every plugin may give a
   :class:`~lendkit.types.RiskSignal`: pass, review or reject, with reasons.
5. **propose_credit_limit** — every plugin may propose a limit; the least
   wins, rounded down to the policy's step.
6. **policy** — :func:`decide` applies a :class:`CreditPolicy` (thresholds,
   manual-review bands) to all of it: the outcome is ``reject`` if any rule
   or signal rejects, else ``review`` if any asks for a person, else
   ``approve``.

Fail safe: each plugin is called on its own, inside a savepoint. One that
raises, or answers something its hook does not promise, has its writes
rolled back, is recorded with its error, and sends the application to
manual review — it can never help an application to approval. So does a
missing report or a missing limit, unless the policy says otherwise.

Every decision is a :class:`~lendkit.lifecycle.application_models.CreditDecision`
row (append-only) that keeps what it saw — the applicant, the report, the
consent, the policy — every plugin's answer or error (hook, plugin,
result, error) and the reasons, each naming the rule or plugin behind it,
so any decision can be explained to the borrower, to staff and to an
examiner.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from types import MappingProxyType
from typing import Any, Final, Literal, TypeGuard, TypeVar

import pluggy
from sqlalchemy.orm import Session

from lendkit.clearing.money import FEN, ZERO, money
from lendkit.db import in_order, utcnow
from lendkit.lifecycle import consents
from lendkit.lifecycle.application_models import CreditDecision
from lendkit.masking import mask_text
from lendkit.settings import Settings
from lendkit.types import Applicant, CreditReport, LimitProposal, RiskSignal

__all__ = [
    "HOOKS",
    "STAND_IN_LABEL",
    "CreditPolicy",
    "Outcome",
    "Reason",
    "Verdict",
    "assess",
    "decide",
    "decision_view",
    "decisions_of",
    "policy_from",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

Outcome = Literal["approve", "review", "reject"]
HOOKS: Final = ("credit_report", "enrich_applicant", "assess_application", "propose_credit_limit")
STAND_IN_LABEL: Final = (
    "沙箱征信，并非真实征信报告。Stand-in bureau: not a real credit report or credit decision."
)
CONSENT_PURPOSE: Final = "credit_query"
_RANK: Final[Mapping[str, int]] = MappingProxyType({"approve": 0, "review": 1, "reject": 2})
_SIGNAL_OUTCOMES: Final[Mapping[str, Outcome]] = MappingProxyType(
    {"pass": "approve", "review": "review", "reject": "reject"}
)
_MAX_CODE, _MAX_ERROR = 64, 300


@dataclass(frozen=True, slots=True)
class CreditPolicy:
    """The decision policy, as data: change the numbers, not the code.

    * A bureau ``score`` below ``reject_below_score`` rejects; below
      ``review_below_score`` asks a person.
    * More than ``reject_above_delinquencies`` accounts past due rejects;
      more than ``review_above_delinquencies`` asks a person.
    * Debt elsewhere (the report's) plus exposure here plus the amount,
      over the declared annual income, above ``max_debt_to_income`` asks a
      person.
    * The limit is the least of the proposals, rounded down to
      ``limit_step``. An amount above it by at most ``limit_review_band``
      (a fraction of the limit) asks a person; further above it rejects.
    * An amount above ``review_above_amount`` always asks a person.
    * Without a report (``require_report``) or without any limit proposal
      (``require_limit``), a person decides.
    """

    reject_below_score: int = 500
    review_below_score: int = 600
    reject_above_delinquencies: int = 2
    review_above_delinquencies: int = 0
    max_debt_to_income: Decimal = Decimal("0.60")
    limit_step: Decimal = Decimal("100")
    limit_review_band: Decimal = Decimal("0.20")
    review_above_amount: Decimal = Decimal("50000.00")
    require_report: bool = True
    require_limit: bool = True


def policy_from(settings: Settings) -> CreditPolicy:
    """The tenant's policy: the defaults, overridden field by field by a ``[credit]`` section.

    The settings have no such section yet; when one is added (a pydantic
    model whose fields are named like :class:`CreditPolicy`'s), its values
    take effect here without further change.
    """
    section = getattr(settings, "credit", None)
    if section is None:
        return CreditPolicy()
    given = {
        f.name: getattr(section, f.name) for f in fields(CreditPolicy) if hasattr(section, f.name)
    }
    return replace(CreditPolicy(), **given)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a decision is what it is: a code, the outcome it asks for, and who asked."""

    code: str
    outcome: Outcome
    source: str  # "policy", or the plugin's name

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "outcome": self.outcome, "source": self.source}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What :func:`decide` concluded: the outcome, the limit and the reasons."""

    outcome: Outcome
    limit: Decimal | None
    reasons: tuple[Reason, ...]


@dataclass(slots=True)
class _Gathered:
    """What the plugins answered, and the trace of every call."""

    report: CreditReport | None = None
    signals: list[tuple[str, RiskSignal]] = field(default_factory=list)
    proposals: list[tuple[str, LimitProposal]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (hook, plugin)
    trace: list[dict[str, Any]] = field(default_factory=list)


# -- The policy ----------------------------------------------------------------------


def decide(
    policy: CreditPolicy,
    applicant: Applicant,
    report: CreditReport | None,
    signals: Sequence[tuple[str, RiskSignal]] = (),
    proposals: Sequence[tuple[str, LimitProposal]] = (),
    errors: Sequence[tuple[str, str]] = (),
) -> Verdict:
    """Apply ``policy`` to what the plugins said; a pure function of its inputs.

    ``signals`` and ``proposals`` are (plugin name, answer) pairs;
    ``errors`` (hook, plugin name) pairs of plugins that failed, each of
    which asks for a person.
    """
    reasons = [Reason(f"{hook}_error", "review", plugin) for hook, plugin in errors]

    def policy_says(code: str, outcome: Outcome) -> None:
        reasons.append(Reason(code, outcome, "policy"))

    if report is None:
        if policy.require_report:
            policy_says("no_credit_report", "review")
    else:
        if report.score is not None:
            if report.score < policy.reject_below_score:
                policy_says("score_below_minimum", "reject")
            elif report.score < policy.review_below_score:
                policy_says("score_in_review_band", "review")
        if report.delinquencies > policy.reject_above_delinquencies:
            policy_says("delinquencies_above_maximum", "reject")
        elif report.delinquencies > policy.review_above_delinquencies:
            policy_says("delinquencies_in_review_band", "review")
    debt = (report.debt if report else ZERO) + applicant.exposure + applicant.amount
    if applicant.annual_income <= 0 or debt > applicant.annual_income * policy.max_debt_to_income:
        policy_says("debt_to_income_high", "review")

    for plugin, signal in signals:
        if signal.outcome != "pass":
            for code in signal.reasons or ("unspecified",):
                reasons.append(Reason(code[:_MAX_CODE], _SIGNAL_OUTCOMES[signal.outcome], plugin))

    limit: Decimal | None = None
    if proposals:
        least = min(proposal.limit for _, proposal in proposals)
        step = policy.limit_step if policy.limit_step > 0 else FEN
        limit = money((least / step).to_integral_value(rounding=ROUND_DOWN) * step)
        if applicant.amount > limit:
            if limit > 0 and applicant.amount <= limit * (1 + policy.limit_review_band):
                policy_says("amount_in_review_band", "review")
            else:
                policy_says("amount_above_limit", "reject")
    elif policy.require_limit:
        policy_says("no_limit_proposal", "review")
    if applicant.amount > policy.review_above_amount:
        policy_says("amount_above_auto_approval", "review")

    outcome: Outcome = "approve"
    for reason in reasons:
        if _RANK[reason.outcome] > _RANK[outcome]:
            outcome = reason.outcome
    return Verdict(outcome, limit, tuple(reasons))


# -- The pipeline --------------------------------------------------------------------


def assess(
    session: Session,
    pm: pluggy.PluginManager,
    settings: Settings,
    applicant: Applicant,
    *,
    policy: CreditPolicy | None = None,
    now: datetime | None = None,
) -> CreditDecision:
    """Assess ``applicant``: consent, the four credit hooks, the policy; record it all.

    Raises 403 ``consent_required`` before asking any plugin when the
    borrower has not authorized credit queries. Returns the decision row
    (flushed); the caller acts on its outcome.
    """
    policy = policy or policy_from(settings)
    consent = consents.require_consent(session, applicant.borrower_id, CONSENT_PURPOSE)
    gathered = _Gathered()
    context = {"session": session, "settings": settings}

    reports = _ask(
        session,
        pm,
        "credit_report",
        gathered,
        _is_report,
        {"applicant": applicant, **context},
        first=True,
    )
    gathered.report = reports[0][1] if reports else None

    attributes = dict(applicant.attributes)
    enrich = {"applicant": applicant, "report": gathered.report, **context}
    for _, extra in _ask(session, pm, "enrich_applicant", gathered, _is_attributes, enrich):
        for key, value in extra.items():
            attributes.setdefault(key, value)
    applicant = replace(applicant, attributes=MappingProxyType(attributes))

    later = {"applicant": applicant, "report": gathered.report, **context}
    gathered.signals = _ask(session, pm, "assess_application", gathered, _is_signal, later)
    gathered.proposals = _ask(session, pm, "propose_credit_limit", gathered, _is_proposal, later)

    verdict = decide(
        policy, applicant, gathered.report, gathered.signals, gathered.proposals, gathered.errors
    )
    decision = CreditDecision(
        application_id=applicant.application_id,
        borrower_id=applicant.borrower_id,
        outcome=verdict.outcome,
        credit_limit=verdict.limit,
        reasons=[reason.as_json() for reason in verdict.reasons],
        inputs={
            "applicant": _plain(applicant),
            "report": _plain(gathered.report),
            "consent_id": consent.id,
            "policy": _plain(policy),
        },
        trace=gathered.trace,
        sandbox=bool(gathered.report and gathered.report.sandbox),
        decided_at=now or utcnow(),
    )
    session.add(decision)
    session.flush()
    return decision


def _ask(
    session: Session,
    pm: pluggy.PluginManager,
    hook: str,
    gathered: _Gathered,
    valid: Callable[[object], TypeGuard[T]],
    arguments: Mapping[str, object],
    *,
    first: bool = False,
) -> list[tuple[str, T]]:
    """Call each implementation of ``hook`` on its own, in pluggy's order.

    Each call runs in a savepoint: a plugin that raises (or answers what
    ``valid`` refuses) has its writes rolled back and is recorded as an
    error. ``first``: stop at the first valid answer, as ``firstresult``
    hooks do. Wrappers are not called: a decision hook has none.
    """
    answers: list[tuple[str, T]] = []
    for impl in reversed(getattr(pm.hook, hook).get_hookimpls()):
        if impl.wrapper or impl.hookwrapper:
            continue
        step: dict[str, Any] = {"hook": hook, "plugin": impl.plugin_name}
        try:
            with session.begin_nested():
                args = [arguments[name] for name in impl.argnames]
                extra = {name: arguments[name] for name in impl.kwargnames if name in arguments}
                result = impl.function(*args, **extra)
        except Exception as exc:
            # The message may quote what the vendor sent back: masked, and only in the record.
            log.warning(
                "credit plugin failed",
                extra={"hook": hook, "plugin": impl.plugin_name, "error": type(exc).__name__},
            )
            step |= {"result": None, "error": _error(exc)}
        else:
            if valid(result):
                step |= {"result": _plain(result), "error": None}
                answers.append((impl.plugin_name, result))
            elif result is None:
                step |= {"result": None, "error": None}
            else:
                log.warning(
                    "credit plugin answered nonsense",
                    extra={"hook": hook, "plugin": impl.plugin_name},
                )
                step |= {
                    "result": None,
                    "error": f"bad_result: {hook} cannot answer a {type(result).__name__}",
                }
        gathered.trace.append(step)
        if step["error"] is not None:
            gathered.errors.append((hook, impl.plugin_name))
        if first and answers:
            break
    return answers


def _is_report(value: object) -> TypeGuard[CreditReport]:
    return isinstance(value, CreditReport)


def _is_attributes(value: object) -> TypeGuard[Mapping[str, str]]:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _is_signal(value: object) -> TypeGuard[RiskSignal]:
    return isinstance(value, RiskSignal) and value.outcome in _SIGNAL_OUTCOMES


def _is_proposal(value: object) -> TypeGuard[LimitProposal]:
    return (
        isinstance(value, LimitProposal)
        and isinstance(value.limit, Decimal)
        and value.limit.is_finite()
        and value.limit >= 0
    )


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {mask_text(str(exc))}"[:_MAX_ERROR]


def _plain(value: object) -> Any:
    """``value`` as JSON: dataclasses as objects (without personal fields), amounts as
    decimal strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        # Fields left out of repr are personal data (the client's device and
        # addresses): they stay out of the decision record too.
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value) if f.repr}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return str(value)


# -- Reading decisions -----------------------------------------------------------------


def decisions_of(session: Session, application_id: int) -> list[CreditDecision]:
    """Every decision about an application, oldest first."""
    return in_order(session, CreditDecision, CreditDecision.application_id == application_id)


def decision_view(decision: CreditDecision) -> dict[str, Any]:
    """A decision as staff see it: outcome, limit, reasons, inputs and every plugin's answer."""
    return {
        "id": decision.id,
        "outcome": decision.outcome,
        "credit_limit": None if decision.credit_limit is None else str(decision.credit_limit),
        "reasons": list(decision.reasons),
        "inputs": dict(decision.inputs),
        "trace": list(decision.trace),
        "stand_in": decision.sandbox,
        "label": STAND_IN_LABEL if decision.sandbox else None,
        "decided_at": decision.decided_at.isoformat(),
    }
