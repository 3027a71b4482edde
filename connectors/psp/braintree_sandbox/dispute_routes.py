"""Gateway routes for disputes and evidence documents, as the SDK calls them.

URLs and bodies follow braintree_python ``braintree/dispute_gateway.py`` (``find``,
``accept``, ``finalize``, ``add_text_evidence``/``add_file_evidence``, ``remove_evidence``)
and ``braintree/document_upload_gateway.py`` (a multipart ``POST document_uploads`` with
the file and ``document_upload[kind]``). ``accept``/``finalize``/``remove_evidence``
succeed with an empty body: the SDK returns ``SuccessfulResult()`` for anything but an
``api-error-response``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request

from .disputes import Disputes
from .documents import dispute_document, document_upload_document, evidence_document
from .xml_codec import decode

__all__ = ["register_dispute_routes"]


def register_dispute_routes(
    app: Flask, base: str, disputes: Disputes, xml: Callable[..., Response]
) -> None:
    """Add the dispute and document-upload routes under ``base`` (the merchant path)."""
    state = disputes.state

    @app.get(f"{base}/disputes/<dispute_id>")
    def find_dispute(merchant_id: str, dispute_id: str) -> Response:
        with state.lock:
            return xml(dispute_document(disputes.find(dispute_id), state))

    @app.put(f"{base}/disputes/<dispute_id>/accept")
    def accept_dispute(merchant_id: str, dispute_id: str) -> Response:
        disputes.accept(dispute_id)
        return xml(b"")

    @app.put(f"{base}/disputes/<dispute_id>/finalize")
    def finalize_dispute(merchant_id: str, dispute_id: str) -> Response:
        disputes.finalize(dispute_id)
        return xml(b"")

    @app.post(f"{base}/disputes/<dispute_id>/evidence")
    def add_evidence(merchant_id: str, dispute_id: str) -> Response:
        body: Any = decode(request.get_data()).get("evidence") or {}
        evidence = disputes.add_evidence(dispute_id, body if isinstance(body, dict) else {})
        return xml(evidence_document(evidence), 201)

    @app.delete(f"{base}/disputes/<dispute_id>/evidence/<evidence_id>")
    def remove_evidence(merchant_id: str, dispute_id: str, evidence_id: str) -> Response:
        disputes.remove_evidence(dispute_id, evidence_id)
        return xml(b"")

    @app.post(f"{base}/document_uploads")
    def upload_document(merchant_id: str) -> Response:
        upload = request.files.get("file")
        content = upload.read() if upload is not None else b""
        name = (upload.filename if upload is not None else None) or "upload"
        kind = request.form.get("document_upload[kind]")
        document = disputes.upload_document(kind, name, content)
        # The bytes are not kept: only name, type and size describe the evidence.
        del content
        return xml(document_upload_document(document), 201)
