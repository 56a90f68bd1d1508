"""REST API, version 1: assessment, monographs, guidelines, knowledge-base facts (OpenAPI at /docs)."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from rplnav import __version__
from rplnav.assessment import Assessment
from rplnav.audit import sha256_of
from rplnav.interop.fhir import guidance_response
from rplnav.patient import InputError
from rplnav.service.access import report_principal
from rplnav.service.errors import ClientError, problem, problem_responses
from rplnav.service.monographs import guideline_matrix, knowledge_summary, monograph

router = APIRouter(prefix="/api/v1", tags=["api"])

EXAMPLE_PATIENT: dict[str, Any] = {
    "schema": "rplnav.patient/v1", "id": "demo-aps-01", "age": 33, "country": "US",
    "pregnancies": [
        {"outcome": "miscarriage", "gestational_age": "6+5", "date": "2023-01"},
        {"outcome": "miscarriage", "gestational_age": "8+0", "date": "2023-09"},
        {"outcome": "miscarriage", "gestational_age": "7+2", "date": "2024-06"},
    ],
    "labs": [
        {"test": "lupus_anticoagulant", "result": "positive", "date": "2024-09-02"},
        {"test": "lupus_anticoagulant", "result": "positive", "date": "2024-12-09"},
    ],
}
BODY = {
    "required": True,
    "description": "A patient document (`schema: rplnav.patient/v1`, JSON or YAML) or a FHIR R4 Bundle "
                   "(`resourceType: Bundle`) with Patient, Condition, Observation, MedicationRequest/Statement.",
    "content": {
        "application/json": {"schema": {"type": "object", "additionalProperties": True},
                             "example": EXAMPLE_PATIENT},
        "application/fhir+json": {"schema": {"type": "object", "additionalProperties": True}},
        "application/yaml": {"schema": {"type": "string"}},
    },
}
OBJ = {"schema": {"type": "object"}}


def caller_of(request: Request) -> str:
    """The audit caller of a REST call: the API does not authenticate, so no client-chosen label is taken
    (the X-RPLNav-Caller header was); verified callers are the CDS Hooks JWT issuers."""
    return "api"


async def _record(request: Request, kind: str, body: bytes, status: int, output: Any,
                  event_id: str | None = None, principal: str | None = None) -> str:
    core = request.app.state.core
    eid = await run_in_threadpool(
        core.audit.record, kind=kind, endpoint=f"{request.method} {request.url.path}", caller=caller_of(request),
        input_sha256=sha256_of(body), status=status, output=output, knowledge_version=core.kb.version,
        event_id=event_id, principal=principal)
    if core.settings.pause_after_audit_seconds:
        await asyncio.sleep(core.settings.pause_after_audit_seconds)
    return eid


@router.post(
    "/assess",
    summary="Assess one patient",
    description="Returns the `rplnav.assessment/v1` document (or, with `format=fhir`, a FHIR R4 Bundle holding "
                "a GuidanceResponse and a RequestGroup; `html` and `md` give the printable report). Invalid input "
                "gives 422 with every problem and its field path. Every call is written to the audit log.",
    openapi_extra={"requestBody": BODY},
    responses={200: {"description": "The assessment", "model": Assessment, "content": {
        "application/fhir+json": OBJ, "text/html": {"schema": {"type": "string"}},
        "text/markdown": {"schema": {"type": "string"}}}},
        **problem_responses(400, 401, 413, 415, 422)},
    response_class=JSONResponse,
)
async def assess(
    request: Request,
    format: Literal["json", "fhir", "html", "md"] = Query("json", description="output format"),
    guidelines: str | None = Query(None, description="only these guideline ids, comma-separated",
                                   max_length=500),
    strict: bool = Query(False, description="history the record omits stays undecided instead of being taken "
                                            "as absent and listed under `assumptions`"),
) -> Response:
    core = request.app.state.core
    principal = report_principal(request)  # 401 when the proxy's user is required and missing
    body = await request.body()
    doc = core.decode(body, request.headers.get("content-type"))
    keep = core.guideline_list(guidelines)
    try:
        a = await run_in_threadpool(core.assess_doc, doc, keep, "body", strict)
    except InputError as e:
        await _record(request, "assess", body, 422, {"problems": e.problems})
        raise
    if format == "fhir":
        from rplnav.service.cds import service_url

        out: Any = guidance_response(a, _cards(request, a), module_uri=service_url(request, "/api/v1/assess"))
        await _record(request, "assess", body, 200, a)
        return JSONResponse(out, media_type="application/fhir+json")
    eid = await _record(request, "assess", body, 200, a, principal=principal)
    if format == "html":
        from rplnav.render.html import render_html

        return HTMLResponse(render_html(a, pdf_url=f"/reports/{eid}.pdf"))
    if format == "md":
        from rplnav.render.markdown import assessment_markdown

        return PlainTextResponse(assessment_markdown(a), media_type="text/markdown")
    # orjson: the ~390 KB document in under 1 ms, where the stdlib encoder behind JSONResponse takes ~8 ms
    # (the same JSON values; a float may be spelt differently, e.g. 0.0000157 for 1.57e-05)
    return Response(orjson.dumps(a.to_dict()), media_type="application/json",
                    headers={"X-RPLNav-Report": f"/reports/{eid}"})


def _cards(request: Request, a: dict[str, Any]) -> list[dict[str, Any]]:
    from rplnav.service.cards import CardMaker
    from rplnav.service.cds import service_url

    return CardMaker(service_url(request, "")).patient_view(a)


@router.get("/therapies/{therapy_id}", summary="Therapy monograph",
            responses={200: {"description": "The monograph", "content": {"application/json": OBJ}},
                       **problem_responses(404)})
async def therapy(request: Request, therapy_id: str) -> Response:
    core = request.app.state.core
    try:
        mono = monograph(core.kb, therapy_id)
    except KeyError as e:
        raise ClientError(404, "Unknown therapy", str(e.args[0]) if e.args else therapy_id) from None
    return JSONResponse(json.loads(json.dumps(mono, default=str)))


@router.get("/guidelines", summary="Guidelines in the knowledge base, with their coverage",
            responses={200: {"description": "Guidelines", "content": {"application/json": OBJ}}})
async def guidelines(request: Request) -> Response:
    kb = request.app.state.core.kb
    items = []
    for g in kb.guidelines.values():
        d = g.model_dump(mode="json")
        items.append(d)
    return JSONResponse({"knowledge_version": kb.version, "guidelines": items,
                         "matrix": guideline_matrix(kb)})


@router.get("/knowledge", summary="Knowledge-base version and statistics",
            responses={200: {"description": "Version and statistics", "content": {"application/json": OBJ}}})
async def knowledge(request: Request) -> Response:
    kb = request.app.state.core.kb
    body = {"version": kb.version, "tool_version": __version__, **knowledge_summary(kb)}
    return JSONResponse(json.loads(json.dumps(body, default=str)))


@router.get("/schema/{name}", summary="A published JSON Schema: `assessment` (the output) or `patient` (the input)",
            responses={200: {"description": "JSON Schema (draft 2020-12)", "content": {"application/json": OBJ}},
                       **problem_responses(404)})
async def schema(name: str) -> Response:
    from rplnav.patient import closest
    from rplnav.schemas import SCHEMAS

    if name not in SCHEMAS:
        raise ClientError(404, "Unknown schema", f"'{name[:100]}' is not a published schema"
                          f"{closest(name, sorted(SCHEMAS))}; choose {' or '.join(sorted(SCHEMAS))}")
    return JSONResponse(SCHEMAS[name](), media_type="application/schema+json")


@router.get("/health", summary="Liveness", responses={200: {"description": "ok",
                                                             "content": {"application/json": OBJ}}})
async def health(request: Request) -> Response:
    core = request.app.state.core
    return JSONResponse({"status": "ok", "knowledge_version": core.kb.version, "audit": core.audit.dialect})


__all__ = ["router", "problem"]
