"""``crm-pay demo``: the embedded default on one machine, zero setup.

SQLite in the instance folder, the Braintree development sandbox as PSP, the builtin CRM
with demo customers, the outbox dispatcher and janitor as threads. Demo mode only:
demo users get fixed passwords printed on the console.

Keypad payments run against the Twilio development stand-in
(:mod:`connectors.telephony.twilio_sandbox`), started beside the Braintree sandbox: it
vaults the keyed card in that sandbox as Twilio's Braintree Pay Connector does
(``keypad_tokenizer``), posts its status callbacks to the URL crm-pay gives each capture
and its TaskRouter events to ``{prefix}/telephony/twilio/taskrouter``, and serves the
virtual phone (``/_sandbox/phone``) on which the demo's user plays the caller.

The pay page's client is the sandbox's stand-in by default. ``--braintree-web`` runs
braintree-web itself (the ``bundled`` copy, as production serves it, wallets included):
braintree-web talks only to Braintree's https hosts, so a TLS front on loopback
(:mod:`connectors.psp.braintree_sandbox.https_front`) answers them with the sandbox, and
the banner prints the chromium command (its own profile, those hosts resolved to the
front) to open the demo in.

A new instance also gets a sample history (:mod:`crm_pay.demo_history`) unless
``--no-sample-data`` says otherwise: it is written by an app of its own whose background
workers are not running (the janitor would otherwise answer the story's PSP faults and
checks at the real time), served meanwhile for the sandbox's webhooks only, before the
app that serves the demo is created.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import socket
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server, run_simple

from connectors.crm import DEMO_CARD_TOKENS
from connectors.psp.braintree_sandbox import SandboxConfig, SandboxServer
from connectors.psp.braintree_sandbox.https_front import BraintreeHostsFront
from connectors.psp.braintree_sandbox.keypad_cards import keypad_tokenizer
from connectors.telephony.twilio_sandbox import TwilioSandboxConfig, TwilioSandboxServer
from crm_pay.app import create_app
from crm_pay.config import CrmPayConfig, environment_settings
from crm_pay.current import get_context
from crm_pay.demo_history import history_context, seed_history
from crm_pay.domain.errors import Conflict
from crm_pay.logging_filters import LinkTokenFilter
from crm_pay.services.access import create_api_key, create_user, list_users
from crm_pay.services.context import Context
from crm_pay.services.secrets import get_secret, put_secret
from vault import redact

log = logging.getLogger("crm_pay.demo")

__all__ = [
    "start_sandbox",
    "start_telephony",
    "demo_config",
    "prepare_demo",
    "prepare_accounts",
    "seed_sample_data",
    "run_demo",
    "DemoRequestHandler",
    "DEMO_USERS",
    "SANDBOX_CREDENTIALS",
    "TELEPHONY_CREDENTIALS",
]

SANDBOX_CREDENTIALS = {
    "merchant_id": "crm_pay_demo",
    "public_key": "demo_public_key",
    "private_key": "demo_private_key",
}

#: The Twilio stand-in's account: the SID in the settings, the auth token in the vault.
TELEPHONY_CREDENTIALS = {
    "account_sid": TwilioSandboxConfig.account_sid,
    "auth_token": TwilioSandboxConfig.auth_token,
}
#: The Pay Connector the stand-in plays (Twilio's Braintree Pay Connector).
TELEPHONY_PAY_CONNECTOR = "braintree_connector"

DEMO_USERS = (
    ("agent@example.com", "agent", "demo-agent-pass"),
    ("supervisor@example.com", "supervisor", "demo-supervisor-pass"),
    ("admin@example.com", "admin", "demo-admin-pass"),
)


class DemoRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler with a ``Server`` header that names no versions.

    http.server's ``send_response`` always sends ``Server: <version_string()>``
    (werkzeug's is ``Werkzeug/x Python/y``) and an application cannot remove it, so the
    server is where it is fixed. Its request lines (werkzeug's own, on the ``werkzeug``
    logger) are redacted here, by the server crm-pay starts, not by filters ``init_app``
    would put on a logger the host application owns: link tokens of the app's URL prefix
    and card numbers become placeholders."""

    def version_string(self) -> str:
        return "crm-pay"

    def log(self, type: str, message: str, *args: Any) -> None:
        app = getattr(self.server, "app", None)
        prefix = getattr(app, "config", {}).get("CRM_PAY_URL_PREFIX", "")
        line = message % args if args else message
        super().log(type, "%s", redact(LinkTokenFilter(prefix).redact(line)))


