"""Fraud screening rules: what the admin sets, and the decision they give for a charge.

Pure (no I/O): the services count recent payments in SQL and hand the figures in. The
admin's JSON is read by :func:`crm_pay.domain.fraud_parsing.parse_rules`.

A **rule set** is a list of rules, each with an ``id`` the admin chooses (shown in the
reasons and the audit), a ``kind``, an ``action`` (``review`` or ``decline``) and
``enabled``. Kinds:

``velocity``
    At most ``max_payments`` earlier payments for the same ``scope`` in the last
    ``window_minutes``; the payment after them is held (``review``) or refused
    (``decline``). Scopes: ``customer``, ``agent`` (who created the payment), ``ip``
    (the address that asked for the charge: the customer's browser on the pay page,
    the API caller for a card on file) and ``card`` (the PSP's card fingerprint, e.g.
    Braintree's ``unique_number_identifier``; known only once the card is authorized).
``amount_limit``
    Payments above ``max_amount`` in ``currency``, optionally only for one ``agent``
    and/or ``channel`` (``"*"``: any). A payment in another currency is not limited.
``cvv`` / ``avs_postal_code`` / ``avs_street_address``
    The card network's answer to the security code / postal code / street address
    check (Braintree's one-letter codes: ``M`` matches, ``N`` does not match, ``U`` not
    verified, ``I`` not provided, ``S`` the issuer does not take part, ``A`` not
    applicable, ``B`` skipped), each code mapped to ``accept``, ``review`` or ``decline``
    in ``responses``; a code not listed is accepted.
``risk_decision``
    The PSP's own fraud tool decision when it sent one (Braintree's
    ``risk_data.decision``: ``Approve``, ``Review``, ``Decline``, ``Not Evaluated``),
    mapped the same way.

**Stages.** ``customer``/``agent``/``ip`` velocity and amount limits are known before
the PSP is called (*pre-charge*); ``card`` velocity and the response-code kinds are
known only from the authorization (*post-auth*). The decision of a stage is the
strongest action of the rules that fire (``decline`` over ``review`` over ``accept``),
with one plain-words reason per rule that fired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from .money import Money

__all__ = [
    "Action",
    "Stage",
    "Rule",
    "RuleSet",
    "ChargeFacts",
    "AuthorizationFacts",
    "Reason",
    "Decision",
    "RESPONSE_KINDS",
    "VELOCITY_SCOPES",
    "agent_matches",
    "combine",
]


class Action(StrEnum):
    ACCEPT = "accept"
    REVIEW = "review"
    DECLINE = "decline"


_STRENGTH: Final = {Action.ACCEPT: 0, Action.REVIEW: 1, Action.DECLINE: 2}


class Stage(StrEnum):
    PRE_CHARGE = "pre_charge"
    POST_AUTH = "post_auth"


VELOCITY_SCOPES: Final = ("customer", "agent", "ip", "card")
#: Response-code rule kinds -> what the code is, in words.
RESPONSE_KINDS: Final = {
    "cvv": "security code check",
    "avs_postal_code": "postal code check",
    "avs_street_address": "street address check",
    "risk_decision": "payment provider's fraud check",
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule as the admin set it (see the module docstring for each kind's fields)."""

    id: str
    kind: str
    action: Action = Action.REVIEW
    enabled: bool = True
    scope: str = ""  # velocity
    max_payments: int = 0  # velocity
    window_minutes: int = 0  # velocity
    max_amount: Money | None = None  # amount_limit
    agent: str = "*"  # amount_limit
    channel: str = "*"  # amount_limit
    responses: Mapping[str, Action] = field(default_factory=dict)  # response kinds

    @property
    def stage(self) -> Stage:
        if self.kind == "amount_limit" or (self.kind == "velocity" and self.scope != "card"):
            return Stage.PRE_CHARGE
        return Stage.POST_AUTH

    def to_dict(self) -> dict[str, Any]:
        """The rule as stored and shown in the admin console (what :func:`parse_rules`
        reads back)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "enabled": self.enabled}
        if self.kind == "velocity":
            out.update(
                scope=self.scope,
                max_payments=self.max_payments,
                window_minutes=self.window_minutes,
                action=self.action.value,
            )
        elif self.kind == "amount_limit":
            assert self.max_amount is not None
            out.update(
                max_amount=self.max_amount.to_decimal_str(),
                currency=self.max_amount.currency,
                agent=self.agent,
                channel=self.channel,
                action=self.action.value,
            )
        else:
            out["responses"] = {code: act.value for code, act in self.responses.items()}
        return out


@dataclass(frozen=True, slots=True)
class ChargeFacts:
    """What is known of a charge before the PSP is called."""

    amount: Money
    channel: str
    agent: str  # the actor who created the payment
    customer: str  # the customer's CRM reference
    ip: str | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationFacts:
    """What the PSP's authorization told of the card (codes as the adapter mapped them;
    ``None``: not sent)."""

    cvv: str | None = None
    avs_postal_code: str | None = None
    avs_street_address: str | None = None
    risk_decision: str | None = None
    card_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class Reason:
    """Why one rule fired: the rule, its action, plain words and the figures."""

    rule: str
    action: Action
    words: str
    figures: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "action": self.action.value,
            "words": self.words,
            "figures": dict(self.figures),
        }


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reasons: tuple[Reason, ...] = ()

    @property
    def words(self) -> str:
        """The reasons in one sentence per rule (for a case, an audit entry, a page)."""
        return " ".join(r.words for r in self.reasons) or "No fraud rule applied."


def combine(*decisions: Decision) -> Decision:
    """The strongest action of ``decisions`` with all their reasons."""
    reasons = tuple(r for d in decisions for r in d.reasons)
    action = max((d.action for d in decisions), key=_STRENGTH.__getitem__, default=Action.ACCEPT)
    return Decision(action, reasons)


def agent_matches(rule_agent: str, actor: str) -> bool:
    """``rule_agent`` names the actor ``kind:id:name`` as a whole or by its name (the
    console user's email, the API key's name); ``"*"`` is anyone."""
    if rule_agent == "*":
        return True
    return rule_agent in (actor, actor.split(":", 2)[-1])


@dataclass(frozen=True, slots=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()

    def enabled(self, stage: Stage) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.enabled and r.stage is stage)

    @property
    def screens_after_authorization(self) -> bool:
        """True when a post-auth rule is enabled: sales are then authorized only, and
        submitted for settlement after the decision."""
        return bool(self.enabled(Stage.POST_AUTH))

    def windows(self, stage: Stage) -> frozenset[tuple[str, int]]:
        """The ``(scope, window_minutes)`` counts the stage's velocity rules need."""
        return frozenset(
            (r.scope, r.window_minutes) for r in self.enabled(stage) if r.kind == "velocity"
        )

    def before_charge(self, facts: ChargeFacts, counts: Mapping[tuple[str, int], int]) -> Decision:
        """The pre-charge decision. ``counts[(scope, minutes)]`` is the number of earlier
        payments of this scope in the window (a scope without a value is not limited:
        a charge with no known IP)."""
        reasons = []
        for rule in self.enabled(Stage.PRE_CHARGE):
            if rule.kind == "velocity":
                reason = _velocity(rule, counts)
            else:
                reason = _amount_limit(rule, facts)
            if reason is not None:
                reasons.append(reason)
        return _decision(reasons)

    def after_authorization(
        self, facts: AuthorizationFacts, counts: Mapping[tuple[str, int], int]
    ) -> Decision:
        """The post-auth decision from the authorization's codes and the card counts."""
        reasons = []
        for rule in self.enabled(Stage.POST_AUTH):
            if rule.kind == "velocity":
                reason = _velocity(rule, counts)
            else:
                reason = _response(rule, getattr(facts, rule.kind))
            if reason is not None:
                reasons.append(reason)
        return _decision(reasons)


