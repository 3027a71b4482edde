"""Receipt rendering: receipts (PDF + email MIME) per second, single-threaded.

What the outbox dispatcher does for every receipt email once it has read the receipt back
(``crm_pay.services.message_content.compose``, then the mail sender), split in stages:

1. ``pdf``: :func:`crm_pay.rendering.receipt_pdf.render_receipt_pdf` (fpdf2, A4,
   compressed, the Noto fonts of ``crm_pay.rendering.receipt_fonts`` embedded as
   subsets), the attachment;
2. ``email``: :func:`crm_pay.rendering.email.render_receipt_email` (Jinja, plain text and
   HTML) with that PDF handed in, so it is not drawn twice;
3. ``redact``: :func:`vault.pan.redact` over the subject, text and HTML, as ``compose``
   does before anything leaves;
4. ``mime``: :func:`connectors.messaging.mime.build_message` with the PDF attached,
   serialised with ``.as_bytes()`` (what the file mailbox writes and SMTP sends).

``total`` is the four together, timed as one, in wall time and in this thread's CPU time
("receipts/CPU-s": what one thread renders per second of its own CPU, the figure to
compare when other processes share the machine). Nothing touches a database, a socket or
the disk: the receipts are built in memory beforehand (not timed), as
``crm_pay.services.receipts.receipt_from_row`` would return them.

The receipts are realistic and all different (number, payment id, customer): invoice
lines spread over several invoices with their own tax labels, shipping, allocations, a
card method and a PSP reference, and customer names in Cyrillic, Greek, Japanese,
Arabic and accented Latin. Three sizes, 1, 5 and 20 lines, taken in turn (1, 5, 20, 1,
...) so that all three see the same machine; the N measured receipts are split equally
between them, and "mixed" is the throughput of that mix.

The fonts are read and the first subsets cut during the check and warm-up (about a
second, once per process: see ``receipt_fonts``), so the figures are those of a running
worker. A subset is cached by the glyphs it holds (Latin-script fonts by blocks of 32 code
points), so a receipt only pays for cutting one when it shows characters no earlier
receipt of the process showed. The five customers above come back again and again, so
the measured receipts seldom do; a worker whose customers have Chinese or Japanese names
pays for a cut of the CJK font with nearly every new name. After the mix, ``new CJK
names`` measures that case apart: receipts of 5 lines, each for a Chinese name of three
characters no earlier receipt of the run had (not counted in the mix).
"""

from __future__ import annotations

import base64
import dataclasses
import gc
import hashlib
import io
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.utils import formataddr
from typing import Any

from benchmarks.common import RunOptions, Summary, format_table, machine_info, write_results

__all__ = ["DESCRIPTION", "NAME", "run"]

NAME = "receipt_rendering"
DESCRIPTION = "receipt PDF + email (text, HTML) + MIME with the PDF attached, per second"

ITERATIONS = 500
QUICK_ITERATIONS = 100
WARMUP = 20
QUICK_WARMUP = 5

#: Invoice lines per receipt, one series each.
LINE_COUNTS = (1, 5, 20)
#: Stages in the order they run; ``total`` is timed around all of them.
STAGES = ("pdf", "email", "redact", "mime")
CURRENCY = "USD"
PUBLIC_URL = "https://pay.example-merchant.com/pay"

#: Customers whose names are not (only) in Latin script: (name, CRM reference, address).
CUSTOMERS = (
    ("Дмитрий Александрович Соколов", "CUST-2001", "dmitry.sokolov@example.com"),
    ("Ελένη Παπαδοπούλου", "CUST-2002", "eleni.papadopoulou@example.com"),
    ("山田 花子 (Hanako Yamada)", "CUST-2003", "hanako.yamada@example.com"),
    ("محمد عبد الله", "CUST-2004", "mohammed.abdullah@example.com"),
    ("Zoë Łukasiewicz-Øvergård", "CUST-2005", "zoe.lukasiewicz@example.com"),
)
#: (description, unit price in cents) for invoice lines; picked in turn.
PRODUCTS = (
    ("Cedar raised garden bed, 4 x 8 ft", 18_900),
    ("Organic potting soil, 40 qt", 1_450),
    ("Drip irrigation starter kit", 7_999),
    ("On-site consultation – 2 h", 24_000),
    ("Stainless steel trowel “Pro” series", 2_475),
    ("Replacement hose nozzle, 8 patterns", 1_299),
    ("Seasonal maintenance plan (monthly)", 4_900),
    ("Delivery & installation, zone B", 8_500),
    ("Terracotta planter Ø 45 cm", 3_650),
    ("Frost cloth, 10 x 30 ft roll", 2_199),
    ("Compost bin, 80 gal, recycled plastic", 11_900),
    ("Pruning shears — bypass, 8 in", 3_495),
)
#: (tax label, rate in basis points); each invoice has one.
TAX_RATES = (("NY sales tax 8.88%", 888), ("IL sales tax 10.25%", 1025))
LINES_PER_INVOICE = 5
#: Three to a name, no character twice: every "new CJK names" receipt needs a new subset.
NEW_NAME_CHARACTERS = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史"
    "陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
