"""Helpers of the admin and launch tests (importable: pytest puts this folder on sys.path)."""

from __future__ import annotations

# One sign-in helper for every test (tests/paytest.py); re-exported for these tests.
from paytest import PASSWORD, csrf_of, login

__all__ = ["PASSWORD", "csrf_of", "login"]
