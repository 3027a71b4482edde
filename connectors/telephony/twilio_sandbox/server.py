"""Running the telephony stand-in: one local origin, callbacks from a background thread."""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .api_app import create_api_app
from .callbacks import CallbackDispatcher, Delivery
from .pay_session import Call, PaySession
from .switchboard import Switchboard, Tokenizer

log = logging.getLogger("crm_pay.telephony_sandbox")
_QUERY = re.compile(r"\?\S*")


@dataclass(frozen=True)
class TwilioSandboxConfig:
    """How to run the stand-in. Port 0 picks a free port.

    ``account_sid`` / ``auth_token``: the credentials the SDK must send, and the key the
    status callbacks are signed with. ``payment_connectors``: the Pay Connector unique
    names it knows (Twilio's default name is ``Default``). ``tokenizer``: makes the
    ``PaymentToken`` of a completed capture from the card's brand, BIN, last 4 and expiry
    (never the number); by default a stand-in token nobody else knows.
    ``taskrouter_callback``: the TaskRouter Workspace's Event Callback URL (crm-pay's
    ``{public_url}{prefix}/telephony/twilio/taskrouter``); a call placed with an agent
    sends ``reservation.accepted`` there. ``default_caller`` / ``default_agent``: what the
    virtual phone's Place a call form offers (crm-pay demo's first customer and agent)."""

    account_sid: str = "AC" + "0" * 31 + "1"
    auth_token: str = "telephony-sandbox-auth-token"  # noqa: S105 - a development credential
    host: str = "127.0.0.1"
    port: int = 0
    payment_connectors: tuple[str, ...] = ("Default", "braintree_connector")
    tokenizer: Tokenizer | None = field(default=None, compare=False)
    callback_timeout: float = 5.0
    taskrouter_callback: str | None = None
    default_caller: str = "+12125550101"
    default_agent: str = "agent@example.com"


class _QuietRequestHandler(WSGIRequestHandler):
    """Request log without query strings or bodies, on the stand-in's own logger."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        log.info("telephony stand-in: %s %s %s", self.command, path, code)

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
        text = _QUERY.sub("", message % args if args else message)
        level = logging.ERROR if type == "error" else logging.INFO
        log.log(level, "telephony stand-in: %s", text)


class TwilioSandboxServer:
    """A local stand-in for Twilio's agent-assisted Pay that the real ``twilio`` SDK talks
    to (``Client(...).api.base_url = server.base_url``).

    A development tool: it accepts only Braintree's test card numbers, keeps nothing of a
    card but its brand, BIN, last 4 and expiry, and moves no money. Use it as a context
    manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(self, config: TwilioSandboxConfig | None = None) -> None:
        self.config = config or TwilioSandboxConfig()
        self._dispatcher = CallbackDispatcher(
            self.config.auth_token, timeout=self.config.callback_timeout
        )
        self.switchboard = Switchboard(
            self.config.account_sid,
            send=self._dispatcher.submit,
            payment_connectors=self.config.payment_connectors,
            tokenizer=self.config.tokenizer,
            taskrouter_callback=self.config.taskrouter_callback,
        )
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> TwilioSandboxServer:
        """Serve from a background thread; returns at once."""
        if self._server is not None:
            raise RuntimeError("the telephony stand-in is already running")
        app = create_api_app(
            self.switchboard,
            auth_token=self.config.auth_token,
            default_caller=self.config.default_caller,
            default_agent=self.config.default_agent,
        )
        self._server = make_server(
            self.config.host,
            self.config.port,
            app,
            threaded=True,
            request_handler=_QuietRequestHandler,
        )
        self._dispatcher.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.1,), name="telephony-sandbox", daemon=True
        )
        self._thread.start()
        log.warning(
            "crm-pay development telephony stand-in (NOT Twilio, test cards only) started: %s",
            self.base_url,
        )
        return self

    def stop(self) -> None:
        """Stop serving, send the callbacks already made, release the port."""
        self.switchboard.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._dispatcher.stop()
        self._server = None
        self._thread = None
        log.info("crm-pay development telephony stand-in stopped")

    def __enter__(self) -> TwilioSandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What to give the SDK as its REST domain's ``base_url`` (the adapter's
        ``base_url``): ``http://127.0.0.1:{port}``."""
        if self._server is None:
            raise RuntimeError("start() the telephony stand-in first")
        return f"http://{self.config.host}:{self._server.server_port}"

    @property
    def phone_url(self) -> str:
        """The virtual phone's page (the calls, Place a call, each call's keypad)."""
        return f"{self.base_url}/_sandbox/phone"

    # -- the caller, for tests (the same as the /_sandbox API) -------------------------

    def place_call(
        self,
        caller: str = "+12125550101",
        called: str = "+12125550199",
        *,
        agent: str | None = None,
    ) -> Call:
        """A call in progress with an agent; its ``sid`` is what Payments are started on.
        With ``agent`` and a TaskRouter callback, TaskRouter's ``reservation.accepted``."""
        return self.switchboard.place_call(caller, called, agent=agent)

    def press(self, call_sid: str, keys: str) -> None:
        """The caller presses ``keys`` on the phone (``#`` ends a field, ``*`` ends Pay)."""
        self.switchboard.press(call_sid, keys)

    def hang_up(self, call_sid: str) -> None:
        self.switchboard.hang_up(call_sid)

    def payment(self, payment_sid: str) -> PaySession:
        return self.switchboard.session(payment_sid)

    # -- what was sent ---------------------------------------------------------------

    def wait_for_callbacks(self, timeout: float = 5.0) -> list[Delivery]:
        """Every callback sent so far (status callbacks, TaskRouter events), once those
        made are all attempted."""
        if not self._dispatcher.wait_idle(timeout):
            raise TimeoutError("status callbacks still being delivered")
        return self._dispatcher.deliveries
