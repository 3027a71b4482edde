"""The customer's pay page: ``{prefix}/p/<token>``.

Card entry happens in the PSP's hosted fields (iframes on the PSP's origin); this page
only ever sees a one-time nonce. ``POST {prefix}/p/<token>/pay`` takes the form fields a
hosted-fields page posts (``payment_method_nonce``, optional ``device_data``) and answers
HTML, or JSON when asked for it. ``POST {prefix}/p/<token>/events`` takes the hosted
fields' validity changes (``{"field": "cvv", "valid": true}``: flags, never what was
typed, plus ``looks_wrong`` when the entry cannot be right) and forwards them to the
agent's live-status panel; ``GET`` on the same URL answers the agent's "ask again"
requests for a field (:func:`crm_pay.services.live_access.field_requests`).

Wallets (Google Pay, Apple Pay, ...): the page shows a button for each wallet the
payment's merchant account offers (:func:`crm_pay.services.wallets.offered`) that the
PSP's library can run here (``CardEntry.wallets``, its component pinned); their scripts
and policy origins are added only then. A wallet's nonce is posted to the same pay
endpoint with ``method`` naming the wallet; a wallet the page does not offer is refused
before anything is charged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)

from crm_pay import http_headers
from crm_pay.current import get_context
from crm_pay.domain.errors import (
    ConfigurationError,
    CrmPayError,
    PspUnavailable,
    ValidationError,
)
from crm_pay.domain.receipt import Merchant
from crm_pay.domain.wallets import WALLET_NAMES
from crm_pay.ports import CardEntry
from crm_pay.rate_limits import RateLimits, Refusal
from crm_pay.services import charging, live_access, pay_links, saved_cards, views, wallets
from crm_pay.services.context import Context
from vault.pan import redact

from . import i18n, pay_scripts
from .static_files import VersionedStatic

__all__ = ["bp", "hosted_fields_scripts", "install_script_inventory"]

log = logging.getLogger("crm_pay.paypage")

bp = VersionedStatic(
    "crm_pay_paypage",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/crm_pay_ui",
)


def install_script_inventory(app: Flask, url_prefix: str | None = None) -> None:
    """Build the pay page's script inventory (done at start-up, when the blueprint is
    registered): our own scripts hashed from the files served now, the PSP's asked
    from its adapter whenever the inventory is read."""
    pay_scripts.install_inventory(
        app,
        url_prefix=get_context(app).settings.url_prefix if url_prefix is None else url_prefix,
        static_folder=str(bp.static_folder),
        static_url=str(bp.static_url_path),
    )


@bp.record_once
def _inventory(state: Any) -> None:
    install_script_inventory(state.app, state.url_prefix or "")


bp.add_url_rule("/csp-report", "csp_report", pay_scripts.csp_report, methods=["POST"])


def _card_entry() -> CardEntry:
    """The PSP's hosted-fields origins (its adapter's :class:`CardEntry`; its scripts go
    through the inventory, :mod:`agent_ui.pay_scripts`); none when the
    PSP cannot be set up, so a closed page still gets a strict policy."""
    try:
        return get_context().psp.card_entry()
    except CrmPayError as exc:
        log.error("pay page: no PSP hosted-fields origins (%s)", exc.message)
        return CardEntry()


class HostedFieldsNotConfigured(CrmPayError):
    code = "payment_page_not_configured"
    status = 503


def hosted_fields_scripts(offered: Sequence[str] = ()) -> list[dict[str, str | None]]:
    """The scripts the pay page loads, from the inventory (``agent_ui.pay_scripts``): the
    PSP's hosted-fields scripts as its adapter's ``CardEntry`` declares and pins them
    (refused when one has no pin: card entry never runs code we have not pinned), the
    components of the ``offered`` wallets, then our own, each with its ``integrity``."""
    scripts = pay_scripts.page_scripts()
    if scripts is None:
        raise HostedFieldsNotConfigured(
            f"The payment page is not configured: {pay_scripts.pin_advice()}."
        )
    return [
        {"src": request.script_root + s.url if s.origin == "'self'" else s.url,
         "integrity": s.integrity, "name": s.name}
        for s in scripts
        if s.loads_with(offered)
    ]  # fmt: skip


def _page_wallets(ctx: Context, payment_id: str) -> list[str]:
    """The wallets this payment's page offers: the merchant account's choice, of those
    the PSP's library runs here with a pinned component (the demo's stand-in client has
    none: cards only)."""
    runnable = {w.wallet for w in _card_entry().wallets}
    pinned = {s.wallet for s in pay_scripts.page_scripts() or ()}
    return [w for w in wallets.offered(ctx, payment_id) if w in runnable and w in pinned]


def _origins(*groups: Sequence[str]) -> str:
    """The distinct origins of ``groups``, in order, as a CSP source list."""
    return " ".join(dict.fromkeys(o for group in groups for o in group))


def _secure(resp: Response, offered: Sequence[str] = ()) -> Response:
    entry = _card_entry()
    extra = [w for w in entry.wallets if w.wallet in offered]  # only the offered wallets'
    frame = _origins(entry.frame_origins, *(w.frame_origins for w in extra))
    connect = _origins(entry.connect_origins, *(w.connect_origins for w in extra))
    img = _origins(entry.img_origins, *(w.img_origins for w in extra))
    loaded = [o for w in extra for o in w.script_origins]
    reporting = pay_scripts.report_headers(resp)
    policy = http_headers.content_security_policy(
        [
            ("default-src", "'none'"),
            ("script-src", pay_scripts.script_src(loaded)),
            ("frame-src", frame),
            ("connect-src", f"'self' {connect}"),
            ("style-src", "'self'"),
            ("img-src", f"'self' data: {img}"),
            ("form-action", "'self'"),
            ("base-uri", "'none'"),
            ("frame-ancestors", "'none'"),
            (reporting, ""),  # report-uri ...[; report-to ...], already spelled out
        ]
    )
    return http_headers.secure_page_headers(resp, csp=policy, referrer="no-referrer")


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" or request.is_json


def _closed_page(exc: CrmPayError, *, retry_url: str | None = None) -> Response:
    resp = Response(
        render_template(
            "crm_pay/pay_closed.html", message=exc.message, code=exc.code, retry_url=retry_url
        ),
        status=exc.status,
    )
    return _secure(resp)


def _save_card_words(ctx: Context) -> str:
    """The "save this card" sentence as this page shows it, in the page's language: what
    the customer agrees to by ticking the box (recorded word for word with the consent)."""
    return i18n.gettext(saved_cards.CONSENT_WORDING).format(merchant=ctx.settings.merchant.name)


def _save_card_consent(ctx: Context) -> saved_cards.SaveCardConsent | None:
    """The customer's consent to keep the card, when they ticked the box. The words are
    the server's own (never read from the request), in the language the page was in."""
    if request.form.get("save_card") != "yes":
        return None
    return saved_cards.SaveCardConsent(_save_card_words(ctx), i18n.page_language())


