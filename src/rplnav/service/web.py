"""Web pages (server-rendered Jinja2, a little JavaScript, no network assets): patient form, report, PDF,
therapy monographs, guideline comparison."""

from __future__ import annotations

import datetime as dt
import hmac
import json
import re
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from rplnav.audit import sha256_of
from rplnav.examples import example_files
from rplnav.patient import ANY_TEST_RESULTS, CONDITION_IDS, InputError, load_document
from rplnav.render.common import GUIDELINE_ORDER, stance_label
from rplnav.render.html import render_html
from rplnav.service.access import TOKEN_PARAM, may_open, report_principal
from rplnav.service.errors import ClientError
from rplnav.service.monographs import monograph

router = APIRouter(include_in_schema=False)
TEMPLATES = Path(__file__).parent / "templates"
env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))
OUTCOMES = ["miscarriage", "biochemical", "pul_resolved", "ectopic", "molar", "stillbirth", "live_birth", "termination"]
KARYOTYPES = ["unknown", "euploid", "aneuploid", "unbalanced_structural"]
UTERI = ["normal", "septate", "subseptate", "bicornuate", "unicornuate", "didelphys", "arcuate",
         "submucosal_fibroid", "polyp", "adhesions", "adenomyosis", "unknown"]
PARENTAL = ["normal", "balanced_translocation", "inversion", "other_abnormal", "unknown"]
CARRIERS = ["female", "male", "both"]
_INDEX = re.compile(r"^(pregnancies|labs)\.(\d+)\.(\w+)$")


