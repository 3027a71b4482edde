"""Helpers of the browser tests (fixtures are in conftest.py): the ``crm-pay demo``
process, what the agent and the customer do, and the PAN scan."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from paytest import free_pair, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AGENT_VIEWPORT = {"width": 1280, "height": 720}
PHONE_VIEWPORT = {"width": 390, "height": 844}
AGENT = ("agent@example.com", "demo-agent-pass")
#: Demo settings for browser tests not about MFA (the demo requires it of supervisors
#: and admins, as production does): password-only sign-in. test_browser_mfa.py enrols.
NO_MFA = {"CRM_PAY_MFA_REQUIRED_ROLES": ""}
REPO = Path(__file__).resolve().parents[3]
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
MAX_SCREENSHOT_BYTES = 200 * 1024

# A customer whose name and invoice line try to run script (the XSS test's subject).
XSS_CUSTOMER = "CUST-XSS1"
XSS_INVOICE = "INV-XSS-1"
XSS_NAME = '<script>alert("xss-name")</script>Mallory <img src=x onerror=alert("xss-img")>'
XSS_LINE = "<script>alert('xss-line')</script>Garden hose <b onmouseover=alert(1)>25 m</b>"


# ----------------------------------------------------------------------------- the server


class _PortTaken(Exception):
    """The demo exited because a port it was given was taken meanwhile."""


@dataclass
class DemoServer:
    """``crm-pay demo`` in a subprocess; its whole output goes to ``log_path``."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    #: The demo's sample history (cases, disputes, reminders, receipts in the mailbox):
    #: off by default, as most tests count every row of their demo.
    sample_data: bool = False
    #: More ``crm-pay demo`` options (e.g. ``("--telephony-port", "0")``).
    args: tuple[str, ...] = ()
    base: str = ""
    sandbox_assets: str = ""
    proc: subprocess.Popen[bytes] | None = None
    ready_at: int = 0  # size of the log when the server answered its health check

    @property
    def instance(self) -> Path:
        return self.workdir / "instance"

    @property
    def log_path(self) -> Path:
        return self.workdir / "demo.log"

    @property
    def mailbox_path(self) -> Path:
        return self.instance / "mailbox"

    def start(self) -> DemoServer:
        """Start the demo on free ports; again on new ports when one was taken between
        choosing it and binding it (another xdist worker's socket can take it)."""
        for _attempt in range(3):
            try:
                return self._start_once()
            except _PortTaken:
                continue
        pytest.fail("crm-pay demo did not start: its ports were taken three times:\n" + self.log())

    def _start_once(self) -> DemoServer:
        exe = shutil.which("crm-pay", path=str(Path(sys.executable).parent))
        assert exe, "crm-pay console script is not installed in the virtualenv"
        port, sandbox_port = free_port(), free_pair()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_PAY_")}
        env.update(self.env)
        env["PYTHONUNBUFFERED"] = "1"
        self.base = f"http://127.0.0.1:{port}"
        self.sandbox_assets = f"http://127.0.0.1:{sandbox_port + 1}"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    exe,
                    "demo",
                    "--port",
                    str(port),
                    "--sandbox-port",
                    str(sandbox_port),
                    "--instance",
                    str(self.instance),
                    # the browser tests know every row of their demo (figures, queues)
                    *([] if self.sample_data else ["--no-sample-data"]),
                    # tests run side by side: each demo's Twilio stand-in on a free port
                    "--telephony-port",
                    "0",
                    *self.args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(f"{self.base}/pay/healthz", timeout=1).status_code == 200:
                    self.ready_at = self.log_path.stat().st_size
                    return self
            except requests.ConnectionError:
                time.sleep(0.2)
        self.stop()
        if "Address already in use" in self.log():
            raise _PortTaken
        pytest.fail("crm-pay demo did not start:\n" + self.log())

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_since_ready(self) -> str:
        """What the server logged while serving (its start-up banner left out: it names
        a published test card as an example of what to type)."""
        with self.log_path.open("rb") as log:
            log.seek(self.ready_at)
            return log.read().decode(errors="replace")

    # -- the file mailbox (what customers would have received) --
    def mailbox(self) -> Any:
        from connectors.messaging.file_mailbox import FileMailbox

        return FileMailbox(self.mailbox_path)

    def wait_for_email(self, match: Callable[[Any], bool], timeout: float = 15.0) -> Any:
        """The first stored email (parsed) ``match`` accepts, polling the mailbox."""
        deadline = time.monotonic() + timeout
        while True:
            if self.mailbox_path.exists():
                box = self.mailbox()
                for entry in box.list_messages():
                    found = box.read(entry.message_id)
                    if found is not None and match(found):
                        return found
            if time.monotonic() > deadline:
                subjects = (
                    [e.subject for e in self.mailbox().list_messages()]
                    if (self.mailbox_path.exists())
                    else []
                )
                pytest.fail(f"no matching email within {timeout}s; mailbox holds {subjects}")
            time.sleep(0.2)

    def pay_url_for(self, payment_id: str) -> str:
        email = self.wait_for_email(
            lambda m: m.entry.message_id.startswith(f"paylink.email.{payment_id}@")
        )
        urls = re.findall(r"https?://\S+/p/[A-Za-z0-9_-]+", email.text)
        assert urls, email.text
        return str(urls[0])


