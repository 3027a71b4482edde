"""Gateway routes for disputes and evidence documents, as the SDK calls them.

URLs and bodies follow braintree_python ``braintree/dispute_gateway.py`` (``find``,
``accept``, ``finalize``, ``add_text_evidence``/``add_file_evidence``, ``remove_evidence``)
and ``braintree/document_upload_gateway.py`` (a multipart ``POST document_uploads`` with
the file and ``document_upload[kind]``). ``accept``/``finalize``/``remove_evidence``
succeed with an empty body: the SDK returns ``SuccessfulResult()`` for anything but an
``api-error-response``.

Search is ``DisputeGateway.search``: ``POST disputes/advanced_search?page=N`` with the
``<search>`` criteria, answered page by page as ``__fetch_disputes`` reads it: a
``<disputes>`` element with ``page-size``, ``total-items`` and the page's ``<dispute>``
elements repeated without an array type (``ResourceCollection._extract_as_array`` takes one
or many); the SDK's ``PaginatedCollection`` asks for pages until ``page * page_size``
reaches ``total_items``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.etree.ElementTree import Element, SubElement, fromstring, tostring

from flask import Flask, Response, request

from .disputes import DISPUTE_PAGE_SIZE, Disputes
from .documents import dispute_document, document_upload_document, evidence_document
from .records import UnsupportedSearch
from .xml_codec import decode

__all__ = ["register_dispute_routes"]


def register_dispute_routes(
    app: Flask, base: str, disputes: Disputes, xml: Callable[..., Response]
) -> None:
    """Add the dispute and document-upload routes under ``base`` (the merchant path)."""
    state = disputes.state

    @app.post(f"{base}/disputes/advanced_search")
    def search_disputes(merchant_id: str) -> Response:
        page = request.args.get("page", "1")
        if not page.isdigit() or int(page) < 1:
            raise UnsupportedSearch(f"page must be a number from 1, not {page[:20]!r}")
        criteria: Any = decode(request.get_data()).get("search") or {}
        with state.lock:
            total, found = disputes.search(
                criteria if isinstance(criteria, dict) else {}, int(page)
            )
            documents = [dispute_document(d, state) for d in found]
        return xml(_search_page(total, documents))

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


def _search_page(total: int, documents: list[bytes]) -> bytes:
    root = Element("disputes")
    for name, value in (
        ("page-size", DISPUTE_PAGE_SIZE),
        ("total-items", total),
    ):
        child = SubElement(root, name, {"type": "integer"})
        child.text = str(value)
    for document in documents:
        # Our own documents, parsed back only to nest them: no outside XML here.
        root.append(fromstring(document))  # noqa: S314
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="utf-8")