@bp.get("/p/<token>")
def pay_page(token: str) -> Response:
    ctx = get_context()
    try:
        view = views.pay_link_view(ctx, token, mark_opened=True)
    except CrmPayError as exc:
        return _closed_page(exc)
    i18n.customer_is(view.get("customer"))  # their CRM record's language counts
    if view["link_state"] != "open":
        return _secure(
            Response(
                render_template(
                    "crm_pay/pay_closed.html",
                    view=view,
                    message=pay_links.closed_message(view["link_state"]),
                    code=view["link_state"],
                ),
                status=410 if view["link_state"] in ("expired", "cancelled", "locked") else 200,
            )
        )
    offered = _page_wallets(ctx, view["id"])
    try:
        scripts = hosted_fields_scripts(offered)
    except HostedFieldsNotConfigured as exc:
        log.error("%s", exc.message)
        return _closed_page(
            CrmPayError(
                "Card payment is not available right now. Nothing was charged; please contact us.",
                status=503,
                code=exc.code,
            )
        )
    try:
        client_token = ctx.psp.client_token(currency=view["currency"])
    except PspUnavailable:
        client_token = None  # the page says the provider is unreachable; reload later
    except (ConfigurationError, ValidationError) as exc:
        return _unavailable_page(_payment_unavailable(ctx.settings.merchant, exc, view["id"]))
    html = render_template(
        "crm_pay/pay.html",
        view=view,
        token=token,
        client_token=client_token,
        scripts=scripts,
        three_d_secure=view.get("three_d_secure"),
        save_card_words=_save_card_words(ctx),
        wallets=[{"key": w, "name": WALLET_NAMES[w]} for w in offered] if client_token else [],
    )
    return _secure(Response(html), offered if client_token else ())