def seed_xss_customer(instance: Path) -> None:
    """The builtin CRM's file, created before the demo starts: the demo customers plus one
    whose name and invoice line carry markup that must never run."""
    from connectors.crm.builtin import BuiltinCrm
    from crm_pay.domain.money import Money
    from crm_pay.ports import CrmCustomer, CrmInvoice, CrmInvoiceLine

    instance.mkdir(parents=True, exist_ok=True)
    crm = BuiltinCrm(instance / "crm.json")
    crm.add_customer(
        CrmCustomer(XSS_CUSTOMER, XSS_NAME, email="mallory@example.com", phone="+12125550199")
    )
    crm.add_invoice(
        CrmInvoice(
            crm_ref=XSS_INVOICE,
            customer_ref=XSS_CUSTOMER,
            currency="USD",
            issued_on=date(2026, 2, 20),
            due_on=date(2026, 3, 22),
            lines=(CrmInvoiceLine(XSS_LINE, 1, Money(2_500, "USD"), Money(0, "USD")),),
            shipping=Money(0, "USD"),
        )
    )


# ----------------------------------------------------------------------------- the people


def sign_in(page: Any, base: str, target: str, user: tuple[str, str] = AGENT) -> None:
    """Open ``target`` (a console URL) as ``user`` (email, password; the demo agent by
    default); the console asks for sign-in, then returns there."""
    page.goto(f"{base}{target}")
    page.wait_for_selector("#login-form")
    page.fill("#email", user[0])
    page.fill("#password", user[1])
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**{target}")


def take_link_payment(
    page: Any,
    base: str,
    crm_ref: str,
    *,
    invoices: tuple[str, ...],
    amount: str = "",
    above_balance: bool = False,
) -> str:
    """On the customer's console page: tick invoices, maybe type an amount, send the pay
    link by email. ``above_balance``: the amount is more than the customer owes, so the
    console asks to confirm it first, and the agent does. Returns the new payment's id
    (the page is then the payment page)."""
    for number in invoices:
        page.check(f"#take-payment input[name=invoice][value='{number}']")
    if amount:
        page.fill("#amount", amount)
    page.check("#take-payment input[name=channel][value=email]")
    page.click("#take-payment button[type=submit]")
    if above_balance:
        page.check("#confirm-over_balance")
        page.check("#take-payment input[name=channel][value=email]")
        page.click("#take-payment button[type=submit]")
    page.wait_for_url("**/agent/payments/**")
    payment_id = page.get_attribute("#live-panel", "data-payment-id")
    assert payment_id
    page.wait_for_selector("#live-connection[data-state=live]")
    return str(payment_id)


