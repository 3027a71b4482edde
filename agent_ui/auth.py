"""Sign-in, roles, sessions and CSRF for the agent and admin consoles."""

from __future__ import annotations

from flask import Flask

__all__ = ["init_auth"]


def init_auth(app: Flask, prefix: str) -> None:
    """Set up flask-login, CSRF protection and session hardening."""
