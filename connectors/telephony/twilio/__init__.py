"""Twilio's agent-assisted Pay (the Payments subresource of a Call) as a keypad capture."""

from .adapter import TwilioKeypadCapture

__all__ = ["TwilioKeypadCapture"]