NEW_NAMES = 30
QUICK_NEW_NAMES = 10
NEW_NAME_LINES = 5


class BenchError(RuntimeError):
    """A rendered receipt is not what a customer would receive; the figures would lie."""


@dataclass
class Series:
    """The samples and sizes of one receipt size (number of invoice lines)."""

    lines: int
    stages: dict[str, list[int]] = field(default_factory=lambda: {s: [] for s in STAGES})
    total: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)
    pdf_bytes: list[int] = field(default_factory=list)
    eml_bytes: list[int] = field(default_factory=list)

    def receipts_per_second(self) -> float:
        """Receipts per second of rendering time (the sum of the ``total`` samples)."""
        return len(self.total) / (sum(self.total) / 1e9)

    def receipts_per_cpu_second(self) -> float:
        """Receipts per second of this thread's CPU time (the sum of the ``cpu`` samples)."""
        return len(self.cpu) / (sum(self.cpu) / 1e9)

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the JSON results file."""
        return {
            "lines": self.lines,
            "n": len(self.total),
            "receipts_per_second": round(self.receipts_per_second(), 1),
            "receipts_per_cpu_second": round(self.receipts_per_cpu_second(), 1),
            "total": Summary.of_ns(self.total).to_json(),
            "stages": {s: Summary.of_ns(v).to_json() for s, v in self.stages.items()},
            "pdf_bytes": _sizes(self.pdf_bytes),
            "eml_bytes": _sizes(self.eml_bytes),
        }


def _sizes(values: list[int]) -> dict[str, int]:
    ordered = sorted(values)
    return {"median": ordered[len(ordered) // 2], "min": ordered[0], "max": ordered[-1]}


# -- the receipts ------------------------------------------------------------------------


def _merchant() -> Any:
    from crm_pay.domain.receipt import Merchant

    return Merchant(
        name="Greenfield Garden Supply Inc.",
        address="1200 Harbor Boulevard, Suite 400\nBrooklyn, NY 11201\nUnited States",
        email="billing@greenfield-garden.example.com",
        phone="+1 212 555 0100",
        tax_id="EIN 12-3456789",
    )


def _payment_id(seed: str) -> str:
    """A payment id shaped like ``new_payment_id``'s (``pay_`` + base32), but repeatable."""
    digest = hashlib.sha256(seed.encode()).digest()[:15]
    return "pay_" + base64.b32encode(digest).decode().lower()


def _receipt(seq: int, lines: int) -> Any:
    """Receipt number ``seq`` with ``lines`` invoice lines, as a payment of every invoice
    it lists would produce it (``issue_receipt`` → ``receipt_from_row``)."""
    from crm_pay.domain.money import Money
    from crm_pay.domain.receipt import Receipt, ReceiptLine, format_receipt_number

    name, ref, _ = CUSTOMERS[seq % len(CUSTOMERS)]
    items: list[ReceiptLine] = []
    tax_by_label: dict[str, int] = {}
    due_by_invoice: dict[str, int] = {}
    shipping = 0
    for i in range(lines):
        invoice_no, position = divmod(i, LINES_PER_INVOICE)
        invoice = f"INV-{5000 + seq * 4 + invoice_no}"
        label, rate = TAX_RATES[invoice_no % len(TAX_RATES)]
        description, unit = PRODUCTS[(seq + i) % len(PRODUCTS)]
        quantity = 1 + (seq + i) % 4
        tax = (unit * quantity * rate + 5_000) // 10_000
        items.append(
            ReceiptLine(description, quantity, Money(unit, CURRENCY), Money(tax, CURRENCY), invoice)
        )
        tax_by_label[label] = tax_by_label.get(label, 0) + tax
        if position == 0:
            invoice_shipping = 1_500 if invoice_no % 2 == 0 else 0
            shipping += invoice_shipping
            due_by_invoice[invoice] = invoice_shipping
        due_by_invoice[invoice] += unit * quantity + tax
    paid = sum(due_by_invoice.values())
    issued = datetime(2026, 3, 2, 14, 5, tzinfo=timezone(timedelta(hours=-5), "EST"))
    return Receipt(
        number=format_receipt_number(2026, seq),
        kind="payment",
        issued_at=issued + timedelta(seconds=37 * seq),
        merchant=_merchant(),
        customer_name=name,
        customer_ref=ref,
        payment_id=_payment_id(f"bench-{seq}"),
        lines=tuple(items),
        tax_breakdown=tuple(
            (label, Money(cents, CURRENCY)) for label, cents in tax_by_label.items()
        ),
        shipping=Money(shipping, CURRENCY),
        allocations=tuple((inv, Money(cents, CURRENCY)) for inv, cents in due_by_invoice.items()),
        credit=Money(0, CURRENCY),
        amount_paid=Money(paid, CURRENCY),
        method="Visa ending 1111",
        psp_reference=f"{seq:08x}"[-8:],
    )


