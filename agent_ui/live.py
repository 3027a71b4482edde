"""Live payment status over Socket.IO."""

from __future__ import annotations

from flask import Flask

__all__ = ["init_live"]


def init_live(app: Flask, prefix: str) -> None:
    """Attach Socket.IO and install the context's live-status publisher."""