def _page(name: str, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(env.get_template(name).render(**ctx), status_code=ctx.pop("status", 200))


_DECIMAL = re.compile(r"^-?[0-9]{1,15}(?:[.,][0-9]{1,15})?$", re.ASCII)


def _number(text: str) -> Any:
    """A typed number (ASCII digits, '.' or ',' as the decimal mark); anything else (nan, inf, 1e400,
    fullwidth digits) is passed on as text, and the validator names the field and says it is not a number."""
    if not _DECIMAL.match(text):
        return text
    if "." in text or "," in text:
        return float(text.replace(",", "."))
    return int(text)


def _tri(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text)


def form_to_patient(form: dict[str, list[str]]) -> dict[str, Any]:
    """The patient form (flat field names such as 'labs.2.unit') -> a patient document."""
    def one(k: str) -> str:
        return (form.get(k) or [""])[0].strip()

    doc: dict[str, Any] = {"schema": "rplnav.patient/v1", "id": one("id")}
    if one("age"):
        doc["age"] = _number(one("age"))
    for k in ("country", "assessed_on"):
        if one(k):
            doc[k] = one(k).upper() if k == "country" else one(k)
    cur: dict[str, Any] = {}
    if one("current.gestational_age"):
        cur["gestational_age"] = one("current.gestational_age")
    for k in ("intrauterine_confirmed", "fetal_heart_activity", "bleeding"):
        v = _tri(one(f"current.{k}"))
        if v is not None:
            cur[k] = v
    if one("current.conception"):
        cur["conception"] = one("current.conception")
    if cur:
        doc["current"] = cur
    rows: dict[str, dict[int, dict[str, str]]] = {"pregnancies": {}, "labs": {}}
    for key, values in form.items():
        m = _INDEX.match(key)
        if m and values and values[0].strip():
            rows[m.group(1)].setdefault(int(m.group(2)), {})[m.group(3)] = values[0].strip()
    pregs = []
    for _, r in sorted(rows["pregnancies"].items()):
        if not r.get("outcome") and set(r) <= {"poc_karyotype"}:
            continue
        p: dict[str, Any] = {}
        for k, v in r.items():
            if k == "treatments":
                p[k] = [t.strip() for t in v.split(",") if t.strip()]
            elif k == "fetal_heart_activity":
                if _tri(v) is not None:
                    p[k] = _tri(v)
            elif k == "gestational_age":
                p[k] = v
            else:
                p[k] = v
        pregs.append(p)
    if pregs:
        doc["pregnancies"] = pregs
    labs = []
    for _, r in sorted(rows["labs"].items()):
        if not r.get("test"):
            continue
        lab: dict[str, Any] = {}
        for k, v in r.items():
            lab[k] = _number(v) if k in ("value", "reference_high", "reference_low", "cutoff_p99") else v
        labs.append(lab)
    if labs:
        doc["labs"] = labs
    findings: dict[str, Any] = {}
    for k in ("uterus", "parental_karyotype", "parental_karyotype_carrier"):
        if one(f"findings.{k}"):
            findings[k] = one(f"findings.{k}")
    if _tri(one("findings.chronic_endometritis")) is not None:
        findings["chronic_endometritis"] = _tri(one("findings.chronic_endometritis"))
    th = one("findings.thromboses")
    if th == "none":
        findings["thromboses"] = []
    elif th:
        findings["thromboses"] = [{"type": th}]
    if findings:
        doc["findings"] = findings
    if one("conditions_known") == "yes" or form.get("conditions"):
        doc["conditions"] = [c for c in form.get("conditions", []) if c]
    meds = [m.strip() for m in one("medications").split(",") if m.strip()]
    if meds:
        doc["medications"] = meds
    elif one("medications_known") == "none":
        doc["medications"] = []
    ls: dict[str, Any] = {}
    for k in ("smoking", "alcohol"):
        if _tri(one(f"lifestyle.{k}")) is not None:
            ls[k] = _tri(one(f"lifestyle.{k}"))
    if one("lifestyle.bmi"):
        ls["bmi"] = _number(one("lifestyle.bmi"))
    if ls:
        doc["lifestyle"] = ls
    return doc


def _errors_by_row(problems: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        m = re.match(r"^(pregnancies\[\d+\]|labs\[\d+\]|current|findings|lifestyle)", p)
        out.setdefault(m.group(1) if m else "", []).append(p)
    return out


CSRF_COOKIE = "rplnav_csrf"
_CSRF = re.compile(r"^[A-Za-z0-9_-]{43}$")


def _csrf_token(request: Request) -> tuple[str, bool]:
    """The browser's form token (double-submit: a SameSite cookie and a hidden field); (token, is_new)."""
    have = request.cookies.get(CSRF_COOKIE) or ""
    return (have, False) if _CSRF.match(have) else (secrets.token_urlsafe(32), True)


def _csrf_ok(request: Request, form: Any) -> bool:
    """A form post counts only with the token of a form this service served to this browser: another site can
    make the browser post, but cannot read the cookie to copy it into the form."""
    cookie, sent = request.cookies.get(CSRF_COOKIE) or "", form.get("csrf")
    return bool(_CSRF.match(cookie)) and isinstance(sent, str) and hmac.compare_digest(cookie, sent)


CSRF_PROBLEM = "csrf: the form was not submitted (it came from another site, or expired); please submit it again"


def _form_page(request: Request, doc: dict[str, Any] | None = None, problems: list[str] | None = None,
               status: int = 200) -> HTMLResponse:
    token, new = _csrf_token(request)
    resp = _form_html(request, doc, problems, status, token)
    if new:
        public = request.app.state.core.settings.public_url or ""
        resp.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/",
                        secure=public.startswith("https://"))
    return resp


def _form_html(request: Request, doc: dict[str, Any] | None, problems: list[str] | None, status: int,
               csrf: str) -> HTMLResponse:
    kb = request.app.state.core.kb
    doc = doc or {}
    tests = [t for t in kb.tests.values()]
    units = {t.id: list(t.units) for t in tests}
    results = sorted({r for t in tests for r in t.results} | set(ANY_TEST_RESULTS))
    labs = list(doc.get("labs") or []) + [{}]
    pregs = list(doc.get("pregnancies") or []) + [{}]
    return _page(
        "form.html", title="Assess a patient", p=doc, problems=problems or [], errors=_errors_by_row(problems or []),
        pregnancies=pregs, labs=labs, tests=tests, results=results, outcomes=OUTCOMES, karyotypes=KARYOTYPES,
        uteri=UTERI, parental=PARENTAL, carriers=CARRIERS, condition_ids=CONDITION_IDS, therapy_ids=sorted(kb.therapies),
        units_for=lambda t: units.get(t or "", sorted({u for us in units.values() for u in us})),
        units_json=json.dumps(units).replace("</", "<\\/"), examples=[p.stem for p in example_files()],
        status=status, csrf=csrf)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, example: str | None = None) -> HTMLResponse:
    doc = None
    if example:
        match = [p for p in example_files() if p.stem == example]
        if match:
            doc = load_document(match[0].read_text(encoding="utf-8"), match[0].name)
            doc = json.loads(json.dumps(doc, default=str))
    return _form_page(request, doc)