def _decision(reasons: Sequence[Reason]) -> Decision:
    action = max((r.action for r in reasons), key=_STRENGTH.__getitem__, default=Action.ACCEPT)
    return Decision(action, tuple(reasons))


_SCOPE_WORDS: Final = {
    "customer": "for this customer",
    "agent": "taken by this agent",
    "ip": "from this IP address",
    "card": "with this card",
}


def _velocity(rule: Rule, counts: Mapping[tuple[str, int], int]) -> Reason | None:
    earlier = counts.get((rule.scope, rule.window_minutes))
    if earlier is None or earlier < rule.max_payments:
        return None
    return Reason(
        rule.id,
        rule.action,
        f"{earlier} earlier payment(s) {_SCOPE_WORDS[rule.scope]} in the last "
        f"{rule.window_minutes} minutes; rule {rule.id!r} allows {rule.max_payments}.",
        {"earlier": str(earlier), "allowed": str(rule.max_payments)},
    )


def _amount_limit(rule: Rule, facts: ChargeFacts) -> Reason | None:
    limit = rule.max_amount
    if limit is None or facts.amount.currency != limit.currency:
        return None
    if rule.channel != "*" and rule.channel != facts.channel:
        return None
    if not agent_matches(rule.agent, facts.agent) or not facts.amount > limit:
        return None
    who = "" if rule.agent == "*" else f" for agent {rule.agent}"
    channel = "" if rule.channel == "*" else f" on the {rule.channel} channel"
    return Reason(
        rule.id,
        rule.action,
        f"{facts.amount.format()} is above the {limit.format()} limit{who}{channel} "
        f"(rule {rule.id!r}).",
        {"amount": facts.amount.to_decimal_str(), "limit": limit.to_decimal_str()},
    )


def _response(rule: Rule, code: str | None) -> Reason | None:
    if code is None:
        return None
    action = rule.responses.get(code, Action.ACCEPT)
    if action is Action.ACCEPT:
        return None
    return Reason(
        rule.id,
        action,
        f"The {RESPONSE_KINDS[rule.kind]} answered {code!r} (rule {rule.id!r}: {action.value}).",
        {"code": code},
    )
