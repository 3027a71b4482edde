"""The one place that chooses concrete adapters, by name.

Third-party packages add adapters through entry points: group ``crm_pay.psp`` or
``crm_pay.crm``, each entry a factory ``factory(config: Mapping, *, instance_path: str,
secret: Callable[[str], str | None]) -> adapter``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from connectors.crm import BuiltinCrm
from connectors.psp.braintree import BraintreeGateway
from crm_pay.domain.errors import ConfigurationError
from crm_pay.ports import CrmConnector, PaymentGateway

__all__ = ["braintree_psp", "builtin_crm", "load_psp", "load_crm"]

SecretLookup = Callable[[str], "str | None"]


def braintree_psp(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> PaymentGateway:
    private_key = config.get("CRM_PAY_BRAINTREE_PRIVATE_KEY") or secret("psp.braintree.private_key")
    if not private_key:
        raise ConfigurationError(
            "no Braintree private key: set CRM_PAY_BRAINTREE_PRIVATE_KEY or store it in the "
            "vault as 'psp.braintree.private_key' (crm-pay demo does this for the sandbox)"
        )
    common = {
        "merchant_id": config["CRM_PAY_BRAINTREE_MERCHANT_ID"],
        "public_key": config["CRM_PAY_BRAINTREE_PUBLIC_KEY"],
        "private_key": private_key,
        "merchant_account_id": config.get("CRM_PAY_BRAINTREE_MERCHANT_ACCOUNT_ID"),
        "timeout": float(config.get("CRM_PAY_BRAINTREE_TIMEOUT") or 20.0),
    }
    env = config.get("CRM_PAY_BRAINTREE_ENVIRONMENT", "local")
    if env == "local":
        return BraintreeGateway.for_local_sandbox(config["CRM_PAY_BRAINTREE_GATEWAY_URL"], **common)
    if env not in ("sandbox", "production"):
        raise ConfigurationError(
            f"CRM_PAY_BRAINTREE_ENVIRONMENT={env!r}: use 'local', 'sandbox' or 'production'"
        )
    return BraintreeGateway(environment=env, **common)


def builtin_crm(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> CrmConnector:
    path = config.get("CRM_PAY_BUILTIN_CRM_PATH") or str(Path(instance_path) / "crm.json")
    return BuiltinCrm(Path(path))


_BUILTIN: dict[str, dict[str, Callable[..., Any]]] = {
    "crm_pay.psp": {"braintree": braintree_psp},
    "crm_pay.crm": {"builtin": builtin_crm},
}


def _factory(group: str, name: str) -> Callable[..., Any]:
    if name in _BUILTIN[group]:
        return _BUILTIN[group][name]
    for ep in entry_points(group=group):
        if ep.name == name:
            return ep.load()  # type: ignore[no-any-return]
    known = sorted(set(_BUILTIN[group]) | {ep.name for ep in entry_points(group=group)})
    raise ConfigurationError(f"no {group} adapter named {name!r}; installed: {', '.join(known)}")


def load_psp(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> PaymentGateway:
    factory = _factory("crm_pay.psp", config["CRM_PAY_PSP"])
    return factory(config, instance_path=instance_path, secret=secret)  # type: ignore[no-any-return]


def load_crm(
    config: Mapping[str, Any], *, instance_path: str, secret: SecretLookup
) -> CrmConnector:
    factory = _factory("crm_pay.crm", config["CRM_PAY_CRM"])
    return factory(config, instance_path=instance_path, secret=secret)  # type: ignore[no-any-return]