def _portal_url(receipt: Any) -> str:
    """A link as long as a signed receipts-page link (``/r/<signed token>``)."""
    token = base64.urlsafe_b64encode(
        hashlib.sha512(f"{receipt.customer_ref}:{receipt.number}".encode()).digest()
    )
    return f"{PUBLIC_URL}/r/{token.decode().rstrip('=')}"


# -- one receipt -------------------------------------------------------------------------


def _render(receipt: Any, sender: str) -> tuple[list[int], int, int, bytes, bytes]:
    """Render one receipt; (stage durations, total duration, CPU time in ns, PDF, .eml)."""
    from connectors.messaging.mime import build_message
    from crm_pay.ports import OutgoingEmail
    from crm_pay.rendering.email import render_receipt_email
    from crm_pay.rendering.receipt_pdf import render_receipt_pdf
    from vault import pan

    to = CUSTOMERS[[c[1] for c in CUSTOMERS].index(receipt.customer_ref)][2]
    portal_url = _portal_url(receipt)
    message_id = f"receipt.{receipt.number}@greenfield-garden.example.com"
    clock = time.perf_counter_ns

    cpu0 = time.thread_time_ns()
    t0 = clock()
    pdf = render_receipt_pdf(receipt)
    t1 = clock()
    content = render_receipt_email(receipt, portal_url=portal_url, pdf=pdf)
    t2 = clock()
    subject, text, html = (pan.redact(s) for s in (content.subject, content.text, content.html))
    t3 = clock()
    email = OutgoingEmail(
        message_id=message_id,
        sender=sender,
        to=to,
        subject=subject,
        text=text,
        html=html,
        attachments=content.attachments,
    )
    eml = build_message(email).as_bytes()
    t4 = clock()
    cpu = time.thread_time_ns() - cpu0
    return [t1 - t0, t2 - t1, t3 - t2, t4 - t3], t4 - t0, cpu, pdf, eml


def _check(receipt: Any, pdf: bytes, eml: bytes) -> None:
    """The message is what the customer should get: the PDF attached unchanged, showing
    the name as typed, the name, number and total in both bodies."""
    from pypdf import PdfReader

    shown = " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())
    if receipt.customer_name not in shown:
        raise BenchError(f"{receipt.number}: the PDF does not show {receipt.customer_name!r}")
    msg = message_from_bytes(eml, policy=policy.default)
    parts = {part.get_content_type(): part for part in msg.walk() if not part.is_multipart()}
    missing = {"text/plain", "text/html", "application/pdf"} - parts.keys()
    if missing:
        raise BenchError(f"{receipt.number}: message lacks {', '.join(sorted(missing))}")
    if parts["application/pdf"].get_content() != pdf or not pdf.startswith(b"%PDF-"):
        raise BenchError(f"{receipt.number}: the attached PDF is not the rendered one")
    total = receipt.amount_paid.format()
    for kind in ("text/plain", "text/html"):
        body = parts[kind].get_content()
        for expected in (receipt.customer_name, receipt.number, total):
            if expected not in body:
                raise BenchError(f"{receipt.number}: {kind} body lacks {expected!r}")


# -- the run -------------------------------------------------------------------------------


def _print_results(
    series: list[Series], wall_s: float, cpu_s: float, measured: int, new_names: Series
) -> None:
    def ms(values: list[int], pct: str) -> str:
        summary = Summary.of_ns(values)
        return f"{summary.median_ms if pct == 'median' else summary.p99_ms:.2f}"

    headers = ["lines", "n", "receipts/s", "receipts/CPU-s", "total median ms", "total p99 ms"]
    headers += ["PDF KB", "eml KB"]
    rows = [
        [
            str(s.lines),
            str(len(s.total)),
            f"{s.receipts_per_second():.0f}",
            f"{s.receipts_per_cpu_second():.0f}",
            ms(s.total, "median"),
            ms(s.total, "p99"),
            f"{_sizes(s.pdf_bytes)['median'] / 1024:.1f}",
            f"{_sizes(s.eml_bytes)['median'] / 1024:.1f}",
        ]
        for s in series
    ]
    print()
    print(format_table(headers, rows))
    print(
        f"  mixed (equal parts of each size): {measured / wall_s:.1f} receipts/s "
        f"({measured} in {wall_s:.1f} s wall); per CPU second of this process: "
        f"{measured / cpu_s:.1f} (CPU {cpu_s:.1f} s = {cpu_s / wall_s:.0%} of wall)"
    )

    headers = ["lines", *(f"{st} {p}" for st in STAGES for p in ("median", "p99"))]
    rows = [
        [str(s.lines), *(ms(s.stages[st], p) for st in STAGES for p in ("median", "p99"))]
        for s in series
    ]
    print()
    print(format_table(headers, rows))
    print("  ms per receipt and stage; sizes are medians (KB = 1024 bytes)")
    print(
        f"  new CJK names ({new_names.lines} lines, a name no earlier receipt had): "
        f"n {len(new_names.total)}, {new_names.receipts_per_second():.0f} receipts/s, "
        f"{new_names.receipts_per_cpu_second():.0f} receipts/CPU-s, total median "
        f"{ms(new_names.total, 'median')} ms, pdf median {ms(new_names.stages['pdf'], 'median')} ms"
    )


