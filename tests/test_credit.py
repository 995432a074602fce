"""Credit-limit assessment: the decision policy as data, and the pipeline of the four
credit hooks on SQLite and PostgreSQL — consent first (no consent, no bureau call),
the first report wins, a plugin that raises or answers nonsense sends the application
to manual review (never to approval), and the decision record explains itself."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from types import SimpleNamespace

import lendkit
import pytest
from lendkit import outbox
from lendkit.lifecycle import consents, credit
from lendkit.lifecycle.application_models import Application, CreditDecision
from lendkit.models import Borrower, OutboxEvent
from lendkit.settings import Settings
from lendkit.types import Applicant, CreditReport, LimitProposal, RiskSignal
from sqlalchemy import func, select, update
from sqlalchemy.exc import DatabaseError

POLICY = credit.CreditPolicy()
APPLICANT = Applicant(
    application_id=1,
    borrower_id=1,
    product_code="consumer-12",
    amount=Decimal("20000.00"),
    term=12,
    method="equal-installment",
    annual_income=Decimal("200000.00"),
    exposure=Decimal("0.00"),
)
GOOD = CreditReport(provider="bureau", score=720, delinquencies=0, debt=Decimal("10000.00"))
LIMIT = [("limits", LimitProposal("limits", Decimal("30000.00")))]


def codes(verdict):
    return [(r.code, r.outcome, r.source) for r in verdict.reasons]


# -- the policy, a pure function ------------------------------------------------------


def test_a_good_report_within_the_limit_is_approved_with_the_least_limit_rounded_down():
    proposals = [
        ("a", LimitProposal("a", Decimal("48000.00"))),
        ("b", LimitProposal("b", Decimal("31999.99"))),
    ]

    verdict = credit.decide(POLICY, APPLICANT, GOOD, proposals=proposals)

    assert verdict.outcome == "approve"
    assert verdict.limit == Decimal("31900.00")
    assert verdict.reasons == ()


@pytest.mark.parametrize(
    ("report", "outcome", "code"),
    [
        (replace(GOOD, score=499), "reject", "score_below_minimum"),
        (replace(GOOD, score=500), "review", "score_in_review_band"),
        (replace(GOOD, score=599), "review", "score_in_review_band"),
        (replace(GOOD, delinquencies=3), "reject", "delinquencies_above_maximum"),
        (replace(GOOD, delinquencies=1), "review", "delinquencies_in_review_band"),
        (replace(GOOD, debt=Decimal("100000.01")), "review", "debt_to_income_high"),
        (None, "review", "no_credit_report"),
    ],
)
def test_report_thresholds_and_bands(report, outcome, code):
    verdict = credit.decide(POLICY, APPLICANT, report, proposals=LIMIT)

    assert verdict.outcome == outcome
    assert codes(verdict) == [(code, outcome, "policy")]


@pytest.mark.parametrize(
    ("amount", "outcome", "code"),
    [
        ("30000.00", "approve", None),
        ("36000.00", "review", "amount_in_review_band"),  # 20 % above the limit
        ("36000.01", "reject", "amount_above_limit"),
    ],
)
def test_the_limit_and_its_review_band(amount, outcome, code):
    verdict = credit.decide(POLICY, replace(APPLICANT, amount=Decimal(amount)), GOOD, (), LIMIT)

    assert verdict.outcome == outcome
    assert [r.code for r in verdict.reasons] == ([code] if code else [])


def test_a_zero_limit_rejects_and_no_proposal_asks_a_person():
    zero = [("x", LimitProposal("x", Decimal("0")))]
    assert credit.decide(POLICY, APPLICANT, GOOD, (), zero).outcome == "reject"
    verdict = credit.decide(POLICY, APPLICANT, GOOD)
    assert (verdict.outcome, verdict.limit) == ("review", None)
    assert codes(verdict) == [("no_limit_proposal", "review", "policy")]


def test_large_amounts_always_ask_a_person():
    big = replace(APPLICANT, amount=Decimal("50000.01"), annual_income=Decimal("900000"))
    limit = [("l", LimitProposal("l", Decimal("100000")))]

    verdict = credit.decide(POLICY, big, GOOD, (), limit)

    assert codes(verdict) == [("amount_above_auto_approval", "review", "policy")]


def test_a_plugin_error_never_approves_and_a_reject_signal_still_rejects():
    errors = [("credit_report", "flaky")]

    perfect = credit.decide(POLICY, APPLICANT, GOOD, (), LIMIT, errors)
    assert perfect.outcome == "review"
    assert codes(perfect) == [("credit_report_error", "review", "flaky")]

    rejecting = [("fraud", RiskSignal("reject", "fraud", ("device_blacklisted",)))]
    verdict = credit.decide(POLICY, APPLICANT, GOOD, rejecting, LIMIT, errors)
    assert verdict.outcome == "reject"
    assert ("device_blacklisted", "reject", "fraud") in codes(verdict)


def test_signals_count_with_their_plugin_and_pass_changes_nothing():
    signals = [
        ("ok", RiskSignal("pass", "ok", ("fine",))),
        ("aml", RiskSignal("review", "aml")),
    ]

    verdict = credit.decide(POLICY, APPLICANT, GOOD, signals, LIMIT)

    assert verdict.outcome == "review"
    assert codes(verdict) == [("unspecified", "review", "aml")]


def test_the_policy_is_data_and_can_come_from_settings():
    assert credit.policy_from(Settings()) == credit.CreditPolicy()
    lenient = credit.CreditPolicy(require_report=False, require_limit=False)
    assert credit.decide(lenient, APPLICANT, None).outcome == "approve"

    section = SimpleNamespace(review_below_score=700, limit_step=Decimal("1000"))
    policy = credit.policy_from(SimpleNamespace(credit=section))
    assert (policy.review_below_score, policy.limit_step) == (700, Decimal("1000"))
    assert policy.reject_below_score == POLICY.reject_below_score


# -- the pipeline, with plugins, on real databases -----------------------------------


class Bureau:
    """A bureau and limit engine for tests; counts its calls, raises when told."""

    def __init__(self, name="test-bureau", score=720, limit="30000.00", fail=None):
        self.name, self.score, self.limit, self.fail = name, score, Decimal(limit), fail
        self.calls = 0

    @lendkit.hookimpl
    def credit_report(self, applicant, session):
        self.calls += 1
        if self.fail == "report":
            # Writes first, then fails: the savepoint must take the write back.
            outbox.publish(session, "loan.bureau_side_effect", {"x": 1})
            raise RuntimeError("bureau timed out for 110101199003071234, call 13812345678")
        return CreditReport(provider=self.name, reference="R-1", score=self.score)

    @lendkit.hookimpl
    def propose_credit_limit(self, applicant):
        if self.fail == "limit":
            raise ValueError("limit engine down")
        return LimitProposal(self.name, self.limit, ("band_b",))


class Enricher:
    def __init__(self, name, attributes):
        self.name, self.attributes = name, attributes

    @lendkit.hookimpl
    def enrich_applicant(self, applicant, report):
        return self.attributes


class Assessor:
    """Records the applicant it saw; answers ``answer``."""

    def __init__(self, answer):
        self.answer, self.seen = answer, None

    @lendkit.hookimpl
    def assess_application(self, applicant, report):
        self.seen = applicant
        return self.answer


def add_plugin(runtime, plugin, name):
    runtime.pm.register(plugin, name=name)
    return plugin


@pytest.fixture
def borrower(runtime):
    """A verified borrower who authorized credit queries, and an application of his."""
    with runtime.sessions.begin() as session:
        person = Borrower(phone="13900000001", kyc_status="verified")
        session.add(person)
        session.flush()
        text = consents.TEXTS["credit_query"]["2026-01"]
        consents.grant(session, person.id, "credit_query", "2026-01", text.digest, "app", "test")
        app = Application(
            borrower_id=person.id,
            idempotency_key="k1",
            product_code="consumer-12",
            amount=Decimal("20000.00"),
            term=12,
            method="equal-installment",
            annual_income=Decimal("200000.00"),
        )
        session.add(app)
        session.flush()
        return person.id, app.id


def assess(runtime, borrower, **changes):
    borrower_id, application_id = borrower
    applicant = replace(APPLICANT, borrower_id=borrower_id, application_id=application_id)
    with runtime.sessions.begin() as session:
        decision = credit.assess(
            session, runtime.pm, runtime.settings, replace(applicant, **changes)
        )
        return credit.decision_view(decision)


def count(runtime, model):
    with runtime.sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_it_approves_and_the_record_explains_the_decision(runtime, borrower):
    add_plugin(runtime, Bureau(), "test-bureau")

    decision = assess(runtime, borrower)

    assert decision["outcome"] == "approve"
    assert decision["credit_limit"] == "30000.00"
    assert decision["reasons"] == []
    inputs = decision["inputs"]
    assert inputs["applicant"]["amount"] == "20000.00"
    assert inputs["report"]["score"] == 720
    assert inputs["policy"]["reject_below_score"] == 500
    with runtime.sessions.begin() as session:
        assert (
            inputs["consent_id"] == consents.active_consent(session, borrower[0], "credit_query").id
        )
    assert [(s["hook"], s["plugin"], s["error"]) for s in decision["trace"]] == [
        ("credit_report", "test-bureau", None),
        ("propose_credit_limit", "test-bureau", None),
    ]
    assert decision["trace"][1]["result"] == {
        "provider": "test-bureau",
        "limit": "30000.00",
        "reasons": ["band_b"],
    }


def test_without_consent_no_bureau_is_called_and_nothing_is_written(runtime, borrower):
    bureau = add_plugin(runtime, Bureau(), "test-bureau")
    with runtime.sessions.begin() as session:
        consents.revoke(session, borrower[0], "credit_query", "test")
    before = count(runtime, CreditDecision)

    with pytest.raises(consents.ConsentRequired) as refused:
        assess(runtime, borrower)

    assert refused.value.status == 403
    assert refused.value.code == "consent_required"
    assert bureau.calls == 0
    assert count(runtime, CreditDecision) == before


def test_a_raising_bureau_sends_to_review_its_writes_undone_and_its_error_recorded_masked(
    runtime, borrower
):
    add_plugin(runtime, Bureau(fail="report"), "test-bureau")
    topics_before = count(runtime, OutboxEvent)

    decision = assess(runtime, borrower)

    assert decision["outcome"] == "review"
    assert {"code": "credit_report_error", "outcome": "review", "source": "test-bureau"} in (
        decision["reasons"]
    )
    [failed] = [s for s in decision["trace"] if s["hook"] == "credit_report"]
    assert failed["result"] is None
    assert failed["error"].startswith("RuntimeError: bureau timed out")
    assert "110101199003071234" not in failed["error"]
    assert "13812345678" not in failed["error"]
    assert count(runtime, OutboxEvent) == topics_before  # the plugin's write rolled back


def test_a_raising_limit_engine_never_lets_an_application_through(runtime, borrower):
    add_plugin(runtime, Bureau(fail="limit"), "test-bureau")

    decision = assess(runtime, borrower)

    assert decision["outcome"] == "review"
    assert [r["code"] for r in decision["reasons"]] == [
        "propose_credit_limit_error",
        "no_limit_proposal",
    ]


def test_the_first_report_wins_and_later_bureaus_are_not_asked(runtime, borrower):
    late = add_plugin(runtime, Bureau("late", score=400), "late")
    early = add_plugin(runtime, Bureau("early", score=720), "early")  # last registered: first

    decision = assess(runtime, borrower)

    assert (early.calls, late.calls) == (1, 0)
    assert decision["inputs"]["report"]["provider"] == "early"
    # Both propose a limit (every proposal counts): the least is 30,000.
    assert decision["outcome"] == "approve"


def test_enrichment_reaches_the_assessors_and_a_clash_keeps_the_first(runtime, borrower):
    add_plugin(runtime, Bureau(), "test-bureau")
    add_plugin(runtime, Enricher("second", {"device": "emulator", "city": "Beijing"}), "second")
    add_plugin(runtime, Enricher("first", {"device": "phone"}), "first")
    assessor = add_plugin(runtime, Assessor(RiskSignal("pass", "antifraud")), "antifraud")

    decision = assess(runtime, borrower)

    assert dict(assessor.seen.attributes) == {"device": "phone", "city": "Beijing"}
    assert decision["inputs"]["applicant"]["attributes"] == {"device": "phone", "city": "Beijing"}
    assert decision["outcome"] == "approve"


@pytest.mark.parametrize(
    ("answer", "outcome", "reason"),
    [
        (
            RiskSignal("reject", "antifraud", ("device_blacklisted",)),
            "reject",
            "device_blacklisted",
        ),
        (RiskSignal("review", "antifraud", ("income_unverified",)), "review", "income_unverified"),
        ("approve!", "review", "assess_application_error"),  # not a RiskSignal: nonsense
    ],
)
def test_risk_signals_and_nonsense(runtime, borrower, answer, outcome, reason):
    add_plugin(runtime, Bureau(), "test-bureau")
    add_plugin(runtime, Assessor(answer), "antifraud")

    decision = assess(runtime, borrower)

    assert decision["outcome"] == outcome
    assert {"code": reason, "outcome": outcome, "source": "antifraud"} in decision["reasons"]


def test_with_no_credit_plugin_at_all_a_person_decides(runtime, borrower):
    decision = assess(runtime, borrower)

    assert decision["outcome"] == "review"
    assert [r["code"] for r in decision["reasons"]] == ["no_credit_report", "no_limit_proposal"]
    assert decision["trace"] == []


def test_decision_records_are_append_only(runtime, borrower):
    add_plugin(runtime, Bureau(), "test-bureau")
    decision_id = assess(runtime, borrower)["id"]

    with pytest.raises(DatabaseError), runtime.sessions.begin() as session:
        session.execute(
            update(CreditDecision).where(CreditDecision.id == decision_id).values(outcome="approve")
        )
    with pytest.raises(DatabaseError), runtime.sessions.begin() as session:
        session.execute(CreditDecision.__table__.delete())
    assert count(runtime, CreditDecision) == 1