def offer_wallets(demo: DemoServer, browser: Any, *wallets: str) -> Any:
    """The admin offers exactly ``wallets`` for the USD account (in a browser context of
    their own; the demo runs with :data:`NO_MFA`); returns the admin page."""
    context = browser.new_context(viewport=AGENT_VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(15_000)
    admin = context.new_page()
    sign_in(admin, demo.base, "/pay/admin/wallets/", ("admin@example.com", "demo-admin-pass"))
    form = admin.locator("#wallets-USD")
    for box in form.locator("input[name=wallet]").all():
        box.set_checked(box.get_attribute("value") in wallets)
    form.locator("button[type=submit]").click()
    admin.wait_for_selector("text=Saved: the USD account offers")
    return admin


def step(page: Any, name: str, state: str = "done") -> None:
    """Wait until the agent's live panel shows ``name`` in ``state``."""
    page.wait_for_selector(f'#live-panel li[data-step="{name}"][data-state="{state}"]')


def hosted_field(page: Any, name: str) -> Any:
    """The input inside one of the hosted-field iframes (the sandbox's frame, on its own
    origin; braintree-web names each frame after its field)."""
    return page.frame_locator(f'iframe[name="braintree-hosted-field-{name}"]').locator(
        "#field-input"
    )


# ----------------------------------------------------------------------------- axe-core

#: axe-core, pinned in package.json; ``make install`` copies it here (git-ignored). The
#: product never serves it: the tests inject it, in a context made with ``bypass_csp=True``.
AXE_SCRIPT = REPO / "agent_ui" / "static" / "vendor" / "axe.min.js"
#: WCAG 2.0, 2.1 and 2.2, levels A and AA: what docs/guides/accessibility.md promises.
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa")
_AXE_RUN = """async ([exclude, tags]) => {
    const result = await axe.run(exclude.length ? {exclude: exclude.map(s => [s])} : document,
        {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"], iframes: false});
    return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map(n => n.target.join(" "))}));
}"""


def accessibility_violations(page: Any, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """The serious and critical WCAG A/AA violations axe-core finds on ``page`` as it is
    now, in its frames too, one line each (rule, impact, where, help). ``exclude``: CSS
    selectors left out; an excluded iframe leaves out its whole document."""
    if not AXE_SCRIPT.exists():
        pytest.fail(f"{AXE_SCRIPT} is missing: run `make install` (it copies axe-core there)")
    found: list[str] = []
    # Each frame is audited by an axe-core of its own, not through axe's frame messaging:
    # the card fields are on the PSP's origin, which answers no message of ours.
    for frame in page.frames:
        if frame.is_detached():
            continue
        where = ""
        if frame.parent_frame is not None:
            element = frame.frame_element()
            if any(element.evaluate("(el, s) => el.matches(s)", sel) for sel in exclude):
                continue
            where = f"iframe[name={frame.name!r}] "
        if not frame.evaluate("typeof window.axe === 'object'"):
            frame.add_script_tag(path=str(AXE_SCRIPT))
        rules = frame.evaluate(_AXE_RUN, [list(exclude), list(AXE_TAGS)])
        found += [
            f"{v['id']} ({v['impact']}) at {where}{', '.join(v['targets'])}: {v['help']}"
            for v in rules
            if v["impact"] in ("serious", "critical")
        ]
    return found


def assert_accessible(page: Any, *, exclude: tuple[str, ...] = ()) -> None:
    """Fail, naming each violation, when axe-core finds a serious or critical one."""
    found = accessibility_violations(page, exclude=exclude)
    assert not found, f"axe-core on {page.url}:\n  " + "\n  ".join(found)


# ----------------------------------------------------------------------------- PAN scan


@dataclass
class Capture:
    """Everything of ours the browsers saw: HTTP bodies from our origin (both ways) and
    Socket.IO frames (both ways). The sandbox's origin is left out on purpose: its
    hosted-field iframes legitimately receive the card number."""

    origin: str
    texts: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    ws_frames: int = 0
    responses: int = 0
    body_errors: list[str] = field(default_factory=list)

    def attach(self, context: Any) -> None:
        context.on("request", self._request)
        context.on("response", self._response)
        context.on("page", self.attach_page)
        for page in context.pages:
            self.attach_page(page)

    def attach_page(self, page: Any) -> None:
        page.on("websocket", self._websocket)

    def _ours(self, url: str) -> bool:
        return url == self.origin or url.startswith(self.origin + "/")

    def _request(self, request: Any) -> None:
        if self._ours(request.url):
            self.texts.append((f"request URL {request.url}", request.url))
            data = request.post_data_buffer
            if data:
                self.texts.append((f"request body {request.url}", data.decode(errors="replace")))

    def _response(self, response: Any) -> None:
        if not self._ours(response.url):
            return
        self.responses += 1
        # A static file's ETag is Werkzeug's "<mtime>-<size>-<checksum>": digits from the
        # file system, never from a request, that now and then pass the Luhn check (a
        # fresh clone gives new mtimes). Every other header is scanned.
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items() if k.lower() != "etag")
        self.texts.append((f"response headers {response.url}", headers))
        if 300 <= response.status < 400:
            return  # redirects have no body to read
        try:
            body = response.body()
        except Exception as exc:  # the page navigated away before the body was read
            self.body_errors.append(f"{response.url}: {exc}")
            return
        self.texts.append((f"response {response.url}", body.decode(errors="replace")))

    def _websocket(self, ws: Any) -> None:
        if not ws.url.replace("ws://", "http://", 1).startswith(self.origin):
            return

        def frame(payload: Any, direction: str) -> None:
            self.ws_frames += 1
            text = payload if isinstance(payload, str) else bytes(payload).decode(errors="replace")
            self.texts.append((f"socket.io {direction} {ws.url}", text))

        ws.on("framereceived", lambda p: frame(p, "received"))
        ws.on("framesent", lambda p: frame(p, "sent"))


def email_texts(server: DemoServer) -> list[tuple[str, str]]:
    """Every stored email: the raw message, its decoded parts and attachments (PDF
    content streams inflated, so digits in a compressed PDF are seen too)."""
    out: list[tuple[str, str]] = []
    box = server.mailbox()
    for entry in box.list_messages():
        msg = box.read(entry.message_id)
        where = f"email {entry.message_id}"
        out.append((where + " raw", _without_boundaries(msg.raw)))
        out.append((where + " text", msg.text))
        out.append((where + " html", msg.html))
        for item in msg.attachments:
            out.append((f"{where} attachment {item.filename}", _pdf_text(item.content)))
    return out


def _without_boundaries(raw: bytes) -> str:
    """The raw message with its MIME boundaries blanked: Python writes them as 19
    random digits, which pass the PAN detector now and then and are not card data."""
    from email import message_from_bytes, policy

    text = raw.decode(errors="replace")
    for part in message_from_bytes(raw, policy=policy.default).walk():
        boundary = part.get_boundary()
        if boundary:
            text = text.replace(boundary, "[mime boundary]")
    return text


# The PDF trailer's /ID is two MD5 digests in hex that fpdf2 derives from the file: hex
# runs of 13+ decimal digits pass the Luhn check now and then, and are not card data.
_PDF_ID = re.compile(rb"/ID\s*\[\s*<[0-9A-Fa-f]*>\s*<[0-9A-Fa-f]*>\s*\]")


def _pdf_text(content: bytes) -> str:
    parts = [_PDF_ID.sub(b"/ID [file id]", content).decode("latin-1")]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            parts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(parts)


CARD_DIGITS = "4111111111111111"
CARD_SPACED = "4111 1111 1111 1111"


def pan_findings(texts: list[tuple[str, str]], *, cvv: str) -> list[str]:
    """Where a card number (or a labelled CVV value) shows up in ``texts``."""
    from vault.pan import find_pans

    labelled_cvv = re.compile(
        r"(?i)(cvv2?|cvc2?|cid|security[ _-]?code|card[ _-]?code)[\"'\s:=]{1,6}"
        + re.escape(cvv)
        + r"(?!\d)"
    )
    found = []
    for where, text in texts:
        if CARD_DIGITS in text or CARD_SPACED in text:
            found.append(f"{where}: the test card number")
        for match in find_pans(text):
            found.append(f"{where}: a PAN at {match.start}..{match.end}")
        if labelled_cvv.search(text):
            found.append(f"{where}: a labelled CVV value")
    return found