async def _assess_and_show(request: Request, doc: Any, raw: bytes, form_doc: dict[str, Any] | None) -> Response:
    core = request.app.state.core
    principal = report_principal(request)
    try:
        a = await run_in_threadpool(core.assess_doc, doc)
    except InputError as e:
        await run_in_threadpool(core.audit.record, kind="assess", endpoint=f"POST {request.url.path}", caller="web",
                                input_sha256=sha256_of(raw), status=422, output={"problems": e.problems},
                                knowledge_version=core.kb.version)
        return _form_page(request, form_doc, e.problems, status=422)
    eid = await run_in_threadpool(core.audit.record, kind="assess", endpoint=f"POST {request.url.path}",
                                  caller="web", input_sha256=sha256_of(raw), status=200, output=a,
                                  knowledge_version=core.kb.version, principal=principal)
    return RedirectResponse(f"/reports/{eid}", status_code=303)


@router.post("/assess")
async def assess_form(request: Request) -> Response:
    form = await request.form()
    if not _csrf_ok(request, form):
        return _form_page(request, None, [CSRF_PROBLEM], status=403)
    data = {k: [str(v) for v in form.getlist(k) if k != "csrf"] for k in form.keys()}
    doc = form_to_patient(data)
    return await _assess_and_show(request, doc, json.dumps(doc, sort_keys=True).encode(), doc)


@router.post("/upload")
async def upload(request: Request) -> Response:
    core = request.app.state.core
    form = await request.form()
    if not _csrf_ok(request, form):
        return _form_page(request, None, [CSRF_PROBLEM], status=403)
    f = form.get("file")
    if f is None or isinstance(f, str):
        return _form_page(request, None, ["file: choose a YAML, JSON or FHIR Bundle file"], status=400)
    raw = await f.read()
    try:
        text = raw.decode("utf-8")
        doc = load_document(text, f.filename or "upload")
    except UnicodeDecodeError:
        return _form_page(request, None, [f"{f.filename}: not UTF-8 text"], status=400)
    except InputError as e:
        return _form_page(request, None, e.problems, status=400)
    form_doc = doc if isinstance(doc, dict) and doc.get("resourceType") != "Bundle" else None
    if form_doc is not None:
        form_doc = json.loads(json.dumps(form_doc, default=str))
    del core
    return await _assess_and_show(request, doc, raw, form_doc)


NOT_FOUND = "No such report"


def _stored(request: Request, event_id: str) -> dict[str, Any]:
    if not re.fullmatch(r"[0-9a-f]{32}", event_id):
        raise ClientError(404, NOT_FOUND)
    core = request.app.state.core
    row = core.audit.get(event_id)
    if row is None or not isinstance(row.output, dict):
        raise ClientError(404, NOT_FOUND)
    if not may_open(request, event_id, row.principal, core.links, core.settings.user_header):
        # the same answer as an unknown id: another caller learns nothing, not even that the report exists
        raise ClientError(404, NOT_FOUND)
    at = row.at if row.at.tzinfo else row.at.replace(tzinfo=dt.UTC)  # SQLite keeps naive UTC times
    if dt.datetime.now(dt.UTC) - at > dt.timedelta(hours=core.settings.report_ttl_hours):
        # a report link is a bearer secret: it stops working after RPLNAV_REPORT_TTL_HOURS
        raise ClientError(410, "Report link expired", f"report links work for {core.settings.report_ttl_hours:g} "
                                                      "hours; assess the patient again")
    if "cards" in row.output:  # hook rows: the cards; the assessment behind them is kept compressed
        return core.audit.detail(row) or {}
    return row.output


PRIVATE = {"Cache-Control": "no-store"}  # a report is not kept by the browser or a shared cache


@router.get("/reports/{event_id}.pdf")
async def report_pdf(request: Request, event_id: str) -> Response:
    a = _stored(request, event_id)
    if not a:
        raise ClientError(404, NOT_FOUND)
    from rplnav.render.pdf import render_pdf

    pdf = await run_in_threadpool(render_pdf, a)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(a.get("patient_id", "report")))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="rplnav-{name}.pdf"', **PRIVATE})