class _Sandbox(SandboxServer):
    def serve_forever(self) -> None:
        threading.Event().wait()


def start_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 8830,
    assets_port: int = 8831,
    webhook_url: str | None = None,
    state_path: str | None = None,
    auto_settle_seconds: float | None = None,
) -> _Sandbox:
    server = _Sandbox(
        SandboxConfig(
            host=host,
            port=port,
            assets_port=assets_port,
            webhook_url=webhook_url,
            state_path=state_path,
            auto_settle_seconds=auto_settle_seconds,
            merchant_id=SANDBOX_CREDENTIALS["merchant_id"],
            public_key=SANDBOX_CREDENTIALS["public_key"],
            private_key=SANDBOX_CREDENTIALS["private_key"],
        )
    )
    server.start()
    for token, card in DEMO_CARD_TOKENS.items():
        server.register_payment_method(token, card)
    return server


def start_telephony(
    braintree: SandboxServer, *, host: str = "127.0.0.1", port: int = 8840, public_url: str
) -> TwilioSandboxServer:
    """The Twilio stand-in on ``port`` (a free one when it is taken), vaulting keyed
    cards in ``braintree`` and telling the demo app (``public_url``) of placed calls."""
    taskrouter = f"{public_url}{_prefix()}/telephony/twilio/taskrouter"

    def server(on_port: int) -> TwilioSandboxServer:
        return TwilioSandboxServer(
            TwilioSandboxConfig(
                account_sid=TELEPHONY_CREDENTIALS["account_sid"],
                auth_token=TELEPHONY_CREDENTIALS["auth_token"],
                host=host,
                port=on_port,
                tokenizer=keypad_tokenizer(braintree),
                taskrouter_callback=taskrouter,
                default_agent=DEMO_USERS[0][0],
            )
        )

    if port and not _port_free(host, port):
        # werkzeug's make_server exits the process on a taken port rather than raising
        log.info("port %d is taken: the telephony stand-in takes a free one", port)
        port = 0
    return server(port).start()


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def demo_config(
    *,
    host: str,
    port: int,
    sandbox_url: str,
    assets_url: str,
    telephony_url: str | None = None,
) -> dict[str, Any]:
    """The demo app's settings; with ``telephony_url`` (the Twilio stand-in's base URL),
    keypad payments through it."""
    # Satisfaction surveys are on in the demo unless the environment says otherwise.
    surveys = {} if "CRM_PAY_CSAT" in environment_settings() else {"CRM_PAY_CSAT": True}
    telephony = (
        {
            "CRM_PAY_TWILIO_ACCOUNT_SID": TELEPHONY_CREDENTIALS["account_sid"],
            "CRM_PAY_TWILIO_BASE_URL": telephony_url,
            "CRM_PAY_TWILIO_PAY_CONNECTOR": TELEPHONY_PAY_CONNECTOR,
        }
        if telephony_url
        else {}
    )
    return {
        **surveys,
        **telephony,
        "CRM_PAY_PUBLIC_URL": f"http://{host}:{port}",
        "CRM_PAY_BRAINTREE_ENVIRONMENT": "local",
        "CRM_PAY_BRAINTREE_GATEWAY_URL": sandbox_url,
        "CRM_PAY_BRAINTREE_ASSETS_URL": assets_url,
        "CRM_PAY_BRAINTREE_MERCHANT_ID": SANDBOX_CREDENTIALS["merchant_id"],
        "CRM_PAY_BRAINTREE_PUBLIC_KEY": SANDBOX_CREDENTIALS["public_key"],
        "CRM_PAY_BACKGROUND_WORKERS": True,
        "CRM_PAY_AUTO_MIGRATE": True,
        "CRM_PAY_DEMO": True,
        "CRM_PAY_DEV_SECRETS": True,
        # the demo serves plain http on any host; production keeps secure cookies
        "CRM_PAY_SECURE_COOKIES": False,
    }


