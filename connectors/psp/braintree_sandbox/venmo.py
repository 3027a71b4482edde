"""Venmo on the development sandbox, for braintree-web 3.144.0's real ``venmo`` component.

The pay page creates the component with ``allowDesktop: true`` and
``paymentMethodUsage: "single_use"``; in a desktop browser (the browser tests' headless
Chromium) braintree-web then runs its *desktop QR code* flow. What the sandbox answers,
and the braintree-web source (``node_modules/braintree-web/venmo/``) each part follows:

- the gateway configuration's ``payWithVenmo`` block (:func:`venmo_configuration`):
  ``venmo/index.js`` l. 143 refuses to create the component without it (VENMO_NOT_ENABLED);
  ``venmo.js`` l. 138 takes ``merchantId`` as the Venmo profile, ``getUrl`` reads
  ``accessToken`` and ``environment``. The configuration also names Braintree's GraphQL
  endpoint (``graphQL.url``) with no client-API ``features``, so card tokenization stays
  on the client API.
- the GraphQL endpoint (:data:`GRAPHQL_PATH`, ``payments.sandbox.braintree-api.com/
  graphql``): ``client/client.js`` l. 328-347 sends ``api: "graphQLApi"`` requests to
  ``GRAPHQL_URLS[environment]`` (``lib/constants.js``; the same URL as ``graphQL.url``)
  with ``Authorization: Bearer <authorizationFingerprint>`` and ``Braintree-Version``,
  the body ``{query, variables, clientSdkMetadata}``. Errors come back as Braintree's
  GraphQL does, HTTP 200 with ``errors[].extensions.errorClass`` (the classes
  ``client/request/graphql/request.js`` ``determineStatus`` maps), which the client
  turns into CLIENT_GRAPHQL_REQUEST_ERROR (``client.js`` l. 377). The operations are
  those of ``venmo/external/queries.js`` with ``paymentMethodUsage`` (the non-legacy
  ones): ``createVenmoPaymentContext`` (``external/venmo-desktop.js`` l. 361-372:
  ``intent: "PAY_FROM_APP"``, ``customerClient: "DESKTOP"``, ``merchantProfileId``
  when the configuration names one; after each tokenization
  ``venmo.js`` creates the next one with ``customerClient: "MOBILE_WEB"``),
  ``updateVenmoPaymentContextStatus`` (the QR sheet's cancel, l. 122) and
  ``node(id:) { ... on VenmoPaymentContext }``, which braintree-web polls every second
  (l. 28) until the status is ``APPROVED`` (then ``paymentMethodId`` is the nonce,
  ``userName`` the Venmo user) or ``CANCELED``/``EXPIRED``/``FAILED`` (l. 296-322).
- the QR code frame braintree-web loads from the configuration's ``assetsUrl``
  (``venmo.js`` l. 130-135: ``/web/3.144.0/html/venmo-desktop-frame.html``, with
  ``#SANDBOX_<channel>``, ``venmo-desktop.js`` l. 40): our own page
  (``static/venmo-desktop-frame.html`` and ``.js``) that speaks the framebus events of
  ``venmo/shared/events.js`` and, instead of a QR code, shows a clearly labelled
  simulated Venmo app ("Development sandbox — simulated Venmo app"). Approving there is
  what scanning and approving in the Venmo app does: the context becomes ``SCANNED``
  then ``APPROVED`` with Braintree's Venmo test nonce ``fake-venmo-account-nonce``
  (:mod:`.wallet_nonces`; braintree_python's ``VenmoAccount``, user ``venmojoe``). The
  simulated app reaches the sandbox at :data:`SIMULATED_APP_PATH` on the assets origin.

A payment context lives :data:`CONTEXT_LIFETIME_SECONDS` (Braintree's is about 5
minutes; braintree-web refreshes it at two thirds of its life). No card is involved.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from flask import Flask, Response, jsonify, request

from .client_token import fingerprint_is_valid

__all__ = [
    "GRAPHQL_PATH",
    "GRAPHQL_URL",
    "SIMULATED_APP_PATH",
    "VENMO_NONCE",
    "VENMO_USERNAME",
    "register_venmo_routes",
    "venmo_configuration",
]

GRAPHQL_URL = "https://payments.sandbox.braintree-api.com/graphql"
GRAPHQL_PATH = "/graphql"
#: where the sandbox's simulated Venmo app (in the QR code frame) approves or cancels
SIMULATED_APP_PATH = "/venmo-sandbox/payment-contexts/<context_id>"
VENMO_NONCE = "fake-venmo-account-nonce"
#: the Venmo user of braintree_python's ``VenmoAccount`` nonce (wallet_nonces.py)
VENMO_USERNAME = "venmojoe"
VENMO_PROFILE_ID = "crm-pay-sandbox-venmo-profile"
CONTEXT_LIFETIME_SECONDS = 300
_USAGES = ("SINGLE_USE", "MULTI_USE")
_CLIENTS = ("DESKTOP", "MOBILE_WEB", "NATIVE_WEB")
# the operations of venmo/external/queries.js this sandbox answers (the non-legacy ones)
_CREATE = re.compile(r"\bcreateVenmoPaymentContext\s*\(")
_UPDATE = re.compile(r"\bupdateVenmoPaymentContextStatus\s*\(")
_NODE = re.compile(r"\bnode\s*\(\s*id\s*:.*\.\.\.\s*on\s+VenmoPaymentContext\b", re.S)
# what the Venmo app may do to a context, and what the merchant's page may (cancel)
_APP_MOVES = {"CREATED": ("SCANNED", "CANCELED"), "SCANNED": ("APPROVED", "CANCELED")}
_PAGE_MOVES = {"CREATED": ("CANCELED", "EXPIRED"), "SCANNED": ("CANCELED", "EXPIRED")}


def venmo_configuration() -> dict[str, Any]:
    """The gateway configuration's Venmo keys (see the module docstring)."""
    return {
        "payWithVenmo": {
            "merchantId": VENMO_PROFILE_ID,
            # the shape of Braintree's sandbox Venmo access token; not a secret
            "accessToken": "access_token$sandbox$crm-pay-development-sandbox",  # noqa: S105
            "environment": "sandbox",
            "enrichedCustomerDataEnabled": False,
        },
        "graphQL": {"url": GRAPHQL_URL, "features": []},
    }