def _record(s: Series, stages: list[int], total: int, cpu: int, pdf: bytes, eml: bytes) -> None:
    for stage, elapsed in zip(STAGES, stages, strict=True):
        s.stages[stage].append(elapsed)
    s.total.append(total)
    s.cpu.append(cpu)
    s.pdf_bytes.append(len(pdf))
    s.eml_bytes.append(len(eml))


def _new_names(first: int, count: int, sender: str) -> Series:
    """``count`` receipts, each for a Chinese name none before it had; each is checked
    after it was timed (its PDF must show the name)."""
    series = Series(NEW_NAME_LINES)
    for i in range(count):
        name = NEW_NAME_CHARACTERS[3 * i : 3 * i + 3]
        receipt = dataclasses.replace(_receipt(first + i, NEW_NAME_LINES), customer_name=name)
        stages, total, cpu, pdf, eml = _render(receipt, sender)
        _check(receipt, pdf, eml)
        _record(series, stages, total, cpu, pdf, eml)
    return series


def run(options: RunOptions) -> dict[str, Any]:
    """Render receipts of each size in turn; print the tables, write and return JSON."""
    iterations = options.iterations or (QUICK_ITERATIONS if options.quick else ITERATIONS)
    warmup = (
        options.warmup if options.warmup is not None else QUICK_WARMUP if options.quick else WARMUP
    )
    merchant = _merchant()
    sender = formataddr((merchant.name, merchant.email))
    sizes = len(LINE_COUNTS)
    print(
        f"{iterations} receipts in equal parts of {', '.join(map(str, LINE_COUNTS))} invoice "
        f"lines, after {warmup} warm-up; one thread"
    )

    # Every receipt is a different one and none is rendered twice: one of each size is
    # checked (the message is what a customer gets), then ``warmup`` warm up, then the
    # measured ones, sizes in turn.
    receipts = [_receipt(1 + i, lines) for i, lines in enumerate(LINE_COUNTS)]
    for receipt in receipts:
        _, _, _, pdf, eml = _render(receipt, sender)
        _check(receipt, pdf, eml)
    # Warm-up: imports, Jinja template compilation, the fonts and their first subsets.
    first = 1 + sizes
    for seq in range(first, first + warmup):
        _render(_receipt(seq, LINE_COUNTS[seq % sizes]), sender)
    first += warmup
    receipts = [_receipt(first + i, LINE_COUNTS[i % sizes]) for i in range(iterations)]

    by_lines = {lines: Series(lines) for lines in LINE_COUNTS}
    gc.collect()
    cpu_started = time.process_time()
    started = time.perf_counter()
    for receipt in receipts:
        _record(by_lines[len(receipt.lines)], *_render(receipt, sender))
    wall_s = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    series = [s for s in by_lines.values() if s.total]
    new_names = _new_names(
        first + iterations, QUICK_NEW_NAMES if options.quick else NEW_NAMES, sender
    )

    _print_results(series, wall_s, cpu_s, iterations, new_names)
    payload: dict[str, Any] = {
        "bench": NAME,
        "description": DESCRIPTION,
        "quick": options.quick,
        "iterations": iterations,
        "warmup": warmup,
        "stages": list(STAGES),
        "line_counts": list(LINE_COUNTS),
        "mixed": {
            "receipts": iterations,
            "wall_s": round(wall_s, 3),
            "cpu_s": round(cpu_s, 3),
            "receipts_per_second": round(iterations / wall_s, 1),
            "receipts_per_cpu_second": round(iterations / cpu_s, 1),
        },
        "series": [s.to_json() for s in series],
        "new_cjk_names": new_names.to_json(),
        "machine": machine_info(),
    }
    if options.results_dir is not None:
        path = write_results(options.results_dir, NAME, payload)
        print(f"  results: {path}")
    return payload
