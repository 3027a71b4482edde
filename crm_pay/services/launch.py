"""Opening the agent console from inside a CRM: which customer a launch asks for, and
whether the launch is genuine.

Three ways in, each authenticated by its own signature (the agent still signs in to
crm-pay; a launch only says *where* to land):

- **Salesforce Canvas**: a ``signed_request`` HMAC-SHA256-signed with the connected
  app's consumer secret (:mod:`vault.canvas`); the record id comes from the context.
- **HubSpot CRM card**: a request signed with HubSpot's v3 signature and the app's client
  secret; the record is ``associatedObjectId``. The verifier is a connector function the
  wiring code puts in ``ctx.launch_verifiers["hubspot"]``.
- **Signed launch link** for any other CRM: a :func:`vault.tokens.sign` token carrying
  the customer's CRM id (and optionally the agent it is for), expiring in minutes.

Errors say what is wrong in general terms (forged, expired, not set up) and never echo
what a request carried: a Canvas context holds a live Salesforce OAuth token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from crm_pay.config import CrmPayConfig
from crm_pay.domain.errors import ConfigurationError, Forbidden, Gone, ValidationError
from vault.canvas import CanvasRequestInvalid, canvas_record_id, verify_canvas_request
from vault.errors import TokenExpired, TokenInvalid
from vault.tokens import sign, verify

from .context import Context
from .secrets import get_secret

__all__ = [
    "LaunchConfig",
    "LaunchTarget",
    "LaunchRefused",
    "LaunchExpired",
    "LaunchLinkInvalid",
    "launch_link",
    "open_launch_link",
    "open_canvas_launch",
    "open_hubspot_launch",
    "CANVAS_SECRET_NAME",
    "HUBSPOT_SECRET_NAME",
]

log = logging.getLogger("crm_pay.launch")

CANVAS_SECRET_NAME = "canvas.consumer_secret"  # noqa: S105 - a vault entry name
HUBSPOT_SECRET_NAME = "hubspot.client_secret"  # noqa: S105 - a vault entry name
_LINK_KEY_LABEL = b"crm-pay/launch-link/v1"
_CRM_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}")
# Twilio's Call SID (its API reference: "CA" and 32 hex digits), as services.calls checks it
_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
_MAX_LINK_MINUTES = 24 * 60


class LaunchRefused(Forbidden):
    """The launch is not signed by the CRM we trust (or is too old to trust)."""

    code = "launch_refused"


class LaunchExpired(Gone):
    """A genuine launch link whose time is up."""

    code = "launch_expired"


class LaunchLinkInvalid(ValidationError):
    """A launch link that is malformed or was not made by this installation."""

    code = "launch_link_invalid"
    status = 400


@dataclass(frozen=True)
class LaunchConfig:
    """The launch settings of one app (``CRM_PAY_*`` keys, read by the web layer).

    A secret left None is read from the vault (:data:`CANVAS_SECRET_NAME`,
    :data:`HUBSPOT_SECRET_NAME`); the link secret falls back to the token pepper."""

    canvas_secret: str | None = None
    canvas_max_age: float = 900
    canvas_parameter: str = "recordId"
    hubspot_client_secret: str | None = None
    hubspot_tolerance: float = 300
    link_secret: str | None = None

    @classmethod
    def from_config(cls, config: CrmPayConfig) -> LaunchConfig:
        """The ``CRM_PAY_SALESFORCE_CANVAS_*``, ``CRM_PAY_HUBSPOT_CLIENT_SECRET`` and
        ``CRM_PAY_LAUNCH_SECRET`` settings of an app's parsed configuration."""
        return cls(
            canvas_secret=config.salesforce_canvas_secret or None,
            canvas_max_age=float(config.salesforce_canvas_max_age or 0),
            canvas_parameter=config.salesforce_canvas_parameter or "recordId",
            hubspot_client_secret=config.hubspot_client_secret or None,
            link_secret=config.launch_secret or None,
        )


@dataclass(frozen=True)
class LaunchTarget:
    """Where a launch lands: a customer, and (links only) the agent it was made for."""

    crm_ref: str
    source: str  # "salesforce" | "hubspot" | "link"
    agent: str | None = None
    call_sid: str | None = None  # links only: the call the agent is on (keypad payments)


