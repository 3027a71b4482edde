"""``python -m connectors.telephony.twilio_sandbox``: serve the telephony stand-in."""

from .cli import main

raise SystemExit(main())
