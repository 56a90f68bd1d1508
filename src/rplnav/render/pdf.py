"""Printable PDF report (WeasyPrint): an A4 chart copy with the plan on page 1, every guideline's stance in one
table with a row group per therapy, and the knowledge version and date in every page footer. The full data dump stays in the
web report and the JSON document (a 60-page print helps no one)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rplnav.assessment import Assessment, plain
from rplnav.evidence.forest_svg import ROW_MM, evidence_forest_table
from rplnav.evidence.stratify import OUTCOME_LABEL
from rplnav.render.common import pooled_text
from rplnav.render.html import environment, prepare

FOREST_PLOTS = 2  # on paper: the first two of the plan's therapies with pooled trials (every plot is in the web report)


def render_print_html(a: Assessment | dict[str, Any]) -> str:
    """The HTML the PDF is laid out from."""
    a = plain(a)
    ctx = prepare(a)
    rows = [(o["name"], (o["evidence"].get("outcome") or "").replace("_", " "), pooled_text(o["evidence"].get("all")),
             pooled_text(o["evidence"].get("stratum"))) for o in a["options"] if o.get("evidence")]
    plots = forests(a)
    on_paper, elsewhere = paper_sources(a, {t for _, _, ids in plots for t in ids})
    return environment().get_template("report_print.html").render(
        a=a, evidence_rows=rows, forests=[(n, p) for n, p, _ in plots], sources=on_paper, sources_elsewhere=elsewhere,
        row_mm=f"{ROW_MM:g}", **ctx)


STUDY_KINDS = frozenset({"trial", "meta_analysis", "cohort", "review"})


def paper_sources(a: dict[str, Any], plotted: set[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The sources printed in full: every guideline, criteria, label and other source, and the studies whose
    rows are drawn on paper; the other study sources (behind the pooled figures) by id only, in full in the web
    report and the JSON document. Typesetting 80 trial citations was a third of the PDF's render time."""
    full, ids = [], []
    for s in a["sources"]:
        (ids if s.get("kind") in STUDY_KINDS and s["id"] not in plotted else full).append(s)
    return full, [s["id"] for s in ids]


def forests(a: dict[str, Any]) -> list[tuple[str, str, set[str]]]:
    """(therapy name, plot, source ids of its rows) for the plan's therapies whose evidence has pooled trials, supported first: the
    forest plot as a table with text-free row graphics (WeasyPrint lays SVG text out glyph by glyph)."""
    by_tid = {o["therapy"]: o for o in a["options"]}
    plan = a.get("plan") or {}
    tids = dict.fromkeys(x["therapy"] for part in ("supported", "against") for x in plan.get(part) or [])
    out = []
    for tid in tids:
        o = by_tid.get(tid)
        ev = (o or {}).get("evidence")
        plot = evidence_forest_table(ev, o["name"], OUTCOME_LABEL.get(ev.get("outcome") or "", "outcome")) if ev else None
        if plot:
            docs = {t["source"]["document"] for p in (ev.get("all"), ev.get("stratum")) if p
                    for t in p.get("trials") or ()}
            out.append((o["name"], plot, docs))
            if len(out) == FOREST_PLOTS:
                break
    return out


_pause = {"renders": 0, "resume": False}
_pause_lock = threading.Lock()


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while WeasyPrint lays a report out. Layout allocates a few hundred thousand
    short-lived containers, and the collector's passes over them (and over the knowledge base already in
    memory) were 15-25 % of a render, measured by timing renders in turn with it on and off. Reference
    counting still frees what layout drops; the collector resumes, if it was running, when the last
    overlapping render ends."""
    with _pause_lock:
        if _pause["renders"] == 0:
            _pause["resume"] = gc.isenabled()
            gc.disable()
        _pause["renders"] += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pause["renders"] -= 1
            if _pause["renders"] == 0 and _pause["resume"]:
                gc.enable()


def render_pdf(a: Assessment | dict[str, Any]) -> bytes:
    import weasyprint

    html = render_print_html(a)
    with cyclic_gc_paused():
        return weasyprint.HTML(string=html, base_url=None).write_pdf()