def _payment_unavailable(merchant: Merchant, exc: CrmPayError, payment_id: str = "") -> CrmPayError:
    """The merchant's PSP set-up refuses this payment (no merchant account for its
    currency, a client token refused, e.g. Braintree 92807): a fault on our side, not the
    customer's. The admin reads the log; the customer gets plain words and what to do.

    503, not 500: nothing crashed and nothing was charged; the service cannot take this
    payment right now and the customer may try again later (it is not cached either)."""
    log.error(
        "payment %s: card entry is unavailable (%s): %s",
        payment_id or "(by pay link)",
        exc.code,
        exc.message,
    )
    reach = " or ".join(part for part in (merchant.phone, merchant.email) if part)
    return CrmPayError(
        f"{merchant.name} cannot take this payment online right now. Nothing was charged. "
        f"Please try again later or contact us{f' ({reach})' if reach else ''}.",
        code="payment_unavailable",
        status=503,
    )


def _unavailable_page(exc: CrmPayError) -> Response:
    resp = _closed_page(exc)
    resp.headers["Retry-After"] = "600"
    return resp


def _pay_fields() -> tuple[object, object]:
    """``payment_method_nonce`` and ``device_data`` as posted, form or JSON, unchecked
    (the service refuses anything malformed). A field sent twice comes back as a list."""
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ValidationError(
                'send a JSON object like {"payment_method_nonce": "..."}',
                code="invalid_request_body",
                status=400,
            )
        device = body.get("device_data")
        return body.get("payment_method_nonce"), None if device in (None, "") else device
    values = []
    for name in ("payment_method_nonce", "device_data"):
        posted = request.form.getlist(name)
        values.append(posted if len(posted) > 1 else (posted[0] if posted else None))
    return values[0], values[1] or None


def _check_method(ctx: Context, token: str) -> None:
    """A wallet's nonce comes with ``method`` naming the wallet (``card`` or none: the
    card form). A wallet this link's page does not offer is refused here, before the
    payment, its attempts or its link change."""
    if request.is_json:
        body = request.get_json(silent=True)
        method = body.get("method") if isinstance(body, dict) else None
    else:
        posted = request.form.getlist("method")
        method = posted if len(posted) > 1 else (posted[0] if posted else None)
    if method in (None, "", "card"):
        return
    if not (isinstance(method, str) and method in _link_wallets(ctx, token)):
        shown = method[:40] if isinstance(method, str) else method
        raise ValidationError(
            f"{shown!r} is not a way to pay this link; nothing was charged. Please reload "
            "the page and choose one of the ways it offers",
            code="wallet_not_offered",
            status=422,
        )


def _link_wallets(ctx: Context, token: str) -> list[str]:
    """The wallets the pay page of ``token`` offers (refusing a link that is not valid)."""
    return _page_wallets(ctx, views.pay_link_view(ctx, token)["id"])


@bp.post("/p/<token>/pay")
def pay(token: str) -> Any:
    ctx = get_context()
    refusal = _submit_refusal(token)
    if refusal is not None:
        exc = CrmPayError(
            "Too many payment attempts in a short time. Nothing was charged. Wait "
            f"{refusal.retry_after} seconds, then try again.",
            code="rate_limited",
            status=429,
        )
        wait = {"Retry-After": str(refusal.retry_after)}
        if _wants_json():
            return {"error": {"code": exc.code, "message": exc.message}}, 429, wait
        resp = _closed_page(exc, retry_url=url_for("crm_pay_paypage.pay_page", token=token))
        resp.headers.update(wait)
        return resp
    try:
        nonce, device = _pay_fields()
        _check_method(ctx, token)
        view = charging.pay_with_nonce(
            ctx, token, nonce, device, ip=request.remote_addr, save_card=_save_card_consent(ctx)
        )
    except CrmPayError as exc:
        unavailable = isinstance(exc, ConfigurationError) or exc.code == "currency_not_supported"
        if unavailable:
            exc = _payment_unavailable(ctx.settings.merchant, exc)
        if _wants_json():
            body = {"error": {"code": exc.code, "message": redact(exc.message)}}
            return body, exc.status, ({"Retry-After": "600"} if unavailable else {})
        if unavailable:
            return _unavailable_page(exc)
        # A form we could not read (400/422) leaves the link open: offer the way back.
        retry = (
            url_for("crm_pay_paypage.pay_page", token=token) if exc.status in (400, 422) else None
        )
        return _closed_page(exc, retry_url=retry)
    i18n.customer_is(view.get("customer"))
    public = _public_view(view)
    if _wants_json():
        return public, 200
    return _secure(Response(render_template("crm_pay/pay_result.html", view=public, token=token)))


