"""Printable PDF report (WeasyPrint): an A4 chart copy with the plan on page 1, every guideline's stance in
per-therapy tables and the knowledge version and date in every page footer. The full data dump stays in the
web report and the JSON document (a 60-page print helps no one)."""

from __future__ import annotations

from typing import Any

from rplnav.assessment import Assessment, plain
from rplnav.render.common import pooled_text
from rplnav.render.html import environment, prepare


def render_print_html(a: Assessment | dict[str, Any]) -> str:
    """The HTML the PDF is laid out from."""
    a = plain(a)
    ctx = prepare(a)
    rows = [(o["name"], (o["evidence"].get("outcome") or "").replace("_", " "), pooled_text(o["evidence"].get("all")),
             pooled_text(o["evidence"].get("stratum"))) for o in a["options"] if o.get("evidence")]
    return environment().get_template("report_print.html").render(a=a, evidence_rows=rows, **ctx)


def render_pdf(a: Assessment | dict[str, Any]) -> bytes:
    import weasyprint

    return weasyprint.HTML(string=render_print_html(a), base_url=None).write_pdf()
