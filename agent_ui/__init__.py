"""Web pages of crm-pay: the customer pay page, the agent console, live status over
Socket.IO, the customer receipts portal and (demo only) the mailbox viewer."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, has_request_context, url_for

from crm_pay.current import get_context

from . import (
    admin,
    admin_fraud,
    admin_notifications,
    admin_telephony,
    admin_wallets,
    apple_pay_domain,
    approvals,
    auth,
    branding,
    console,
    console_adjustments,  # noqa: F401 (adds the write-off/adjustment request to console.bp)
    console_keypad,  # noqa: F401 (adds the keypad panel's steps to console.bp)
    console_links,  # noqa: F401 (adds cancel, resend, ask again, new link to console.bp)
    console_manual,  # noqa: F401 (adds manual payments, my payments to console.bp)
    console_refunds,  # noqa: F401 (adds the refund route to console.bp)
    console_search,  # noqa: F401 (adds the screen-pop and search box to console.bp)
    dashboard,
    disputes,
    i18n,
    live_socket,
    mailbox,
    mfa,
    mfa_webauthn,
    paypage,
    receipts_portal,
    supervisor,
    supervisor_fraud,  # noqa: F401 (adds Release / Decline of held payments to supervisor.bp)
    survey,
)
from .customer_pages import install_merchant_footer

__all__ = ["register_ui"]

# The customer's pages (pay page, receipts portal, survey and reminder links) name the
# merchant and how to reach them in their footer; done once, when the blueprints are made.
for _customer_bp in (paypage.bp, receipts_portal.bp, survey.bp):
    install_merchant_footer(_customer_bp)
i18n.install_languages(mailbox.bp)  # the demo mailbox borrows the receipts portal's layout


def _customer_page(app: Flask) -> Callable[[str, str], str]:
    """The console's customer page for a call, as this app routes it: ``url_for`` in a
    request (with its script root), else the app's URL map at ``APPLICATION_ROOT`` (a
    call reported from outside a request), so a console mounted elsewhere links right."""
    endpoint = f"{console.bp.name}.customer"

    def page(crm_ref: str, call_sid: str) -> str:
        if has_request_context():
            return url_for(endpoint, crm_ref=crm_ref, call_sid=call_sid)
        adapter = app.url_map.bind("localhost", script_name=app.config["APPLICATION_ROOT"])
        return adapter.build(endpoint, {"crm_ref": crm_ref, "call_sid": call_sid})

    return page


def register_ui(app: Flask, prefix: str) -> None:
    """Mount every page under ``prefix``. Called once by ``CrmPay.init_app``."""
    app.register_blueprint(paypage.bp, url_prefix=prefix)
    apple_pay_domain.init_apple_pay_domain(app)  # at the root, only when configured
    auth.init_auth(app, prefix)
    mfa.init_mfa(app, prefix)  # second factor at sign-in, Security page, step-up
    mfa_webauthn.init_webauthn(app, prefix)  # security keys: sign-in and Security page
    app.register_blueprint(console.bp, url_prefix=f"{prefix}/agent")
    get_context(app).customer_page = _customer_page(app)
    admin.init_admin(app, prefix)  # admin console + CRM launch endpoints
    app.register_blueprint(admin_notifications.bp, url_prefix=f"{prefix}/admin/notifications")
    app.register_blueprint(branding.admin_bp, url_prefix=f"{prefix}/admin/branding")
    app.register_blueprint(branding.public_bp, url_prefix=f"{prefix}/brand")
    app.register_blueprint(admin_fraud.bp, url_prefix=f"{prefix}/admin/fraud")
    app.register_blueprint(admin_wallets.bp, url_prefix=f"{prefix}/admin/wallets")
    app.register_blueprint(admin_telephony.bp, url_prefix=f"{prefix}/admin/telephony")
    app.register_blueprint(supervisor.bp, url_prefix=f"{prefix}/supervisor")
    app.register_blueprint(approvals.bp, url_prefix=f"{prefix}/supervisor")
    app.register_blueprint(disputes.bp, url_prefix=f"{prefix}/supervisor/disputes")
    app.register_blueprint(dashboard.bp, url_prefix=f"{prefix}/dashboard")
    app.register_blueprint(receipts_portal.bp, url_prefix=prefix)
    app.register_blueprint(survey.bp, url_prefix=prefix)  # survey, reminder links
    live_socket.init_live(app, prefix)
    if get_context(app).config.demo:
        app.register_blueprint(mailbox.bp, url_prefix=f"{prefix}/demo")