@dataclass
class _Context:
    id: str
    usage: str
    client: str
    created_at: datetime
    expires_at: datetime
    status: str = "CREATED"

    def node(self) -> dict[str, Any]:
        approved = self.status == "APPROVED"
        payer = {
            "firstName": None,
            "lastName": None,
            "phoneNumber": None,
            "email": None,
            "externalId": "1234567891234567891",  # braintree_python's venmo_user_id
            "userName": VENMO_USERNAME,
            "billingAddress": None,
            "shippingAddress": None,
        }
        return {
            "status": self.status,
            "paymentMethodId": VENMO_NONCE if approved else None,
            "userName": VENMO_USERNAME if approved else None,
            "payerInfo": payer if approved else None,
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _graphql_error(message: str, error_class: str, path: list[str] | None = None) -> Response:
    error: dict[str, Any] = {
        "message": message,
        "extensions": {"errorClass": error_class, "errorType": "user_error"},
    }
    if path:
        error["path"] = path
    body = {"errors": [error], "data": None, "extensions": {"requestId": secrets.token_hex(8)}}
    return jsonify(body)


def _data(data: dict[str, Any]) -> Response:
    return jsonify({"data": data, "extensions": {"requestId": secrets.token_hex(8)}})


def _static(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def register_venmo_routes(
    app: Flask, *, merchant_id: str, private_key: str, frame_ancestors: str = "*"
) -> None:
    """Add Braintree's GraphQL endpoint (its Venmo payment contexts), the QR code frame
    and the simulated Venmo app's endpoint to the assets app."""
    contexts: dict[str, _Context] = {}
    lock = threading.Lock()
    frame_page = _static("venmo-desktop-frame.html")
    frame_js = _static("venmo-desktop-frame.js")
    frame_css = _static("venmo-desktop-frame.css")

    @app.get("/web/<version>/html/venmo-desktop-frame.html")
    def venmo_desktop_frame(version: str) -> Response:
        response = Response(
            frame_page.replace("{{version}}", version), content_type="text/html; charset=utf-8"
        )
        # embeddable on the merchant's page; it talks only to the sandbox (the app's
        # endpoint on this origin) and braintree-web's parent page
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            f"frame-ancestors {frame_ancestors}; base-uri 'none'; form-action 'none'"
        )
        return response

    @app.get("/web/<version>/js/venmo-desktop-frame.js")
    def venmo_desktop_frame_js(version: str) -> Response:
        return Response(frame_js, content_type="text/javascript; charset=utf-8")

    @app.get("/web/<version>/css/venmo-desktop-frame.css")
    def venmo_desktop_frame_css(version: str) -> Response:
        return Response(frame_css, content_type="text/css; charset=utf-8")

    def cors(answer: Response) -> Response:
        answer.headers["Access-Control-Allow-Origin"] = "*"
        answer.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        asked = request.headers.get("Access-Control-Request-Headers")
        answer.headers["Access-Control-Allow-Headers"] = asked or "Content-Type"
        answer.headers["Access-Control-Max-Age"] = "600"
        return answer

    def current(context_id: object) -> _Context | None:
        found = contexts.get(str(context_id or ""))
        if found is None:
            return None
        if found.status in _PAGE_MOVES and datetime.now(UTC) > found.expires_at:
            found.status = "EXPIRED"  # braintree-web reads EXPIRED as the end of the flow
        return found

    def create(variables: dict[str, Any]) -> Response:
        given = variables.get("input")
        if not isinstance(given, dict):
            return _graphql_error("Variable 'input' is required.", "VALIDATION")
        usage = str(given.get("paymentMethodUsage") or "")
        client = str(given.get("customerClient") or "")
        if usage not in _USAGES:
            return _graphql_error(
                "paymentMethodUsage must be SINGLE_USE or MULTI_USE.",
                "VALIDATION",
                ["createVenmoPaymentContext"],
            )
        if client not in _CLIENTS or given.get("intent") not in ("CONTINUE", "PAY_FROM_APP"):
            return _graphql_error(
                "customerClient and intent are not valid.",
                "VALIDATION",
                ["createVenmoPaymentContext"],
            )
        # the desktop flow names the profile it was configured with (venmo.js l. 138)
        if given.get("merchantProfileId") not in (None, VENMO_PROFILE_ID):
            return _graphql_error(
                "merchantProfileId is not a Venmo profile of this merchant.",
                "VALIDATION",
                ["createVenmoPaymentContext"],
            )
        now = datetime.now(UTC)
        raw = f"VenmoPaymentContext:{secrets.token_hex(12)}"
        context = _Context(
            id=base64.b64encode(raw.encode()).decode("ascii"),  # a GraphQL global id
            usage=usage,
            client=client,
            created_at=now,
            expires_at=now + timedelta(seconds=CONTEXT_LIFETIME_SECONDS),
        )
        with lock:
            contexts[context.id] = context
        payload = {
            "clientMutationId": given.get("clientMutationId"),
            "venmoPaymentContext": {
                "id": context.id,
                "merchantId": VENMO_PROFILE_ID,
                "createdAt": _iso(context.created_at),
                "expiresAt": _iso(context.expires_at),
            },
        }
        return _data({"createVenmoPaymentContext": payload})

    def update(variables: dict[str, Any]) -> Response:
        given = variables.get("input")
        given = given if isinstance(given, dict) else {}
        with lock:
            context = current(given.get("id"))
            if context is None:
                return _graphql_error(
                    "An object with this ID was not found.",
                    "NOT_FOUND",
                    ["updateVenmoPaymentContextStatus"],
                )
            wanted = given.get("status")
            if wanted != context.status and wanted not in _PAGE_MOVES.get(context.status, ()):
                return _graphql_error(
                    f"The payment context is {context.status}; it cannot become {wanted}.",
                    "VALIDATION",
                    ["updateVenmoPaymentContextStatus"],
                )
            context.status = str(wanted)
        return _data(
            {"updateVenmoPaymentContextStatus": {"clientMutationId": given.get("clientMutationId")}}
        )

    def node(variables: dict[str, Any]) -> Response:
        with lock:
            context = current(variables.get("id"))
            found = context.node() if context is not None else None
        return _data({"node": found})

    @app.route(GRAPHQL_PATH, methods=["POST", "OPTIONS"])
    def graphql() -> Response:
        if request.method == "OPTIONS":
            return cors(Response(status=204))
        return cors(_graphql_answer())

    def _graphql_answer() -> Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not fingerprint_is_valid(token, merchant_id, private_key):
            return _graphql_error("Authentication credentials are invalid.", "AUTHENTICATION")
        if not request.headers.get("Braintree-Version"):
            return _graphql_error("Braintree-Version header is required.", "VALIDATION")
        body: Any = request.get_json(silent=True)
        query = body.get("query") if isinstance(body, dict) else None
        variables = body.get("variables") if isinstance(body, dict) else None
        if not isinstance(query, str) or not isinstance(variables or {}, dict):
            return _graphql_error('Send {"query": ..., "variables": {...}} as JSON.', "VALIDATION")
        given: dict[str, Any] = variables or {}
        if _CREATE.search(query):
            return create(given)
        if _UPDATE.search(query):
            return update(given)
        if _NODE.search(query):
            return node(given)
        return _graphql_error(
            "The crm-pay development sandbox answers only braintree-web's Venmo payment "
            "context operations (createVenmoPaymentContext, updateVenmoPaymentContextStatus, "
            "node on VenmoPaymentContext).",
            "VALIDATION",
        )

    @app.post(SIMULATED_APP_PATH)
    def simulated_app(context_id: str) -> Any:
        # What the Venmo app does when the customer scans the code (SCANNED) and then
        # approves (APPROVED) or declines (CANCELED); the context id is the capability.
        data: Any = request.get_json(silent=True)
        wanted = data.get("status") if isinstance(data, dict) else None
        with lock:
            context = current(context_id)
            if context is None:
                return jsonify({"error": {"message": "no such payment context"}}), 404
            if wanted not in _APP_MOVES.get(context.status, ()):
                message = f"the payment context is {context.status}; it cannot become {wanted}"
                return jsonify({"error": {"message": message}}), 409
            context.status = str(wanted)
            return jsonify({"status": context.status})
