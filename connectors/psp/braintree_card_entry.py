"""How Braintree's card entry runs on the pay page: which scripts, from where, and the
origins the page's Content-Security-Policy must allow for them.

Three sources of the browser client (``CRM_PAY_BRAINTREE_JS_SOURCE``):

``bundled`` (the default with Braintree's sandbox and production)
    braintree-web, pinned in ``package-lock.json`` and copied by ``make install`` into
    crm-pay's vendor folder, served by crm-pay itself with an SRI hash taken from the
    file. The bytes the browser tests run are the bytes production serves, no operator
    has to pin anything, and the SDK needs no third-party script origin.
``cdn``
    Braintree's CDN (``js.braintreegateway.com``) at ``CRM_PAY_BRAINTREE_JS_VERSION``,
    each file pinned by ``CRM_PAY_BRAINTREE_JS_INTEGRITY``; without a pin the pay page
    refuses card entry.
``stand-in`` (the default with the local development sandbox)
    the sandbox's stand-in client (``braintree_sandbox/static/hosted-fields.js``): the
    same API, for a browser that cannot send Braintree's hosts to the sandbox (see
    ``braintree_sandbox/client_token.py``). ``bundled`` also works with the local
    sandbox when Braintree's hosts are routed to it, as the browser tests do.

The origins below are the ones braintree-web 3.144.0 uses (``lib/constants.js``,
``data-collector/fraudnet.js``, ``three-d-secure/external/frameworks/songbird.js``)
and Cardinal Commerce's songbird script, which 3-D Secure loads from the URL in the
gateway configuration.

Wallets (:data:`WALLET_COMPONENTS`): braintree-web's component for each (bundled or from
the CDN like the card scripts, marked with its wallet so the page loads it only when it
offers that wallet), and the origins the wallet's own pieces add to the page's policy,
only when it is offered. Google Pay: Google's ``pay.js`` from ``pay.google.com``, which
the page loads itself (Google publishes no stable hash to pin it, see Google's "Google
Pay inside sandboxed iframe for PCI DSS v4 compliance"), its sheet's frames and calls on
the same origin and the button's images on ``www.gstatic.com``. Apple Pay: nothing, the
sheet is Safari's own (``ApplePaySession``); the merchant validation and the token go
through Braintree's client API (``apple-pay/apple-pay.js``: ``v1/apple_pay_web/
sessions``, ``v1/payment_methods/apple_payment_tokens``). PayPal: PayPal's JS SDK,
which braintree-web's ``paypalCheckout.loadPayPalSDK`` adds from ``www.paypal.com/sdk/js``
(unpinnable: it is built per request), its buttons' and window's frames and calls on
PayPal's origins and images from ``www.paypalobjects.com`` (PayPal's "Content Security
Policy" guidance for the JS SDK). Venmo: nothing beyond the card scripts' origins. In a
desktop browser braintree-web's ``venmo`` (``allowDesktop``) shows its QR code in a frame
from the assets URL (``venmo/venmo.js``: ``/web/<version>/html/venmo-desktop-frame.html``)
and polls the payment context on Braintree's GraphQL API (``payments[.sandbox].braintree-
api.com``, ``lib/constants.js`` ``GRAPHQL_URLS``); on a phone it leaves for the Venmo app
or ``venmo.com`` (a navigation, outside the page's policy) and comes back to the page.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crm_pay.domain.errors import ConfigurationError
from crm_pay.ports import CardEntry, CardScript, WalletEntry

__all__ = ["BRAINTREE_JS", "JS_SOURCES", "JS_VERSION", "WALLET_COMPONENTS", "card_entry_for"]

BRAINTREE_JS = "https://js.braintreegateway.com"
#: braintree-web's version in package.json (the bundled files) and the CDN default.
JS_VERSION = "3.144.0"
JS_SOURCES = ("bundled", "cdn", "stand-in")
_ASSETS = "https://assets.braintreegateway.com"
# Braintree's scripts in load order: (name, purpose).
_SCRIPTS: tuple[tuple[str, str], ...] = (
    ("client", "Braintree client: creates the client the other components talk through"),
    ("hosted-fields", "Braintree hosted fields: card entry in iframes on Braintree's origin"),
    ("data-collector", "Braintree data collector: device data for fraud screening"),
    ("three-d-secure", "Braintree 3-D Secure: the bank's check of the cardholder (SCA)"),
)
#: braintree-web's component per wallet: (wallet, script name, purpose).
WALLET_COMPONENTS: tuple[tuple[str, str, str], ...] = (
    ("google_pay", "google-payment", "Braintree Google Pay: Google Pay's sheet and its nonce"),
    ("apple_pay", "apple-pay", "Braintree Apple Pay: the merchant validation and the nonce"),
    ("paypal", "paypal-checkout", "Braintree PayPal Checkout: loads PayPal's buttons, the nonce"),
    ("venmo", "venmo", "Braintree Venmo: the QR code sheet or the Venmo app, the nonce"),
)
_GOOGLE_PAY = "https://pay.google.com"
_PAYPAL = ("https://www.paypal.com", "https://www.sandbox.paypal.com")
# What each wallet adds to the policy when it is offered (see the module docstring).
_WALLETS = (
    WalletEntry(
        "google_pay",
        frame_origins=(_GOOGLE_PAY,),
        connect_origins=(_GOOGLE_PAY,),
        img_origins=("https://www.gstatic.com",),
        script_origins=(_GOOGLE_PAY,),
    ),
    WalletEntry("apple_pay"),
    WalletEntry(
        "paypal",
        frame_origins=_PAYPAL,
        connect_origins=_PAYPAL,
        img_origins=(*_PAYPAL, "https://www.paypalobjects.com"),
        script_origins=("https://www.paypal.com", "https://www.paypalobjects.com"),
    ),
    # Venmo adds nothing: its QR code frame is on the assets origin and its payment
    # contexts go to Braintree's GraphQL API, both already allowed for the card scripts.
    WalletEntry("venmo"),
)
# Where braintree-web and what it loads go, by directive.
_FRAMES = (
    _ASSETS,  # hosted-field frames, 3-D Secure's landing frames
    "https://c.paypal.com",  # the data collector's fraud frame ("ppfniframe")
)
_CONNECT = (
    "https://api.braintreegateway.com",
    "https://api.sandbox.braintreegateway.com",
    "https://payments.braintree-api.com",
    "https://payments.sandbox.braintree-api.com",
    "https://www.paypal.com",  # braintree-web's analytics (ANALYTICS_URL)
    "https://c.paypal.com",
)
_IMAGES = (_ASSETS, "https://b.stats.paypal.com", "https://c.paypal.com")
_LOADED_SCRIPTS = ("https://c.paypal.com",)  # the data collector's fb.js (FRAUDNET_URL)
# Cardinal's songbird and its challenge frames, with Braintree's sandbox and production.
_CARDINAL = (
    "https://songbird.cardinalcommerce.com",
    "https://songbirdstag.cardinalcommerce.com",
)
_CARDINAL_FRAMES = ("https://*.cardinalcommerce.com",)
_SANDBOX_STATIC = Path(__file__).resolve().parent / "braintree_sandbox" / "static"


def _sri(body: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode("ascii")


def _stand_in(assets_url: str) -> CardEntry:
    parts = urlsplit(assets_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    body = (_SANDBOX_STATIC / "hosted-fields.js").read_bytes()
    script = CardScript(
        name="hosted-fields",
        url=f"{assets_url.rstrip('/')}/hosted-fields.js",
        version="development",
        integrity=_sri(body),
        purpose="Development sandbox stand-in for Braintree's client (demo only)",
        owner="crm-pay development sandbox",
        development=True,
    )
    return CardEntry(
        scripts=(script,),
        frame_origins=(origin,),
        connect_origins=(origin,),
        script_origins=(origin,),  # the sandbox's 3-D Secure stand-in
    )


def _braintree(source: str, *, local: bool, js_version: str, pins: Mapping[str, Any]) -> CardEntry:
    scripts = []
    components = [("", name, purpose) for name, purpose in _SCRIPTS] + list(WALLET_COMPONENTS)
    for wallet, name, purpose in components:
        if source == "bundled":
            script = CardScript(
                name=name,
                url="",
                version=JS_VERSION,
                integrity="",
                purpose=purpose,
                owner="Braintree",
                bundled=f"braintree-web/{name}.js",
                wallet=wallet,
            )
        else:
            pin = str(pins.get(name) or "")
            script = CardScript(
                name=name,
                url=f"{BRAINTREE_JS}/web/{js_version}/js/{name}.min.js",
                version=js_version,
                integrity=pin if pin.startswith(("sha384-", "sha512-")) else "",
                purpose=purpose,
                owner="Braintree",
                wallet=wallet,
            )
        scripts.append(script)
    # With the local sandbox behind Braintree's hosts, 3-D Secure's songbird and
    # challenge come from the (routed) assets host instead of Cardinal's.
    cardinal = (_ASSETS,) if local else _CARDINAL
    names = ", ".join(f'"{name}": "sha384-..."' for name, _ in _SCRIPTS)
    return CardEntry(
        scripts=tuple(scripts),
        frame_origins=_FRAMES + ((_ASSETS,) if local else _CARDINAL_FRAMES),
        connect_origins=_CONNECT + ((_ASSETS,) if local else _CARDINAL_FRAMES),
        img_origins=_IMAGES,
        script_origins=_LOADED_SCRIPTS + cardinal,
        wallets=_WALLETS,
        pin_advice=(
            ""
            if source == "bundled"
            else f"set CRM_PAY_BRAINTREE_JS_INTEGRITY {{{names}}} for version {js_version}"
        ),
    )


def card_entry_for(
    environment: str,
    *,
    source: str = "",
    assets_url: str = "",
    js_version: str = "",
    js_integrity: Mapping[str, Any] | None = None,
) -> CardEntry:
    """The pay page's card entry for ``environment`` (``local``, ``sandbox``,
    ``production``) and ``source`` (see the module; ``""``: ``stand-in`` for ``local``,
    else ``bundled``). ``assets_url`` is the local sandbox's assets origin."""
    local = environment == "local"
    chosen = source or ("stand-in" if local else "bundled")
    if chosen not in JS_SOURCES:
        raise ConfigurationError(
            f"CRM_PAY_BRAINTREE_JS_SOURCE={chosen!r}: use one of {', '.join(JS_SOURCES)}"
        )
    if chosen == "stand-in":
        if not local:
            raise ConfigurationError(
                "CRM_PAY_BRAINTREE_JS_SOURCE=stand-in works only with the local development "
                "sandbox (CRM_PAY_BRAINTREE_ENVIRONMENT=local); use 'bundled' or 'cdn'"
            )
        return _stand_in(assets_url)
    pins = js_integrity if isinstance(js_integrity, Mapping) else {}
    return _braintree(chosen, local=local, js_version=js_version or JS_VERSION, pins=pins)
