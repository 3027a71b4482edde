"""Telephony adapters: card capture by phone keypad (DTMF) behind
:class:`crm_pay.ports.KeypadCapturePort`."""
