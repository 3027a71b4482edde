"""The ``DisputeGateway`` port, the same scenarios on both implementations: the
Braintree adapter (the real SDK against the development sandbox) and the fake PSP of
``crm_pay.testing``. Each answers accept, text and file evidence, removal and finalize
as the port says: ids back, a refusal as ``Conflict`` in plain words, an unknown id as
``NotFound``; no evidence once the dispute is accepted or finalized."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.psp.braintree import BraintreeGateway
from connectors.psp.braintree_sandbox import SandboxServer
from crm_pay.domain.errors import Conflict, NotFound
from crm_pay.domain.money import Money
from crm_pay.ports import DisputeGateway, SaleRequest, capability
from crm_pay.testing import FakeGateway
from paytest import SANDBOX

PDF = b"%PDF-1.4\n% proof of delivery\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


class Psp:
    """One implementation of the port, and how a test opens a dispute on it."""

    def __init__(self, port: Any, open_dispute: Callable[[str, Money], str]) -> None:
        self.port: DisputeGateway = port
        self._open = open_dispute
        self._sale = port.sale

    def disputed_sale(self) -> str:
        amount = Money.parse("25.00", "USD")
        outcome = self._sale(
            SaleRequest(
                amount=amount,
                order_id=f"pay-{uuid.uuid4().hex[:12]}",
                request_key=uuid.uuid4().hex,
                payment_method_nonce="fake-valid-nonce",
            )
        )
        assert outcome.approved and outcome.transaction is not None
        return self._open(outcome.transaction.id, amount)


@pytest.fixture(params=["braintree", "fake"])
def psp(request: pytest.FixtureRequest, sandbox: SandboxServer) -> Iterator[Psp]:
    if request.param == "fake":
        fake = FakeGateway()
        yield Psp(fake, lambda txn, amount: fake.open_dispute(txn, amount).id)
        return
    adapter = BraintreeGateway.for_local_sandbox(sandbox.gateway_url, **SANDBOX, timeout=5.0)
    yield Psp(adapter, lambda txn, amount: sandbox.open_dispute(txn))
    adapter.close()


def test_both_have_the_capability(psp: Psp) -> None:
    assert capability(psp.port, DisputeGateway) is psp.port


def test_evidence_is_added_removed_and_finalized(psp: Psp) -> None:
    dispute = psp.disputed_sale()
    text = psp.port.add_text_evidence(dispute, "Delivered, signed by J. Doe")
    pdf = psp.port.add_file_evidence(
        dispute, "proof.pdf", PDF, content_type="application/pdf", category="GENERAL"
    )
    png = psp.port.add_file_evidence(dispute, "photo", PNG, content_type="image/png")
    assert len({text, pdf, png}) == 3
    found = psp.port.find_dispute(dispute)
    assert found is not None and set(found.evidence_ids) == {text, pdf, png}

    psp.port.remove_evidence(dispute, png)
    with pytest.raises(NotFound):
        psp.port.remove_evidence(dispute, png)  # gone already
    found = psp.port.find_dispute(dispute)
    assert found is not None and set(found.evidence_ids) == {text, pdf}

    psp.port.finalize_dispute(dispute)
    found = psp.port.find_dispute(dispute)
    assert found is not None and found.status == "disputed"
    for late in (
        lambda: psp.port.add_text_evidence(dispute, "more"),
        lambda: psp.port.remove_evidence(dispute, text),
        lambda: psp.port.finalize_dispute(dispute),
        lambda: psp.port.accept_dispute(dispute),
    ):
        with pytest.raises(Conflict) as refused:
            late()
        assert refused.value.code == "dispute_refused"
        assert "open" in refused.value.message


def test_accept_closes_the_dispute_to_evidence(psp: Psp) -> None:
    dispute = psp.disputed_sale()
    psp.port.accept_dispute(dispute)
    found = psp.port.find_dispute(dispute)
    assert found is not None and found.status == "accepted"
    with pytest.raises(Conflict, match="only an open dispute can be accepted"):
        psp.port.accept_dispute(dispute)
    with pytest.raises(Conflict, match="open"):
        psp.port.add_file_evidence(dispute, "late.pdf", PDF, content_type="application/pdf")


def test_an_unknown_dispute_is_not_found(psp: Psp) -> None:
    assert psp.port.find_dispute("no-such-dispute") is None
    with pytest.raises(NotFound):
        psp.port.accept_dispute("no-such-dispute")
    with pytest.raises(NotFound):
        psp.port.add_text_evidence("no-such-dispute", "text")


def test_braintree_names_the_upload_after_its_type_and_words_its_refusals(
    sandbox: SandboxServer,
) -> None:
    """The SDK sends the part's Content-Type from the file name (document_upload_gateway.py
    ``mimetypes.guess_type``): the adapter names the upload after ``content_type``."""
    adapter = BraintreeGateway.for_local_sandbox(sandbox.gateway_url, **SANDBOX, timeout=5.0)
    try:
        dispute = Psp(adapter, lambda txn, amount: sandbox.open_dispute(txn)).disputed_sale()
        adapter.add_file_evidence(dispute, "scan", PNG, content_type="image/png")
        adapter.add_file_evidence(dispute, "scan.PDF", PDF, content_type="application/pdf")
        held = next(d for d in sandbox.disputes if d["id"] == dispute)
        assert [e["url"].rsplit("/", 1)[-1] for e in held["evidence"]] == ["scan.png", "scan.PDF"]
        # Braintree's own check of the bytes (DocumentUpload 84903 FileTypeIsInvalid)
        with pytest.raises(Conflict) as refused:
            adapter.add_file_evidence(
                dispute, "a.pdf", b"MZ not a pdf", content_type="application/pdf"
            )
        assert "file type is not accepted" in refused.value.message
        assert "84903" in refused.value.message
        with pytest.raises(ValueError, match="PDF, PNG or JPEG"):
            adapter.add_file_evidence(dispute, "a.gif", b"GIF89a", content_type="image/gif")
    finally:
        adapter.close()
