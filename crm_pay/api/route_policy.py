"""Every Flask endpoint crm-pay registers, and what it takes to reach it.

One line per endpoint. The value is either a policy action (``crm_pay.services.policy
.ACTIONS``: a signed-in user or API key whose role allows it) or a marker for a route
that is not role-guarded, with the reason:

- ``PUBLIC``: anyone (sign-in page, health, OpenAPI document, CSP reports).
- ``LINK_TOKEN``: the pay-link token in the URL is the credential (customer's page).
- ``PORTAL_LINK``: the signed receipts-portal link is the credential.
- ``SURVEY_LINK``: the signed satisfaction-survey link of a receipt email is the credential.
- ``REMINDER_LINK``: a payment reminder's signed "pay now" or opt-out link is the credential.
- ``LAUNCH_SIGNATURE``: a signed CRM launch (Salesforce Canvas, HubSpot, launch link).
- ``PSP_SIGNATURE``: the payment provider's webhook signature.
- ``STATIC``: static files.
- ``SIGNED_IN``: any signed-in user, whatever the role (sign-out, step-up check).
- ``METRICS_SCRAPE``: ``CRM_PAY_METRICS_TOKEN`` as a bearer token and/or an address in
  ``CRM_PAY_METRICS_ALLOW`` (Prometheus); 404 to everyone else.
- ``PENDING_SIGN_IN``: the password was right; the signed, single-use pending-sign-in
  token in the form is the credential (the second-factor steps before a session exists).

Guards (``agent_ui.auth.protect``, the API's ``auth``) look the endpoint up here; an
endpoint missing from this table is refused (fail closed) and
tests/integration/test_route_policy_matrix.py names it.
"""

from __future__ import annotations

from crm_pay.services import policy

__all__ = ["ROUTES", "MARKERS", "action_for", "PUBLIC", "LINK_TOKEN", "PORTAL_LINK"]

PUBLIC = "public"
LINK_TOKEN = "link token"  # noqa: S105 (a marker, not a secret)
PORTAL_LINK = "portal link"
SURVEY_LINK = "survey link"
REMINDER_LINK = "reminder link"
LAUNCH_SIGNATURE = "launch signature"
PSP_SIGNATURE = "psp signature"
STATIC = "static"
SIGNED_IN = "signed in"
PENDING_SIGN_IN = "pending sign-in"
METRICS_SCRAPE = "metrics scrape"
MARKERS = frozenset(
    {
        PUBLIC,
        LINK_TOKEN,
        PORTAL_LINK,
        SURVEY_LINK,
        REMINDER_LINK,
        LAUNCH_SIGNATURE,
        PSP_SIGNATURE,
        STATIC,
        SIGNED_IN,
        PENDING_SIGN_IN,
        METRICS_SCRAPE,
    }
)

