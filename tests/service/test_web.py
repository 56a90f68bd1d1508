"""Web app and renderers: form, report, PDF, monograph and comparison pages; a real browser run."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from typer.testing import CliRunner

from rplnav.cli import app as cli_app
from rplnav.examples import examples_dir
from rplnav.render.html import render_html
from rplnav.render.pdf import render_pdf
from tests.service.conftest import csrf, example

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_render_html_is_self_contained(engine, make):
    a = engine.assess(make(pregnancies=[{"outcome": "miscarriage", "gestational_age": 7}] * 3,
                           current={"gestational_age": "7+0", "intrauterine_confirmed": True}))
    page = render_html(a)
    assert page.startswith("<!doctype html>")
    assert 'id="stance-matrix"' in page and "<svg" in page
    assert "http://" not in page.split("<body>")[0] and "<script" not in page  # no network assets, no JS
    assert a["knowledge_version"] in page


def test_render_pdf(engine, make, tmp_path):
    a = engine.assess(make(pregnancies=[{"outcome": "miscarriage", "gestational_age": 7}] * 2))
    pdf = render_pdf(a)
    assert pdf.startswith(b"%PDF-")
    f = tmp_path / "r.pdf"
    f.write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(f), "-"], capture_output=True, text=True, check=True).stdout
    assert "RPL Navigator assessment" in text and a["knowledge_version"][:19] in text


def test_cli_html_and_pdf(tmp_path):
    src = str(next(examples_dir().glob("03*.yaml")))
    r = CliRunner().invoke(cli_app, ["assess", src, "--format", "html"])
    assert r.exit_code == 0 and "<html" in r.stdout
    r = CliRunner().invoke(cli_app, ["assess", src, "--format", "pdf"])
    assert r.exit_code == 2
    out = tmp_path / "r.pdf"
    r = CliRunner().invoke(cli_app, ["assess", src, "--format", "pdf", "--out", str(out)])
    assert r.exit_code == 0 and out.read_bytes().startswith(b"%PDF-")


def test_api_html_format(client):
    r = client.post("/api/v1/assess?format=html", json=example("03"))
    assert r.status_code == 200 and "demo-aps-obstetric" in r.text and "Download PDF" in r.text


def test_form_pages(client):
    r = client.get("/")
    assert r.status_code == 200 and 'id="patient-form"' in r.text
    r = client.get("/?example=03-obstetric-aps")
    assert 'value="demo-aps-obstetric"' in r.text
    r = client.post("/assess", data={"id": "x", "age": "3", "labs.0.test": "tsh", "labs.0.value": "abc",
                                     "labs.0.unit": "mIU/L", "csrf": csrf(client)})
    assert r.status_code == 422 and "labs[0].value" in r.text and "age" in r.text
    assert client.get("/therapies/ivig").status_code == 200
    assert client.get("/therapies/nope").status_code == 404
    r = client.get("/guidelines")
    assert r.status_code == 200 and 'id="guideline-matrix"' in r.text
    assert client.get("/reports/" + "0" * 32).status_code == 404
    assert client.get("/static/style.css").status_code == 200


def test_blank_form_does_not_assert_none(client):
    """A fresh form must not record "no conditions" or "no thrombosis" on the clinician's behalf: both start
    as not documented, and a form posted untouched sends neither list (CONTRACT: absent is not none)."""
    import re

    page = client.get("/").text
    for name in ("conditions_known", "findings.thromboses"):
        select = re.search(rf'<select name="{re.escape(name)}">(.*?)</select>', page, re.S)
        assert select, name
        selected = re.findall(r'<option value="([^"]*)" selected', select.group(1))
        assert selected in ([], [""]), (name, selected)
        assert "not documented" in select.group(1)
    from rplnav.service.web import form_to_patient

    doc = form_to_patient({"id": ["x"], "age": ["33"], "conditions_known": [""], "findings.thromboses": [""]})
    assert "conditions" not in doc and "thromboses" not in doc.get("findings", {})
    # an example that states its lists keeps them
    page = client.get("/?example=03-obstetric-aps").text
    select = re.search(r'<select name="conditions_known">(.*?)</select>', page, re.S).group(1)
    assert re.findall(r'<option value="([^"]*)" selected', select) == ["yes"]


def test_upload_yaml_and_bundle(client):
    import json

    from tests.service.test_fhir import aps_bundle

    y = next(examples_dir().glob("03*.yaml")).read_bytes()
    r = client.post("/upload", files={"file": ("p.yaml", y, "application/yaml")}, data={"csrf": csrf(client)})
    assert r.status_code == 200 and 'id="stance-matrix"' in r.text
    r = client.post("/upload", files={"file": ("b.json", json.dumps(aps_bundle()).encode(), "application/json")},
                    data={"csrf": csrf(client)})
    assert r.status_code == 200 and "FHIR data not used" in r.text


def test_browser_aps_patient(live_server, tmp_path):
    """Headless Chromium: fill the form for an APS patient, submit, check matrix and alerts, download the PDF."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="pw-profile-"), executable_path="/usr/bin/chromium", headless=True,
            args=CHROMIUM_ARGS, accept_downloads=True, viewport={"width": 1280, "height": 900})
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.set_default_timeout(120_000)
            page.goto(live_server.url + "/")
            page.fill("#f-id", "browser-aps")
            page.fill("#f-age", "33")
            page.fill("#f-country", "US")
            page.fill('input[name="assessed_on"]', "2026-11-01")
            for i, (ga, date) in enumerate([("6+5", "2023-01"), ("8+0", "2023-09"), ("7+2", "2024-06")]):
                if i > 0:
                    page.click("#add-pregnancy")
                page.select_option(f'select[name="pregnancies.{i}.outcome"]', "miscarriage")
                page.fill(f'input[name="pregnancies.{i}.gestational_age"]', ga)
                page.fill(f'input[name="pregnancies.{i}.date"]', date)
            labs = [("lupus_anticoagulant", "positive", None, None, "2024-09-02"),
                    ("lupus_anticoagulant", "positive", None, None, "2024-12-09"),
                    ("anticardiolipin_igg", None, "55", "GPL", "2024-09-02"),
                    ("anticardiolipin_igg", None, "51", "GPL", "2024-12-09"),
                    ("tsh", None, "2.4", "mIU/L", "2024-09-02")]
            for i, (test, result, value, unit, date) in enumerate(labs):
                if i > 0:
                    page.click("#add-lab")
                page.select_option(f'select[name="labs.{i}.test"]', test)
                if result:
                    page.select_option(f'select[name="labs.{i}.result"]', result)
                else:
                    page.fill(f'input[name="labs.{i}.value"]', value)
                    page.select_option(f'select[name="labs.{i}.unit"]', unit)  # offered after choosing the test
                page.fill(f'input[name="labs.{i}.date"]', date)
            page.select_option('select[name="findings.uterus"]', "normal")
            page.select_option('select[name="findings.parental_karyotype"]', "normal")
            page.select_option('select[name="findings.thromboses"]', "none")
            page.select_option('select[name="conditions_known"]', "yes")
            page.click("#submit")
            page.wait_for_selector("#stance-matrix")
            assert page.inner_text("#patient-id") == "browser-aps"
            cell = page.locator('#opt-aspirin_lmwh td[data-guideline="ACR-2020"]')
            assert "strong for" in cell.inner_text()
            cell.locator("summary").first.click()
            assert "Obstetric APS" in cell.inner_text()
            alerts = page.inner_text("#alerts")
            assert "CRITICAL" in alerts and "Lymphocyte immunotherapy" in alerts
            assert "met" in page.inner_text("#aps")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot: {shot}")
            # the PDF is rendered on request; on a loaded machine that can take longer than Playwright's 30 s
            with page.expect_download(timeout=180_000) as dl:
                page.click("#download-pdf")
            pdf = Path(dl.value.path()).read_bytes()
            assert pdf.startswith(b"%PDF-")
        finally:
            ctx.close()


def test_comparison_page_tells_a_gap_from_silence(client):
    """NICE NG126 covers only progesterone: it is silent on levothyroxine. ESHRE covers luteal support, so its
    missing dydrogesterone statement is a gap in this knowledge base ("not encoded"), not silence."""
    import re

    page = client.get("/guidelines").text
    heads = re.findall(r'<th scope="col">([^<]+)</th>', page)[1:]

    def cell(therapy_href: str, guideline: str) -> str:
        row = re.search(rf'<tr><th scope="row"><a href="/therapies/{therapy_href}">.*?</tr>', page).group(0)
        cells = re.findall(r"<td[^>]*>.*?</td>", row)
        return cells[heads.index(guideline)]

    assert 'class="na"' in cell("levothyroxine", "NICE-NG126")
    assert "not encoded" in cell("dydrogesterone", "ESHRE-2022")
    assert "not encoded" not in cell("ivig", "ESHRE-2022") and "st-" in cell("ivig", "ESHRE-2022")
