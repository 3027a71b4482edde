"""Documents drawn from domain values: receipts as PDF and as plain text."""

from .receipt_pdf import render_receipt_pdf, render_receipt_text

__all__ = ["render_receipt_pdf", "render_receipt_text"]