# endpoint: action or marker
ROUTES: dict[str, str] = {
    # Admin console (admin role)
    "crm_pay_admin.index": "admin.view",
    "crm_pay_admin.connector": "admin.connectors",
    "crm_pay_admin.new_connector": "admin.connectors",
    "crm_pay_admin.enable": "admin.connectors",
    "crm_pay_admin.disable": "admin.connectors",
    "crm_pay_admin.test_connection": "admin.connectors",
    "crm_pay_admin.sync": "admin.sync",
    "crm_pay_admin.replay_all": "admin.sync",
    "crm_pay_admin.replay_one": "admin.sync",
    "crm_pay_admin.scripts": "admin.scripts",
    "crm_pay_admin.check_scripts": "admin.scripts",
    "crm_pay_admin_fraud.index": "admin.fraud_rules",
    "crm_pay_admin_fraud.save": "admin.fraud_rules",
    "crm_pay_admin_wallets.index": "admin.wallets",
    "crm_pay_admin_wallets.save": "admin.wallets",
    "crm_pay_admin_telephony.index": "admin.connectors",
    "crm_pay_admin_telephony.save_token": "admin.connectors",
    "crm_pay_admin_telephony.test_connection": "admin.connectors",
    "crm_pay_admin_branding.index": "admin.branding",
    "crm_pay_admin_branding.save": "admin.branding",
    "crm_pay_brand.logo": PUBLIC,  # the logo the customer pages show
    "crm_pay_brand.theme": PUBLIC,  # the accent colour's stylesheet of those pages
    "crm_pay_admin_notifications.index": "admin.notifications",
    "crm_pay_admin_notifications.new_rule": "admin.notifications",
    "crm_pay_admin_notifications.create_rule": "admin.notifications",
    "crm_pay_admin_notifications.rule": "admin.notifications",
    "crm_pay_admin_notifications.update_rule": "admin.notifications",
    "crm_pay_admin_notifications.enable_rule": "admin.notifications",
    "crm_pay_admin_notifications.disable_rule": "admin.notifications",
    "crm_pay_admin_notifications.preview": "admin.notifications",
    "crm_pay_admin_notifications.edit_template": "admin.notifications",
    "crm_pay_admin_notifications.reset_template": "admin.notifications",
    "crm_pay_admin.users": "users.manage",
    "crm_pay_admin.create_user": "users.manage",
    "crm_pay_admin.activate_user": "users.manage",
    "crm_pay_admin.deactivate_user": "users.manage",
    "crm_pay_admin.set_role": "users.manage",
    "crm_pay_admin.reset_mfa": "users.manage",
    "crm_pay_admin.user_sessions": "users.manage",
    "crm_pay_admin.end_session": "users.manage",
    "crm_pay_admin.end_all_sessions": "users.manage",
    "crm_pay_admin.api_keys": "api_keys.manage",
    "crm_pay_admin.create_api_key": "api_keys.manage",
    "crm_pay_admin.revoke_api_key": "api_keys.manage",
    # JSON API (API key; object rules in the services: creator or supervisor)
    "crm_pay_api.openapi": PUBLIC,
    "crm_pay_api.customer": "customer.view",
    "crm_pay_api.notify_call": "calls.notify",  # the telephony platform: a call reached an agent
    "crm_pay_api.customer_search": "customer.view",
    "crm_pay_api.create_payment": "payment.create",
    "crm_pay_api.get_payment": "payment.view",
    "crm_pay_api.cancel_payment": "payment.cancel",
    "crm_pay_api.refund_payment": "payment.refund",
    "crm_pay_api.send_link": "payment.send_link",
    "crm_pay_api.payment_messages": "payment.view",
    "crm_pay_api.resolve_payment": "payment.resolve",
    "crm_pay_api.receipt": "receipt.view",
    "crm_pay_api.receipt_pdf": "receipt.view",
    "crm_pay_api.resend_receipt": "receipt.resend",
    "crm_pay_api.get_reconciliation": "reconciliation.view",
    "crm_pay_api.run_reconciliation": "reconciliation.run",
    "crm_pay_api.list_cases": "case.view",
    "crm_pay_api.get_case": "case.view",
    "crm_pay_api.add_case_note": "case.work",
    "crm_pay_api.assign_case": "case.work",
    "crm_pay_api.snooze_case": "case.work",
    "crm_pay_api.resolve_case": "case.work",
    "crm_pay_api.apply_case_credit": "case.work",
    "crm_pay_api.release_payment": "case.work",  # fraud review (crm_pay/api/routes_fraud.py)
    "crm_pay_api.decline_payment": "case.work",
    "crm_pay_api.list_disputes": "dispute.view",
    "crm_pay_api.get_dispute": "dispute.view",
    "crm_pay_api.accept_dispute": "dispute.answer",
    "crm_pay_api.finalize_dispute": "dispute.answer",
    "crm_pay_api.add_dispute_evidence": "dispute.answer",
    "crm_pay_api.remove_dispute_evidence": "dispute.answer",
    "crm_pay_api.create_refund": "refund.create",  # owner checked on the body's payment
    "crm_pay_api.list_refunds": "refund.view",
    "crm_pay_api.create_manual_payment": "manual_payment.create",
    "crm_pay_api.list_manual_payments": "manual_payment.view",
    "crm_pay_api.create_adjustment": "adjustment.request",
    "crm_pay_api.list_approvals": "approval.view",
    "crm_pay_api.get_approval": "approval.view",
    "crm_pay_api.approve": "approval.decide",
    "crm_pay_api.refuse": "approval.decide",
    "crm_pay_api.close_approval": "approval.decide",
    # keypad (DTMF) payments on the customer's call (crm_pay/api/routes_keypad.py)
    "crm_pay_api.keypad_capture": "payment.view",
    "crm_pay_api.start_keypad_capture": "payment.take_by_keypad",
    "crm_pay_api.ask_keypad_field": "payment.take_by_keypad",
    "crm_pay_api.complete_keypad_capture": "payment.take_by_keypad",
    "crm_pay_api.cancel_keypad_capture": "payment.take_by_keypad",
    "crm_pay_api_fallback.fallback": PUBLIC,  # JSON 404 for unknown API paths
    # Sign-in, sign-out, MFA
    "crm_pay_auth.login": PUBLIC,
    "crm_pay_auth.logout": SIGNED_IN,
    "crm_pay_auth.logout_everywhere": SIGNED_IN,
    "crm_pay_mfa.code": PENDING_SIGN_IN,  # password step done; MFA step pending
    "crm_pay_mfa.enrol": PENDING_SIGN_IN,
    "crm_pay_mfa.finish": PENDING_SIGN_IN,
    "crm_pay_security.security": "account.security",
    "crm_pay_security.security_confirm": "account.security",
    "crm_pay_security.security_enrol": "account.security",
    "crm_pay_security.regenerate": "account.security",
    "crm_pay_security.verify": SIGNED_IN,  # step-up: proves the user's own MFA
    "crm_pay_mfa_key.login_options": PENDING_SIGN_IN,  # pending sign-in: security key options
    "crm_pay_mfa_key.login_verify": PENDING_SIGN_IN,
    "crm_pay_security_key.register_options": "account.security",
    "crm_pay_security_key.register": "account.security",
    "crm_pay_security_key.remove": "account.security",
    # Agent console
    "crm_pay_console.index": "console.use",
    "crm_pay_console.lookup": "customer.view",
    "crm_pay_console.customer": "customer.view",
    "crm_pay_console.take_payment": "payment.create",
    "crm_pay_console.payment": "payment.view",
    "crm_pay_console.payment_status": "payment.view",
    "crm_pay_console.cancel": "payment.cancel",
    "crm_pay_console.ask_again": "payment.send_link",
    "crm_pay_console.new_link": "payment.send_link",
    "crm_pay_console.resend_link": "payment.send_link",
    "crm_pay_console.resend_receipt": "receipt.resend",
    "crm_pay_console.refund": "payment.refund",
    "crm_pay_console.receipt_pdf": "receipt.view",
    "crm_pay_console.manual_payment_form": "manual_payment.create",
    "crm_pay_console.record_manual_payment": "manual_payment.create",
    "crm_pay_console.adjustment_form": "adjustment.request",
    "crm_pay_console.request_adjustment": "adjustment.request",
    "crm_pay_console.my_payments": "console.use",
    # keypad payments on the customer's call (agent_ui/console_keypad.py)
    "crm_pay_console.keypad_session": "payment.view",
    "crm_pay_console.keypad_start": "payment.take_by_keypad",
    "crm_pay_console.keypad_ask": "payment.take_by_keypad",
    "crm_pay_console.keypad_complete": "payment.take_by_keypad",
    "crm_pay_console.keypad_cancel": "payment.take_by_keypad",
    "crm_pay_console.static": STATIC,
    # Supervisor console
    "crm_pay_supervisor.reconciliation_page": "reconciliation.view",
    "crm_pay_supervisor.run_reconciliation": "reconciliation.run",
    "crm_pay_supervisor.queue": "case.view",
    "crm_pay_supervisor.case": "case.view",
    "crm_pay_supervisor.case_note": "case.work",
    "crm_pay_supervisor.case_assign": "case.work",
    "crm_pay_supervisor.case_snooze": "case.work",
    "crm_pay_supervisor.case_resolve": "case.work",
    "crm_pay_supervisor.case_send_link": "case.work",
    "crm_pay_supervisor.case_apply_credit": "case.work",
    "crm_pay_supervisor.case_resolve_payment": "case.work",
    "crm_pay_supervisor.case_release_payment": "case.work",  # agent_ui/supervisor_fraud.py
    "crm_pay_supervisor.case_decline_payment": "case.work",
    # Supervisor console: disputes (agent_ui/disputes.py)
    "crm_pay_disputes.list_page": "dispute.view",
    "crm_pay_disputes.detail": "dispute.view",
    "crm_pay_disputes.add_text": "dispute.answer",
    "crm_pay_disputes.upload": "dispute.answer",
    "crm_pay_disputes.remove": "dispute.answer",
    "crm_pay_disputes.accept": "dispute.answer",
    "crm_pay_disputes.finalize": "dispute.answer",
    # Payment operations dashboard (supervisors and admins; agents see "my payments today")
    "crm_pay_dashboard.index": "dashboard.view",
    "crm_pay_dashboard.figures": "dashboard.view",
    "crm_pay_dashboard.panel_csv": "dashboard.view",
    # Supervisor approvals (four-eyes; agent_ui/approvals.py)
    "crm_pay_approvals.approvals_page": "approval.decide",
    "crm_pay_approvals.approve": "approval.decide",
    "crm_pay_approvals.refuse": "approval.decide",
    "crm_pay_approvals.close": "approval.decide",
    # Opening the console from a CRM
    "crm_pay_launch.hubspot": LAUNCH_SIGNATURE,
    "crm_pay_launch.link": LAUNCH_SIGNATURE,
    "crm_pay_launch.salesforce": LAUNCH_SIGNATURE,
    # Customer side
    "crm_pay_paypage.pay_page": LINK_TOKEN,
    "crm_pay_paypage.pay": LINK_TOKEN,
    "crm_pay_paypage.field_event": LINK_TOKEN,
    "crm_pay_paypage.field_requests": LINK_TOKEN,
    "crm_pay_paypage.csp_report": PUBLIC,  # browsers post CSP violation reports
    "crm_pay_paypage.static": STATIC,
    "crm_pay_receipts_portal.receipts": PORTAL_LINK,
    "crm_pay_receipts_portal.receipt_pdf": PORTAL_LINK,
    "crm_pay_survey.survey": SURVEY_LINK,
    "crm_pay_survey.answer": SURVEY_LINK,
    "crm_pay_survey.reminder_pay": REMINDER_LINK,
    "crm_pay_survey.reminder_pay_continue": REMINDER_LINK,
    "crm_pay_survey.opt_out": REMINDER_LINK,
    "crm_pay_survey.opt_out_confirm": REMINDER_LINK,
    # Demo mailbox (demo mode only: fake emails/SMS of test customers)
    "crm_pay_mailbox.index": PUBLIC,
    "crm_pay_mailbox.message": PUBLIC,
    "crm_pay_mailbox.attachment": PUBLIC,
    # PSP and operations
    "crm_pay_webhooks.psp_webhook": PSP_SIGNATURE,
    # the telephony provider's signature (X-Twilio-Signature), checked by its adapter
    "crm_pay_webhooks.twilio_status": PSP_SIGNATURE,
    # TaskRouter's Event Callbacks, signed by Twilio the same way (a call reached an agent)
    "crm_pay_webhooks.twilio_taskrouter": PSP_SIGNATURE,
    "crm_pay_webhooks.healthz": PUBLIC,
    "crm_pay_metrics.metrics": METRICS_SCRAPE,
    # The standalone app (crm_pay.app): redirect to the console, host static files
    "index": PUBLIC,
    "static": STATIC,
}


def action_for(endpoint: str | None) -> str | None:
    """The action or marker ``endpoint`` needs; None when it has no entry (refuse)."""
    if endpoint is None:
        return None
    return ROUTES.get(endpoint)


def _check() -> None:
    for endpoint, value in ROUTES.items():
        if value not in MARKERS and value not in policy.ACTIONS:
            raise RuntimeError(f"route {endpoint}: {value!r} is neither an action nor a marker")


_check()
