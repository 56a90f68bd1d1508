"""Printable PDF report (WeasyPrint) — the HTML report laid out for A4, with the knowledge version and the
date in every page footer."""

from __future__ import annotations

from typing import Any

from rplnav.render.html import render_html


def render_pdf(a: dict[str, Any]) -> bytes:
    import weasyprint

    doc = weasyprint.HTML(string=render_html(a, for_print=True), base_url=None)
    return doc.write_pdf()
