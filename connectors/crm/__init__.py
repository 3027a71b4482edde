"""CRM connectors: adapters behind :class:`crm_pay.ports.CrmConnector`.

``builtin`` (this package's :class:`BuiltinCrm`) is the demo default; the others are
chosen by name through the ``crm_pay.crm`` entry points.
"""

from .builtin import BuiltinCrm, CrmUnavailable, normalize_phone
from .demo_data import DEMO_CARD_TOKENS

__all__ = ["BuiltinCrm", "CrmUnavailable", "DEMO_CARD_TOKENS", "normalize_phone"]
