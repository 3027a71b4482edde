"""Adapters behind crm-pay's ports: PSPs, CRMs, messaging and telephony.

Connectors implement the protocols of :mod:`crm_pay.ports` and may use domain types; they
never reach into services, persistence or web code. Only the wiring code picks one, by
name, through the ``crm_pay.*`` entry points.
"""
