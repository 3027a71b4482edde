"""Reading the fraud rules an admin wrote (their stored / submitted JSON form) into a
:class:`~crm_pay.domain.fraud.RuleSet`. Pure; every refusal names the rule and field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from .errors import ValidationError
from .fraud import RESPONSE_KINDS, VELOCITY_SCOPES, Action, Rule, RuleSet
from .money import Money, normalize_currency

__all__ = ["parse_rules"]

_KINDS: Final = ("velocity", "amount_limit", *RESPONSE_KINDS)
_CHANNELS: Final = ("*", "link", "vaulted", "ivr", "agent_keyed")
_MAX_RULES: Final = 50
_MAX_WINDOW_MINUTES: Final = 31 * 24 * 60


def parse_rules(data: object) -> RuleSet:
    """Read a rule set from its stored / submitted form (a list of rule objects).

    Anything wrong raises :class:`ValidationError` naming the rule and the field, in
    words an admin can act on; nothing is half-read."""
    if not isinstance(data, list):
        raise ValidationError('the rules must be a list: [{"id": "...", "kind": "..."}, ...]')
    if len(data) > _MAX_RULES:
        raise ValidationError(f"at most {_MAX_RULES} rules; remove some")
    rules = tuple(_rule(i, raw) for i, raw in enumerate(data, start=1))
    seen: set[str] = set()
    for rule in rules:
        if rule.id in seen:
            raise ValidationError(f"two rules are called {rule.id!r}; give each its own id")
        seen.add(rule.id)
    return RuleSet(rules)


def _rule(position: int, raw: object) -> Rule:
    if not isinstance(raw, dict):
        raise ValidationError(f"rule {position} must be an object with an id and a kind")
    rule_id = raw.get("id")
    if not (isinstance(rule_id, str) and 0 < len(rule_id) <= 40 and rule_id.isprintable()):
        raise ValidationError(f"rule {position} needs an id: a short name of 1-40 characters")
    where = f"rule {rule_id!r}"
    kind = raw.get("kind")
    if kind not in _KINDS:
        raise ValidationError(f"{where}: kind must be one of {', '.join(_KINDS)}")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ValidationError(f"{where}: enabled must be true or false")
    allowed = {"id", "kind", "enabled"}
    if kind == "velocity":
        allowed |= {"scope", "max_payments", "window_minutes", "action"}
        rule = Rule(
            rule_id,
            kind,
            action=_action(raw.get("action", "review"), where, accept=False),
            enabled=enabled,
            scope=_choice(raw.get("scope"), VELOCITY_SCOPES, where, "scope"),
            max_payments=_whole(raw.get("max_payments"), where, "max_payments", 0, 100_000),
            window_minutes=_whole(
                raw.get("window_minutes"), where, "window_minutes", 1, _MAX_WINDOW_MINUTES
            ),
        )
    elif kind == "amount_limit":
        allowed |= {"max_amount", "currency", "agent", "channel", "action"}
        rule = Rule(
            rule_id,
            kind,
            action=_action(raw.get("action", "review"), where, accept=False),
            enabled=enabled,
            max_amount=_limit(raw.get("max_amount"), raw.get("currency"), where),
            agent=_agent(raw.get("agent", "*"), where),
            channel=_choice(raw.get("channel", "*"), _CHANNELS, where, "channel"),
        )
    else:
        allowed |= {"responses"}
        rule = Rule(rule_id, kind, enabled=enabled, responses=_responses(raw, where))
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValidationError(f"{where}: unknown field(s) {', '.join(unknown)} for kind {kind}")
    return rule


def _action(value: object, where: str, *, accept: bool) -> Action:
    choices = [a.value for a in Action if accept or a is not Action.ACCEPT]
    if value not in choices:
        raise ValidationError(f"{where}: action must be {' or '.join(choices)}")
    return Action(str(value))


def _choice(value: object, choices: Sequence[str], where: str, name: str) -> str:
    if value not in choices:
        raise ValidationError(f"{where}: {name} must be one of {', '.join(choices)}")
    return str(value)


def _whole(value: object, where: str, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(f"{where}: {name} must be a whole number from {low} to {high}")
    return value


def _limit(amount: object, currency: object, where: str) -> Money:
    if not isinstance(currency, str):
        raise ValidationError(f"{where}: currency is needed with max_amount, e.g. USD")
    try:
        code = normalize_currency(currency)
        limit = Money.parse(str(amount) if isinstance(amount, str) else "", code)
    except ValidationError as exc:
        raise ValidationError(
            f'{where}: max_amount must be an amount in {currency} written as text, e.g. "500.00"'
            f" ({exc.message})"
        ) from exc
    if not limit.is_positive():
        raise ValidationError(f"{where}: max_amount must be greater than zero")
    return limit


def _agent(value: object, where: str) -> str:
    if not (isinstance(value, str) and 0 < len(value) <= 200 and value.isprintable()):
        raise ValidationError(f'{where}: agent is the agent\'s email or "*" for anyone')
    return value


def _responses(raw: dict[str, Any], where: str) -> dict[str, Action]:
    responses = raw.get("responses")
    if not isinstance(responses, dict) or not responses:
        raise ValidationError(f'{where}: responses maps codes to actions, e.g. {{"N": "decline"}}')
    out = {}
    for code, action in responses.items():
        if not (isinstance(code, str) and 0 < len(code) <= 20 and code.isprintable()):
            raise ValidationError(f"{where}: {code!r} is not a response code")
        out[code] = _action(action, f"{where} code {code!r}", accept=True)
    return out