@router.get("/reports/{event_id}", response_class=HTMLResponse)
async def report(request: Request, event_id: str) -> HTMLResponse:
    a = _stored(request, event_id)
    if not a:
        raise ClientError(404, NOT_FOUND)
    pdf_url = f"/reports/{event_id}.pdf"
    token = request.query_params.get(TOKEN_PARAM)
    if token:  # _stored accepted it: the PDF link needs it too
        pdf_url += "?" + urlencode({TOKEN_PARAM: token})
    return HTMLResponse(render_html(a, pdf_url=pdf_url, nav=True), headers=PRIVATE)


def _render_value(v: Any) -> str:
    import html

    if isinstance(v, dict):
        if set(v) >= {"document", "locator"}:
            return f'<span class="src">[{html.escape(str(v["document"]))}, {html.escape(str(v["locator"]))}]</span>'
        return "<dl>" + "".join(f"<dt>{html.escape(str(k).replace('_', ' '))}</dt><dd>{_render_value(x)}</dd>"
                                for k, x in v.items() if x not in (None, "", [], {})) + "</dl>"
    if isinstance(v, list):
        return "<ul>" + "".join(f"<li>{_render_value(x)}</li>" for x in v) + "</ul>"
    if isinstance(v, str) and v in ("strong_for", "conditional_for", "good_practice", "research_only",
                                    "no_recommendation", "insufficient_evidence", "conditional_against",
                                    "strong_against", "not_permitted"):
        return f'<span class="st st-{v}">{html.escape(stance_label(v))}</span>'
    return html.escape(str(v))


@router.get("/therapies/{therapy_id}", response_class=HTMLResponse)
async def therapy_page(request: Request, therapy_id: str) -> HTMLResponse:
    try:
        mono = monograph(request.app.state.core.kb, therapy_id)
    except KeyError as e:
        raise ClientError(404, "Unknown therapy", str(e.args[0]) if e.args else therapy_id) from None
    mono = json.loads(json.dumps(mono, default=str))
    title = mono.get("name") or therapy_id
    return _page("page.html", title=title, body=_render_value(mono))


@router.get("/guidelines", response_class=HTMLResponse)
async def guidelines_page(request: Request) -> HTMLResponse:
    kb = request.app.state.core.kb
    try:
        from rplnav.kbstats import coverage

        matrix = coverage(kb).get("therapy_matrix")
    except Exception:  # noqa: BLE001
        matrix = None
    if not isinstance(matrix, dict):
        from rplnav.service.monographs import guideline_matrix

        gm = guideline_matrix(kb)
        matrix = {t: {g: [s["stance"] for s in gm["cells"].get(t, {}).get(g, [])] or "silent"
                      for g in gm["guidelines"]} for t in gm["therapies"]}
    gids = sorted(kb.guidelines, key=lambda g: GUIDELINE_ORDER.get(g, 99))
    import html

    head = "".join(f'<th scope="col">{html.escape(g)}</th>' for g in gids)
    rows = []
    for tid, cells in matrix.items():
        name = kb.therapies[tid].name if tid in kb.therapies else tid
        tds = []
        for g in gids:
            v = cells.get(g, "silent") if isinstance(cells, dict) else "silent"
            if isinstance(v, list) and v:
                tds.append("<td>" + " ".join(f'<span class="st st-{s}">{html.escape(stance_label(s))}</span>'
                                             for s in v) + "</td>")
            elif v == "not_encoded":
                tds.append('<td class="ne" title="The guideline covers this topic; no statement of it is encoded '
                           'in this knowledge base">not encoded</td>')
            else:
                tds.append('<td class="na" title="The guideline does not cover this topic">—</td>')
        rows.append(f'<tr><th scope="row"><a href="/therapies/{html.escape(tid)}">{html.escape(name)}</a></th>'
                    + "".join(tds) + "</tr>")
    body = ('<p class="muted">Every stance each guideline takes on each therapy, for any population. '
            '"—" = the guideline is silent (it does not cover the topic); "not encoded" = the guideline covers the '
            'topic but none of its statements on this therapy is in this knowledge base yet. '
            'Knowledge version <code>' + html.escape(kb.version) + '</code>.</p>'
            '<div class="scroll"><table class="matrix" id="guideline-matrix"><thead><tr><th scope="col">Therapy</th>'
            + head + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>")
    return _page("page.html", title="Guideline comparison", body=body)
