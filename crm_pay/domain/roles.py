"""The console's roles, lowest first: each includes the ones before it; and the roles
only an API key may hold, outside that order.

A leaf of the domain so that the configuration (which checks
``CRM_PAY_MFA_REQUIRED_ROLES``) and the services' policy name the same roles."""

from __future__ import annotations

__all__ = ["API_KEY_ROLES", "KEY_ONLY_ROLES", "ROLES"]

ROLES: tuple[str, ...] = ("agent", "supervisor", "admin")

# A machine client's role that includes no other and that no other includes: it may do
# exactly the actions services.policy lists for it. "telephony": the telephony
# platform's key, which reports calls handed to agents (the screen-pop) and nothing else.
KEY_ONLY_ROLES: tuple[str, ...] = ("telephony",)

API_KEY_ROLES: tuple[str, ...] = ROLES + KEY_ONLY_ROLES
