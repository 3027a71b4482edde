"""``python -m connectors.psp.braintree_sandbox``: serve the development sandbox."""

from .cli import main

raise SystemExit(main())