def _crm_ref(value: object, source: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _CRM_REF.fullmatch(value.strip()):
        log.warning("%s launch without a usable record id", source)
        raise ValidationError(
            "The CRM did not say which customer to open. Open the app from a customer "
            "record, or search for the customer in the console."
        )
    return value.strip()


def _link_key(ctx: Context, config: LaunchConfig) -> bytes:
    # A key of its own, derived so that a launch token can never pass for another kind of
    # signed token (receipt links) made with the same base secret.
    base = config.link_secret.encode() if config.link_secret else ctx.settings.token_pepper
    if not base:
        raise ConfigurationError(
            "launch links need CRM_PAY_LAUNCH_SECRET or the token pepper (CRM_PAY_TOKEN_PEPPER)"
        )
    return hmac.new(base, _LINK_KEY_LABEL, hashlib.sha256).digest()


def launch_link(
    ctx: Context,
    crm_ref: str,
    *,
    config: LaunchConfig,
    minutes: int = 5,
    agent: str | None = None,
    call_sid: str | None = None,
) -> str:
    """A signed URL that opens the console on ``crm_ref``, valid for ``minutes``.

    ``agent`` (an email) restricts it to that signed-in agent; ``call_sid`` (Twilio's
    Call SID of the call the agent is on) is offered for a keypad payment. The link
    carries no secret: it says where to land, and whoever opens it still signs in."""
    ref = _crm_ref(crm_ref, "link")
    if not 1 <= minutes <= _MAX_LINK_MINUTES:
        raise ValidationError(f"minutes must be between 1 and {_MAX_LINK_MINUTES}")
    payload: dict[str, Any] = {"crm_ref": ref}
    if agent:
        payload["agent"] = agent.strip().lower()
    if call_sid:
        if not _CALL_SID.fullmatch(call_sid.strip()):
            raise ValidationError(
                # not echoed: whatever was pasted there is not ours to repeat
                "that is not a Call SID: Twilio's start with CA and 32 hex digits",
                code="invalid_call_sid",
            )
        payload["call_sid"] = call_sid.strip()
    token = sign(payload, key=_link_key(ctx, config), expires_in=minutes * 60, now=ctx.now())
    base = ctx.settings.public_url.rstrip("/") + ctx.settings.url_prefix
    return f"{base}/agent/launch/link?t={quote(token, safe='')}"


def open_launch_link(ctx: Context, token: str, *, config: LaunchConfig) -> LaunchTarget:
    """The target of a launch link made by :func:`launch_link`.

    Raises :class:`LaunchLinkInvalid` (400) for a forged or mangled link and
    :class:`LaunchExpired` (410) for a genuine one past its time."""
    try:
        payload = verify(token or "", key=_link_key(ctx, config), now=ctx.now())
    except TokenExpired:
        raise LaunchExpired(
            "This launch link has expired. Open the customer from the CRM again."
        ) from None
    except TokenInvalid:
        log.warning("launch link refused: not signed by this installation")
        raise LaunchLinkInvalid(
            "This launch link is not valid. Open the customer from the CRM again, or "
            "search for them in the console."
        ) from None
    agent, call_sid = payload.get("agent"), payload.get("call_sid")
    return LaunchTarget(
        _crm_ref(payload.get("crm_ref"), "link"),
        "link",
        agent if isinstance(agent, str) and agent else None,
        call_sid if isinstance(call_sid, str) and _CALL_SID.fullmatch(call_sid) else None,
    )


def _secret(ctx: Context, configured: str | None, vault_name: str) -> str | None:
    return configured or get_secret(ctx, vault_name)


def open_canvas_launch(ctx: Context, signed_request: str, *, config: LaunchConfig) -> LaunchTarget:
    """The customer a Salesforce Canvas signed request opens the app on."""
    secret = _secret(ctx, config.canvas_secret, CANVAS_SECRET_NAME)
    if not secret:
        raise ConfigurationError(
            "Opening crm-pay from Salesforce is not set up: the admin sets "
            "CRM_PAY_SALESFORCE_CANVAS_SECRET or stores the consumer secret in the vault."
        )
    try:
        envelope = verify_canvas_request(
            signed_request, secret, now=ctx.now().timestamp(), max_age=config.canvas_max_age
        )
    except CanvasRequestInvalid as exc:
        log.warning("Salesforce Canvas launch refused: %s", exc.message)
        raise LaunchRefused(
            "This request did not come from our Salesforce app, or it is too old. Reload "
            "the Salesforce page to try again."
        ) from None
    return LaunchTarget(
        _crm_ref(canvas_record_id(envelope, parameter=config.canvas_parameter), "salesforce"),
        "salesforce",
    )


def open_hubspot_launch(
    ctx: Context,
    *,
    method: str,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    config: LaunchConfig,
) -> LaunchTarget:
    """The customer a HubSpot CRM card request opens, once its v3 signature checks out.

    ``url`` is the full public URL HubSpot called (scheme, host, path and query)."""
    verifier = ctx.launch_verifiers.get("hubspot")
    secret = _secret(ctx, config.hubspot_client_secret, HUBSPOT_SECRET_NAME)
    if verifier is None or not secret:
        raise ConfigurationError(
            "Opening crm-pay from HubSpot is not set up: the admin sets "
            "CRM_PAY_HUBSPOT_CLIENT_SECRET or stores the app's client secret in the vault."
        )
    ok = verifier(
        method,
        url,
        body,
        headers.get("X-HubSpot-Request-Timestamp", ""),
        headers.get("X-HubSpot-Signature-v3", ""),
        secret,
        now=ctx.now().timestamp(),
        tolerance=config.hubspot_tolerance,
    )
    if not ok:
        log.warning("HubSpot launch refused: signature missing, wrong or outside its window")
        raise LaunchRefused(
            "This request did not come from our HubSpot app, or it is too old. Reload the "
            "HubSpot record to try again."
        )
    return LaunchTarget(_crm_ref(query.get("associatedObjectId"), "hubspot"), "hubspot")
