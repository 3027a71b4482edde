"""The fraud rules evaluator (crm_pay/domain/fraud.py): pure, so tested with values."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_pay.domain.errors import ValidationError
from crm_pay.domain.fraud import (
    Action,
    AuthorizationFacts,
    ChargeFacts,
    Stage,
    agent_matches,
)
from crm_pay.domain.fraud_parsing import parse_rules
from crm_pay.domain.money import Money

AGENT = "user:7:ann@example.com"


def _facts(amount: str = "10.00", channel: str = "link", agent: str = AGENT) -> ChargeFacts:
    return ChargeFacts(Money.parse(amount, "USD"), channel, agent, "CUST-1", "203.0.113.9")


def _velocity(scope: str = "customer", n: int = 3, action: str = "review") -> dict[str, Any]:
    return {
        "id": f"{scope}-{n}",
        "kind": "velocity",
        "scope": scope,
        "max_payments": n,
        "window_minutes": 60,
        "action": action,
    }


def test_no_rules_accept_everything_and_screen_nothing_after_authorization() -> None:
    rules = parse_rules([])
    assert rules.before_charge(_facts(), {}).action is Action.ACCEPT
    assert not rules.screens_after_authorization
    assert rules.windows(Stage.PRE_CHARGE) == frozenset()


@given(n=st.integers(min_value=0, max_value=50), earlier=st.integers(min_value=0, max_value=60))
def test_velocity_lets_n_payments_through_and_holds_the_next(n: int, earlier: int) -> None:
    rules = parse_rules([_velocity(n=n)])
    decision = rules.before_charge(_facts(), {("customer", 60): earlier})
    assert decision.action is (Action.REVIEW if earlier >= n else Action.ACCEPT)
    if earlier >= n:
        (reason,) = decision.reasons
        assert reason.rule == f"customer-{n}"
        assert f"{earlier} earlier payment(s) for this customer" in reason.words
        assert reason.figures == {"earlier": str(earlier), "allowed": str(n)}


def test_a_scope_without_a_count_is_not_limited() -> None:
    # no IP known for the charge: the IP rule cannot apply
    rules = parse_rules([_velocity("ip", 0, "decline")])
    assert rules.before_charge(_facts(), {}).action is Action.ACCEPT


def test_the_strongest_action_wins_and_every_reason_is_kept() -> None:
    rules = parse_rules([_velocity("customer", 1), _velocity("agent", 1, "decline")])
    decision = rules.before_charge(_facts(), {("customer", 60): 5, ("agent", 60): 5})
    assert decision.action is Action.DECLINE
    assert [r.rule for r in decision.reasons] == ["customer-1", "agent-1"]


def test_an_amount_limit_applies_to_its_agent_channel_and_currency_only() -> None:
    rules = parse_rules(
        [
            {
                "id": "ann-link",
                "kind": "amount_limit",
                "agent": "ann@example.com",
                "channel": "link",
                "max_amount": "100.00",
                "currency": "USD",
                "action": "decline",
            }
        ]
    )
    assert rules.before_charge(_facts("100.00"), {}).action is Action.ACCEPT  # at the limit
    over = rules.before_charge(_facts("100.01"), {})
    assert over.action is Action.DECLINE
    assert "USD 100.01 is above the USD 100.00 limit for agent ann@example.com" in over.words
    assert rules.before_charge(_facts("500.00", channel="vaulted"), {}).action is Action.ACCEPT
    assert rules.before_charge(_facts("500.00", agent="user:8:bo@x"), {}).action is Action.ACCEPT
    eur = ChargeFacts(Money.parse("500.00", "EUR"), "link", AGENT, "C", None)
    assert rules.before_charge(eur, {}).action is Action.ACCEPT


@pytest.mark.parametrize(
    ("code", "expected"),
    [("N", Action.DECLINE), ("U", Action.REVIEW), ("M", Action.ACCEPT), ("I", Action.ACCEPT)],
)
def test_cvv_codes_map_to_the_admins_actions(code: str, expected: Action) -> None:
    rules = parse_rules(
        [{"id": "cvv", "kind": "cvv", "responses": {"N": "decline", "U": "review"}}]
    )
    assert rules.screens_after_authorization
    assert rules.after_authorization(AuthorizationFacts(cvv=code), {}).action is expected


def test_avs_and_risk_decision_with_no_answer_accept() -> None:
    rules = parse_rules(
        [
            {"id": "avs", "kind": "avs_postal_code", "responses": {"N": "review"}},
            {"id": "risk", "kind": "risk_decision", "responses": {"Decline": "decline"}},
        ]
    )
    assert rules.after_authorization(AuthorizationFacts(), {}).action is Action.ACCEPT
    held = rules.after_authorization(AuthorizationFacts(avs_postal_code="N"), {})
    assert held.action is Action.REVIEW
    assert "postal code check answered 'N'" in held.words
    risky = AuthorizationFacts(avs_postal_code="N", risk_decision="Decline")
    assert rules.after_authorization(risky, {}).action is Action.DECLINE


def test_card_velocity_is_a_post_authorization_rule() -> None:
    rules = parse_rules([_velocity("card", 2)])
    assert rules.enabled(Stage.PRE_CHARGE) == ()
    assert rules.windows(Stage.POST_AUTH) == frozenset({("card", 60)})
    decision = rules.after_authorization(AuthorizationFacts(card_fingerprint="x" * 32), {})
    assert decision.action is Action.ACCEPT
    decision = rules.after_authorization(AuthorizationFacts(), {("card", 60): 2})
    assert decision.action is Action.REVIEW


def test_a_disabled_rule_does_nothing() -> None:
    rules = parse_rules([dict(_velocity(n=0), enabled=False)])
    assert rules.before_charge(_facts(), {("customer", 60): 9}).action is Action.ACCEPT


@pytest.mark.parametrize(
    ("rules", "words"),
    [
        ({"id": "x"}, "must be a list"),
        ([{"kind": "velocity"}], "needs an id"),
        ([{"id": "a", "kind": "speed"}], "kind must be one of"),
        ([dict(_velocity(), scope="planet")], "scope must be one of"),
        ([dict(_velocity(), window_minutes=0)], "window_minutes must be a whole number"),
        ([dict(_velocity(), max_payments="3")], "max_payments must be a whole number"),
        ([dict(_velocity(), action="accept")], "action must be review or decline"),
        ([dict(_velocity(), colour="red")], "unknown field(s) colour"),
        ([_velocity(), _velocity()], "two rules are called"),
        (
            [{"id": "a", "kind": "amount_limit", "max_amount": "12.345", "currency": "USD"}],
            "max_amount must be an amount",
        ),
        ([{"id": "a", "kind": "amount_limit", "max_amount": "10.00"}], "currency is needed"),
        ([{"id": "c", "kind": "cvv", "responses": {}}], "responses maps codes"),
        ([{"id": "c", "kind": "cvv", "responses": {"N": "ban"}}], "action must be"),
    ],
)
def test_bad_rules_are_refused_in_words_that_name_the_rule(rules: Any, words: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_rules(rules)
    assert words in raised.value.message


@given(
    n=st.integers(min_value=0, max_value=100),
    minutes=st.integers(min_value=1, max_value=10_000),
    action=st.sampled_from(["review", "decline"]),
    scope=st.sampled_from(["customer", "agent", "ip", "card"]),
)
def test_a_rule_reads_back_as_it_was_saved(n: int, minutes: int, action: str, scope: str) -> None:
    raw = dict(_velocity(scope, n, action), window_minutes=minutes, enabled=True)
    (rule,) = parse_rules([raw]).rules
    assert rule.to_dict() == raw
    assert parse_rules([rule.to_dict()]).rules == (rule,)


def test_an_agent_is_named_by_its_whole_actor_or_its_name() -> None:
    assert agent_matches("*", AGENT)
    assert agent_matches("ann@example.com", AGENT)
    assert agent_matches(AGENT, AGENT)
    assert not agent_matches("bo@example.com", AGENT)