def prepare_accounts(ctx: Context) -> None:
    """The sandboxes' secrets (Braintree's private key, the Twilio stand-in's auth token,
    in the vault) and the demo users. Idempotent."""
    if get_secret(ctx, "psp.braintree.private_key") is None:
        put_secret(
            ctx, "psp.braintree.private_key", SANDBOX_CREDENTIALS["private_key"], actor="demo"
        )
    if get_secret(ctx, "telephony.twilio.auth_token") is None:
        put_secret(
            ctx, "telephony.twilio.auth_token", TELEPHONY_CREDENTIALS["auth_token"], actor="demo"
        )
    for email, role, password in DEMO_USERS:
        with contextlib.suppress(Conflict):  # already seeded by an earlier run
            create_user(ctx, email=email, role=role, password=password)


def prepare_demo(app: Any) -> str:
    """Seed users, the sandbox's private key (in the vault) and an API key. Idempotent
    except for the API key: every run prints a fresh one."""
    ctx = get_context(app)
    prepare_accounts(ctx)
    return create_api_key(ctx, name="demo", role="supervisor")


@contextlib.contextmanager
def _webhooks_served(app: Any, host: str, port: int) -> Iterator[None]:
    """Serve ``app`` on the demo's address for the PSP's webhooks only while the block
    runs; anything else is told the demo is starting (503), so nobody signs in to a
    half-written history and health checks wait for the real server."""
    hook = f"{get_context(app).config.prefix}/webhooks/"

    def starting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if str(environ.get("PATH_INFO", "")).startswith(hook):
            return app(environ, start_response)  # type: ignore[no-any-return]
        start_response("503 Service Unavailable", [("Retry-After", "2")])
        return [b"crm-pay demo is starting: writing its sample history\n"]

    server = make_server(host, port, starting, threaded=True, request_handler=DemoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, name="demo-seeding", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def seed_sample_data(
    settings: dict[str, Any], *, instance: str, sandbox: Any, host: str, port: int
) -> str | None:
    """Write the sample history into a new instance (one without users yet) and return
    its summary line; None when the instance was prepared before (a restart adds
    nothing)."""
    app = create_app({**settings, "CRM_PAY_BACKGROUND_WORKERS": False}, instance_path=instance)
    ctx = get_context(app)
    try:
        if list_users(ctx):
            return None
        story_ctx, clock, at = history_context(ctx)
        prepare_accounts(story_ctx)  # the users exist from the story's first morning
        with _webhooks_served(app, host, port):
            made = seed_history(story_ctx, clock, at, sandbox)
        return made.line()
    finally:
        ctx.db.engine.dispose()


def _prefix() -> str:
    """The URL prefix the app will use (the demo's sandbox must post webhooks there)."""
    return CrmPayConfig.from_mapping(environment_settings()).prefix


def _braintree_web_lines(front: BraintreeHostsFront, host: str, console: str) -> list[str]:
    """How to open the demo in a browser that runs braintree-web against the sandbox."""
    profile = Path(tempfile.gettempdir()) / "crm-pay-demo-chromium"
    command = shlex.join(
        [
            "chromium",
            f"--user-data-dir={profile}",
            *front.chromium_arguments(host),
            console,
        ]
    )
    return [
        "",
        "  Pay page client: braintree-web (Braintree's own, as in production). It talks only",
        "  to Braintree's https hosts; here they are answered by the sandbox through",
        f"  https://127.0.0.1:{front.port} (a development tool: certificate checks off). Open",
        "  the demo in a chromium of its own (other names do not resolve in it):",
        f"    {command}",
    ]


def run_demo(
    *,
    host: str,
    port: int,
    sandbox_port: int,
    instance: str,
    serve: bool,
    echo: Callable[[str], Any],
    sample_data: bool = True,
    telephony_port: int = 8840,
    braintree_web: bool = False,
) -> None:
    Path(instance).mkdir(parents=True, exist_ok=True)
    public = f"http://{host}:{port}"
    sandbox = start_sandbox(
        host="127.0.0.1",
        port=sandbox_port,
        # the hosted-fields origin on the next port; 0 (any free port) for both
        assets_port=sandbox_port + 1 if sandbox_port else 0,
        webhook_url=f"{public}{_prefix()}/webhooks/braintree",
        state_path=str(Path(instance) / "sandbox-state.json"),
        # Settle like Braintree's nightly batch, but within a minute, so the demo shows
        # the settlement webhook arriving and the payment moving to "settled".
        auto_settle_seconds=30.0,
    )
    telephony = start_telephony(sandbox, port=telephony_port, public_url=public)
    settings = demo_config(
        host=host,
        port=port,
        sandbox_url=sandbox.gateway_url,
        assets_url=sandbox.assets_url,
        telephony_url=telephony.base_url,
    )
    front = None
    if braintree_web:
        # The pay page runs braintree-web itself, as with Braintree's sandbox and in
        # production; its requests to Braintree's hosts reach this sandbox through a
        # TLS front that a browser started with the printed arguments resolves them to.
        settings["CRM_PAY_BRAINTREE_JS_SOURCE"] = "bundled"
        front = BraintreeHostsFront(sandbox.assets_url).start()

    def stop_sandboxes() -> None:
        if front is not None:
            front.stop()
        telephony.stop()
        sandbox.stop()

    seeded = None
    if sample_data:
        try:
            seeded = seed_sample_data(
                settings, instance=instance, sandbox=sandbox, host=host, port=port
            )
        except OSError:  # the demo's port is taken: say so as the server would
            stop_sandboxes()
            raise
        except Exception as exc:  # noqa: BLE001 - the demo still runs, without the history
            log.exception("the sample history could not be written")
            seeded = (
                f"The sample history could not be written ({type(exc).__name__}); the demo "
                "runs without it. Start with a new --instance folder to try again."
            )
    app = create_app(settings, instance_path=instance)
    api_key = prepare_demo(app)
    prefix = get_context(app).config.prefix
    lines = [
        "",
        "crm-pay demo is running (embedded default: SQLite, Braintree development sandbox,",
        "builtin CRM with demo customers). Test cards only, e.g. 4111 1111 1111 1111.",
        "",
        f"  Agent console   {public}{prefix}/agent/",
        f"  Supervisor      {public}{prefix}/supervisor/   (cases; reconciliation: "
        f"{prefix}/supervisor/reconciliation)",
        f"  Dashboard       {public}{prefix}/dashboard/",
        f"  Admin console   {public}{prefix}/admin/",
        f"  Demo mailbox    {public}{prefix}/demo/mailbox",
        f"  API             {public}{prefix}/api/v1   (OpenAPI: {prefix}/api/v1/openapi.json)",
        f"  Health          {public}{prefix}/healthz",
        f"  Live status     {public}{prefix}/socket.io (Socket.IO, namespace /live)",
        f"  Sandbox         {sandbox.gateway_url} (gateway), {sandbox.assets_url} (hosted fields)",
        f"  Virtual phone   {telephony.phone_url}   (Twilio stand-in: place a call, key the card)",
        f"  Instance folder {instance}",
        *(_braintree_web_lines(front, host, f"{public}{prefix}/agent/") if front else []),
        *(["", f"  {seeded}"] if seeded else []),
        "",
        "  Demo users (demo mode only):",
        *(f"    {email:<24} {role:<11} password: {pw}" for email, role, pw in DEMO_USERS),
        "  The supervisor and admin set up an authenticator app (TOTP) at their first",
        "  sign-in (CRM_PAY_MFA_REQUIRED_ROLES); the page also shows the key as text.",
        "",
        f'  Try:  curl -H "Authorization: Bearer $KEY" {public}{prefix}/api/v1/customers/CUST-0001',
        "",
        "  Demo API key (supervisor):",
        api_key,
    ]
    for line in lines:
        echo(line)
    if not serve:
        stop_sandboxes()
        return
    try:
        # The Socket.IO server wraps app.wsgi_app (agent_ui.live_socket), so this threaded server
        # also speaks Socket.IO: long-polling, and WebSocket through simple-websocket.
        # (Not socketio.run(): it goes through app.run(), which does nothing under the
        # `flask` command, i.e. `flask crm-pay demo`.) Ctrl+C ends serve_forever cleanly.
        run_simple(
            host,
            port,
            app,
            threaded=True,
            use_reloader=False,
            request_handler=DemoRequestHandler,
        )
    finally:
        workers = get_context(app).workers
        if workers is not None:
            workers.stop()
        stop_sandboxes()
