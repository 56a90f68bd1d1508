"""The printed report's layout engine: the forest plot's one spanning image stays aligned with its table rows,
the stance tables are one table with a row group per therapy, and a render pauses the cycle collector without
leaving it changed."""

from __future__ import annotations

import base64
import gc
import html as html_lib
import re
import threading

import pytest

from rplnav.evidence.forest_svg import ROW_MM, evidence_forest_table
from rplnav.evidence.stratify import OUTCOME_LABEL
from rplnav.examples import example_files
from rplnav.patient import read_patient
from rplnav.render import pdf
from rplnav.render.html import prepare


def _doc(engine, kb, prefix: str):
    path = next(p for p in example_files() if p.name.startswith(prefix))
    return engine.assess(read_patient(str(path), kb.tests, set(kb.therapies))).to_dict()


def test_the_forest_image_spans_the_body_rows_at_the_print_row_height(engine, kb):
    doc = _doc(engine, kb, "05")
    ev = next(o["evidence"] for o in doc["options"] if o.get("evidence") and (o["evidence"].get("all") or {}).get("trials"))
    table = evidence_forest_table(ev, "x", OUTCOME_LABEL.get(ev.get("outcome") or "", "outcome"))
    body = table[table.index("<tbody>"):]
    rows = re.findall(r"<tr class=\"(\w+)\">(.*?)</tr>", body)
    plotted = [(kind, cells) for kind, cells in rows if kind not in ("axis", "favours")]
    assert body.count("<img") == 1 and "<svg" not in plotted[0][1].split("<img")[0]
    span = int(re.search(r'<td class="g" rowspan="(\d+)">', plotted[0][1]).group(1))
    assert span == len(plotted)  # the image covers every row that has shapes, and no other
    assert sum('class="g"' in c for _, c in plotted) == 1
    style_mm = float(re.search(r'style="height: ([\d.]+)mm"', body).group(1))
    assert style_mm == pytest.approx(ROW_MM * span)
    svg = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", body).group(1)).decode()
    per_row = float(re.search(r'viewBox="0 0 [\d.]+ ([\d.]+)"', svg).group(1)) / span
    # every trial's square is drawn inside its own row's band
    studies = [n for n, (kind, _) in enumerate(plotted) if kind == "study"]
    squares = [float(y) + float(side) / 2 for y, side in re.findall(r'<rect x="[-\d.]+" y="([-\d.]+)" width="[\d.]+" height="([\d.]+)"', svg)]
    assert len(squares) == len(studies)
    for n, centre in zip(studies, squares, strict=True):
        assert n * per_row < centre < (n + 1) * per_row
    diamonds = re.findall(r'<polygon points="[\d.]+,([\d.]+) ', svg)
    assert [int(float(y) // per_row) for y in diamonds] == [n for n, (k, _) in enumerate(plotted) if k == "diamond"]
    # the print stylesheet gives body rows exactly the height the image assumes
    printed = pdf.render_print_html(doc)
    rule = re.search(r"table\.fp th, table\.fp td \{([^}]*)\}", printed).group(1)
    assert f"line-height: {ROW_MM:g}mm" in rule and f"height: {ROW_MM:g}mm" in rule and "nowrap" in rule


def test_every_therapy_is_a_row_group_of_one_stance_table(engine, kb):
    doc = _doc(engine, kb, "05")
    html = pdf.render_print_html(doc)
    part = html[html.index("<h2>Every guideline"):html.index("<h2>", html.index("<h2>Every guideline") + 4)]
    assert part.count("<table") == 1 and part.count("<thead>") == 1  # the header repeats on each page
    names = re.findall(r'<tbody class="therapy"><tr class="tname"><th colspan="4">([^<]+)</th>', part)
    assert names and len(names) == part.count('<tbody class="therapy">')
    assert [html_lib.unescape(n) for n in names] == [o["name"] for o in prepare(doc)["options"]]


@pytest.fixture
def tiny_report(monkeypatch):
    monkeypatch.setattr(pdf, "render_print_html", lambda a: "<html><body><p>x</p></body></html>")
    import weasyprint

    seen: list[bool] = []
    real = weasyprint.HTML.write_pdf

    def spy(self, *args, **kwargs):
        seen.append(gc.isenabled())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", spy)
    return seen


def test_a_render_pauses_the_cycle_collector_and_leaves_it_as_found(tiny_report):
    assert gc.isenabled()
    assert pdf.render_pdf({}).startswith(b"%PDF")
    assert tiny_report == [False] and gc.isenabled()
    gc.disable()
    try:
        pdf.render_pdf({})
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
    with pytest.raises(RuntimeError):
        with pdf.cyclic_gc_paused():
            raise RuntimeError("layout failed")
    assert gc.isenabled()


def test_overlapping_renders_resume_the_collector_only_after_the_last(tiny_report):
    entered, first_ended, seen = threading.Event(), threading.Event(), []

    def second():
        with pdf.cyclic_gc_paused():
            entered.set()
            first_ended.wait(10)
            seen.append(gc.isenabled())  # the first render has ended: still paused for this one

    t = threading.Thread(target=second)
    with pdf.cyclic_gc_paused():
        t.start()
        assert entered.wait(10)
    first_ended.set()
    t.join(10)
    assert seen == [False] and gc.isenabled()
