"""The web report in a real browser: the plan in the first screen, no sideways scroll on a phone, skip links.

Screenshots of every page checked are saved under a temporary directory and their paths printed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from rplnav.examples import examples_dir
from rplnav.patient import read_patient
from rplnav.render.html import render_html
from tests.service.test_web import CHROMIUM_ARGS

EXAMPLES = tuple(f"{n:02d}" for n in range(1, 11))  # every example patient, short plans and long
DESKTOP, PHONE = {"width": 1366, "height": 900}, {"width": 390, "height": 844}

BOX = "(sel) => { const e = document.querySelector(sel); if (!e) return null; const r = e.getBoundingClientRect(); " \
      "return [r.top, r.bottom]; }"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shots() -> Path:
    d = Path(tempfile.mkdtemp(prefix="rplnav-report-shots-"))
    print(f"\nscreenshots: {d}")
    return d


def _page(browser, kb, engine, prefix: str, viewport: dict[str, int]):
    path = next(examples_dir().glob(f"{prefix}*.yaml"))
    doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies)))
    page = browser.new_page(viewport=viewport)
    page.set_content(render_html(doc, nav=True, pdf_url="#"))
    return doc, page


@pytest.mark.parametrize("prefix", EXAMPLES)
def test_plan_fits_the_first_desktop_screen(browser, kb, engine, shots, prefix):
    doc, page = _page(browser, kb, engine, prefix, DESKTOP)
    try:
        page.screenshot(path=str(shots / f"{prefix}-desktop.png"))
        print(f"screenshot: {shots / f'{prefix}-desktop.png'}")
        height = page.evaluate("innerHeight")
        for sel in (".plan-headline", "h3.plan-sup", "h3.plan-against", ".plan-list.against > li:last-child",
                    "h3.plan-next"):
            box = page.evaluate(BOX, sel)
            assert box is not None, sel
            assert box[1] <= height, (prefix, sel, box)
        assert doc["plan"]["headline"] in page.inner_text(".plan-headline")
        visible = page.inner_text(".plan-list.against")  # "advised against" is never behind a <details>
        for x in doc["plan"]["against"]:
            assert x["name"] in visible
        assert page.evaluate("document.querySelectorAll('.plan-list.against details.more').length") == 0
        assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate("innerWidth")
    finally:
        page.close()


@pytest.mark.parametrize("prefix", EXAMPLES)
def test_phone_has_no_sideways_scroll_and_opens_on_the_plan(browser, kb, engine, shots, prefix):
    _, page = _page(browser, kb, engine, prefix, PHONE)
    try:
        page.screenshot(path=str(shots / f"{prefix}-phone.png"))
        print(f"screenshot: {shots / f'{prefix}-phone.png'}")
        assert page.evaluate("document.scrollingElement.scrollWidth") <= page.evaluate("innerWidth")
        height = page.evaluate("innerHeight")
        for sel in (".plan-headline", "h3.plan-sup"):
            assert page.evaluate(BOX, sel)[0] < height, (prefix, sel)
    finally:
        page.close()


def test_skip_links_are_the_first_tab_stops(browser, kb, engine):
    _, page = _page(browser, kb, engine, "03", DESKTOP)
    try:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#plan"
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#matrix"
        page.keyboard.press("Enter")
        assert page.evaluate(BOX, "#matrix")[0] < 50  # the page jumped to the matrix
    finally:
        page.close()


@pytest.mark.parametrize("prefix", EXAMPLES)
def test_pdf_plan_on_page_one_every_guideline_no_blank_page(kb, engine, tmp_path, prefix):
    import subprocess

    from rplnav.render.html import prepare
    from rplnav.render.pdf import render_pdf

    path = next(examples_dir().glob(f"{prefix}*.yaml"))
    doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies)))
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_pdf(doc))

    def text(first: int, last: int) -> str:
        return subprocess.run(["pdftotext", "-f", str(first), "-l", str(last), str(pdf), "-"], capture_output=True,
                              text=True, check=True).stdout

    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(next(x.split()[1] for x in info.splitlines() if x.startswith("Pages:")))
    assert 1 <= pages <= 10, pages
    page1 = " ".join(text(1, 1).split())
    for head in ("The plan for her", "Supported for her", "Advised against for her", "Next: record or test"):
        assert head in page1, (prefix, head)
    for x in doc["plan"]["against"]:
        assert x["name"] in page1, (prefix, x["name"])
    squeezed = "".join(text(1, pages).split())
    for g in prepare(doc)["guidelines"] + list(doc["rpl"]):
        assert g in squeezed, (prefix, g)
    for n in range(1, pages + 1):
        assert text(n, n).split(), f"{prefix}: page {n} is blank"


AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"


@pytest.mark.parametrize("prefix", EXAMPLES)
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_axe_finds_no_serious_violation(browser, kb, engine, prefix, viewport):
    """WCAG 2.1 A/AA rules by axe-core, run in the browser on the rendered report."""
    _, page = _page(browser, kb, engine, prefix, viewport)
    try:
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
        res = page.evaluate("axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', "
                            "'wcag21aa']}})")
        assert {r["id"] for r in res["passes"]} >= {"color-contrast", "document-title", "html-has-lang"}
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"][:3]]) for v in res["violations"]
               if v["impact"] in ("serious", "critical")]
        assert not bad, (prefix, bad)
    finally:
        page.close()


def test_the_evidence_section_reads_as_sentences_not_a_data_dump(kb, engine):
    """Her stratum in words and a two-decimal effect table, the plan's therapies first; no raw keys, no
    16-digit numbers."""
    import re

    from rplnav.render.html import render_html

    path = next(examples_dir().glob("03*.yaml"))
    doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies)))
    page = render_html(doc)
    section = page[page.index('id="evidence"'):]
    section = section[:section.index("</section>")]
    assert "n_complete" not in section and "log_estimate" not in section
    assert not re.search(r"\d\.\d{6,}", section)
    ev = next(o["evidence"] for o in doc["options"] if o["therapy"] == "aspirin_lmwh")
    assert ev["stratum_text"].split(":")[0] in section
    first_supported = doc["plan"]["supported"][0]["name"]
    names = re.findall(r"<h3>([^<]+)</h3>", section)
    assert names and names[0] == first_supported.replace("&", "&amp;")


def test_the_report_shows_what_was_entered(kb, engine):
    """Every earlier pregnancy, the findings, and history lists as given — 'not documented' when omitted,
    'none' when the record says none — so a reader can check the input behind the decisions."""
    from rplnav.render.html import render_html

    records = Path(__file__).resolve().parents[1] / "realism" / "records"
    doc = engine.assess(read_patient(str(records / "r07-low-titre-acl-igm.yaml"), kb.tests, set(kb.therapies)))
    entered = doc.to_dict()["entered"]
    assert [p["gestational_age"] for p in entered["pregnancies"]] == ["6+6", "7+4", "8+1"]
    assert entered["conditions"] is None and entered["thromboses"] is None
    page = render_html(doc)
    section = page[page.index('id="entered"'):]
    section = section[:section.index("</section>")]
    assert section.count("<tr>") == 1 + 3  # header + three pregnancies
    assert "Conditions: <em>not documented</em>" in section and "uterus: normal" in section
    doc5 = engine.assess(read_patient(str(records / "r05-aps-refractory.yaml"), kb.tests, set(kb.therapies)))
    page5 = render_html(doc5)
    assert "tissue karyotype euploid" in page5 and "Conditions: none" in page5


def test_the_why_layer_shows_each_plan_therapys_statements_open(kb, engine):
    """Under the plan, per therapy in it: every statement that reaches her with stance, strength, certainty,
    verification and the facts that make it apply, visible without opening anything."""
    path = next(examples_dir().glob("03*.yaml"))
    doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies)))
    page = render_html(doc)
    why = page[page.index('id="why"'):]
    why = why[:why.index("</section>")]
    assert "<details" not in why
    plan = doc.to_dict()["plan"]
    for x in plan["supported"] + plan["against"]:
        assert x["name"].replace("&", "&amp;") in why
    acr = next(s for o in doc.to_dict()["options"] if o["therapy"] == "aspirin_lmwh" for s in o["stances"]
               if s["guideline"] == "ACR-2020" and s["applies"] is True)
    assert acr["statement"] in why and "aps.obstetric = true" in why
    assert page.index('id="plan"') < page.index('id="why"') < page.index('id="matrix"')


def test_the_evidence_section_draws_a_forest_plot_from_the_document(kb, engine):
    """Per therapy with pooled trials: an accessible figure (SVG image named by its summary, a caption, the same
    numbers as a table), every trial's effect, CI and weight as RevMan prints them, her stratum's diamond; drawn
    from the document alone (a changed row in the stored document changes the plot)."""
    import copy
    import re

    from rplnav.render.html import forest_figure

    path = next(examples_dir().glob("05*.yaml"))
    doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies))).to_dict()
    page = render_html(doc)
    section = page[page.index('id="evidence"'):]
    section = section[:section.index("</section>")]
    pooled = [o for o in doc["options"] if o["evidence"] and (o["evidence"]["all"] or {}).get("trials")]
    assert section.count('<figure class="forest-fig">') == len(pooled) >= 5
    assert section.count("<figcaption>") == len(pooled)
    ev = next(o["evidence"] for o in doc["options"] if o["therapy"] == "aspirin_lmwh")
    fig = forest_figure(ev, "Low-dose aspirin + heparin")
    svg = fig[fig.index("<svg"):fig.index("</svg>")]
    assert 'role="img"' in svg and "<title>Forest plot, Low-dose aspirin + heparin" in svg
    for t in ev["all"]["trials"] + ev["stratum"]["trials"]:
        printed = f"{t['estimate']:.2f} [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}]"
        assert printed in svg and f">{t['weight']:.1f}%<" in svg, t["id"]
        assert f"<td>{t['treatment_events']}/{t['treatment_total']}</td>" in fig
    s = ev["stratum"]
    assert f"{s['estimate']:.2f} [{s['ci'][0]:.2f}, {s['ci'][1]:.2f}]" in svg
    assert f"Her stratum (k = {s['k']})" in svg
    marked = [t for t in ev["all"]["trials"] if t["in_stratum"]]
    assert svg.count("▸ ") == len(marked) + 1  # each marked trial, and the legend in the panel heading
    assert not re.search(r"\d\.\d{3,}", re.sub(r'(x|y|x1|x2|y1|y2|width|height|points)="[^"]*"', "", svg))
    # the renderer reads only the document: change one stored row and the plot follows
    changed = copy.deepcopy(ev)
    changed["all"]["trials"][0]["estimate"] = 3.21
    assert "3.21 [" in forest_figure(changed, "x") and "3.21 [" not in fig


def test_the_forest_plot_scrolls_inside_its_frame_on_a_phone(browser, kb, engine):
    _, page = _page(browser, kb, engine, "05", PHONE)
    try:
        fig = page.query_selector("figure.forest-fig")
        fig.scroll_into_view_if_needed()
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        wrap = page.evaluate("(() => { const e = document.querySelector('.forest-wrap'); "
                             "return [e.scrollWidth, e.clientWidth, e.tabIndex]; })()")
        assert wrap[0] >= wrap[1] and wrap[2] == 0  # the plot keeps its size and its frame is keyboard-scrollable
    finally:
        page.close()


def test_the_pdf_draws_the_plans_first_forest_plots(kb, engine, tmp_path):
    """On paper: the forest plots of the first plan therapies with pooled trials, each trial's counts, weight and
    effect as RevMan prints them; the study sources behind the other pooled figures are named by id."""
    import subprocess

    from rplnav.render.pdf import FOREST_PLOTS, render_pdf

    path = next(examples_dir().glob("05*.yaml"))
    doc = engine.assess(read_patient(str(path), kb.tests, set(kb.therapies))).to_dict()
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(render_pdf(doc))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    by_tid = {o["therapy"]: o for o in doc["options"]}
    plan = [by_tid[x["therapy"]] for x in doc["plan"]["supported"] + doc["plan"]["against"]]
    drawn = list(dict.fromkeys(o["therapy"] for o in plan if o["evidence"] and (o["evidence"]["all"] or {}).get("trials")))
    assert len(drawn) > FOREST_PLOTS
    assert text.count("Subtotal (95% CI)") == sum(
        1 + bool(by_tid[t]["evidence"]["stratum"]) for t in drawn[:FOREST_PLOTS])
    ev = by_tid[drawn[0]]["evidence"]
    for t in ev["all"]["trials"]:
        assert f"{t['estimate']:.2f} [{t['ci'][0]:.2f}, {t['ci'][1]:.2f}]" in text, t["id"]
        assert f"{t['weight']:.1f}%" in text
    squeezed = "".join(text.split())
    for s in doc["sources"]:  # every source is on paper: in full, or by id
        assert s["id"] in squeezed, s["id"]
