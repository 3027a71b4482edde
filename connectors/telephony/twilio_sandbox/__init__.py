"""A development stand-in for Twilio's agent-assisted Pay, for demos and integration tests.

It speaks the part of Twilio's REST API that crm-pay's Twilio adapter uses (the Payments
subresource of a Call), so the real ``twilio`` SDK runs against it unchanged, keeps
simulated calls whose caller "presses keys" through a small ``/_sandbox`` API, and sends
status callbacks with Twilio's parameters, masking and ``X-Twilio-Signature``. It accepts
only Braintree's published test card numbers, never keeps or logs a card number, and
moves no money; the token of a completed capture is a stand-in token. Its virtual phone
(``/_sandbox/phone``, ``phone_pages.py``) lets a person play the caller in a demo, and a
call placed with an agent can be told to a TaskRouter Event Callback URL
(``taskrouter.py``).

    with TwilioSandboxServer() as twilio:
        call = twilio.place_call()
        adapter = TwilioKeypadCapture(twilio.config.account_sid, twilio.config.auth_token,
                                      payment_connector="Default", base_url=twilio.base_url)
"""

from .callbacks import Delivery, twilio_signature
from .cli import main
from .server import TwilioSandboxConfig, TwilioSandboxServer

__all__ = ["Delivery", "TwilioSandboxConfig", "TwilioSandboxServer", "main", "twilio_signature"]