# A validity report is a few dozen bytes; anything larger is not one.
_MAX_EVENT_BYTES = 1024


def _rate_limited(scope: str, limit: str, *identifiers: str) -> Refusal | None:
    """Count this request under ``limit`` (:mod:`crm_pay.rate_limits`, shared across
    processes when Redis is configured); the refusal when it is used up."""
    limits: RateLimits = current_app.extensions["crm_pay_rate_limits"]
    return limits.hit(limit, scope, *identifiers)


def _submit_refusal(token: str) -> Refusal | None:
    """Payment submissions per link and per IP (a pay link also has its own attempts)."""
    config = get_context().config
    ip = request.remote_addr or "unknown"
    return _rate_limited("pay_submit_link", config.pay_submit_link_limit, token) or _rate_limited(
        "pay_submit_ip", config.pay_submit_ip_limit, ip
    )


def _event_error(exc: CrmPayError) -> Response:
    resp = jsonify({"error": {"code": exc.code, "message": exc.message}})
    resp.status_code = exc.status
    if exc.status == 429:
        resp.headers["Retry-After"] = "60"
    return _secure(resp)


@bp.post("/p/<token>/events")
def field_event(token: str) -> Response:
    """The customer's hosted fields changed validity: tell the agent (flags only)."""
    if (request.content_length or 0) > _MAX_EVENT_BYTES:
        return _event_error(ValidationError("this report is too large", status=413))
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _event_error(
            ValidationError('send JSON like {"field": "cvv", "valid": true}', status=400)
        )
    # The rate-limit store keys by a digest: it never holds a usable link token.
    per_minute = get_context().config.live_field_events_per_minute
    refusal = _rate_limited("field_events", f"{per_minute}/minute", token)
    if refusal is not None:
        slow_down = "too many updates from this page; please wait a minute"
        resp = _event_error(CrmPayError(slow_down, code="rate_limited", status=429))
        resp.headers["Retry-After"] = str(refusal.retry_after)
        return resp
    try:
        live_access.report_field(
            get_context(),
            token,
            body.get("field"),
            body.get("valid"),
            body.get("looks_wrong", False),
        )
    except CrmPayError as exc:
        return _event_error(exc)
    return _secure(Response(status=204))


@bp.get("/p/<token>/events")
def field_requests(token: str) -> Response:
    """The agent's "ask again" requests since ``?after=`` (the number the last answer
    gave): ``{"after": n, "requests": [{"field": "cvv", "message": "..."}]}``. The pay
    page polls it while it is open; field names and fixed words only."""
    text = request.args.get("after", "")
    after = int(text) if text.isdigit() and len(text) < 19 else None
    per_minute = get_context().config.live_field_events_per_minute
    refusal = _rate_limited("field_requests", f"{per_minute}/minute", token)
    if refusal is not None:
        slow_down = "too many requests from this page; please wait a minute"
        resp = _event_error(CrmPayError(slow_down, code="rate_limited", status=429))
        resp.headers["Retry-After"] = str(refusal.retry_after)
        return resp
    try:
        found = live_access.field_requests(get_context(), token, after)
    except CrmPayError as exc:
        return _event_error(exc)
    resp = jsonify(found)
    resp.headers["Cache-Control"] = "no-store"
    return _secure(resp)


def _public_view(view: dict[str, Any]) -> dict[str, Any]:
    """What a customer may see of their payment: no internal ids beyond the receipt."""
    keys = ("status", "amount", "currency", "receipt_number", "decline", "card", "method", "wallet")
    out = {k: view.get(k) for k in keys}
    link = view.get("pay_link") or {}
    out["attempts_left"] = link.get("attempts_left")
    out["link_state"] = link.get("state")
    decline = view.get("decline")
    if decline:
        # words addressed to the customer, not the agent's "ask the customer to..."
        out["decline"] = {
            "code": decline.get("code"),
            "message": decline.get("message"),
            "next_step": decline.get("customer_next_step"),
        }
    return out
