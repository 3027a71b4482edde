"""The console's roles, lowest first: each includes the ones before it.

A leaf of the domain so that the configuration (which checks
``CRM_PAY_MFA_REQUIRED_ROLES``) and the services' policy name the same roles."""

from __future__ import annotations

__all__ = ["ROLES"]

ROLES: tuple[str, ...] = ("agent", "supervisor", "admin")
