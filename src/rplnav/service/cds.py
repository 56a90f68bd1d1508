"""CDS Hooks 2.0: discovery, the patient-view and order-select/order-sign services, feedback.

Data come from the request's prefetch; whatever is missing is fetched from `fhirServer` (with the
`fhirAuthorization` bearer token when given); when neither works the answer is 412 with an OperationOutcome.
Every call is verified (JWT, see security.py) unless the server runs with --insecure-dev, and recorded in the
audit log (input hash, cards, caller) before the response is sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from rplnav.audit import sha256_of
from rplnav.inputdoc import MAX_BYTES, DocumentError, parse_document
from rplnav.interop.fhir import therapy_of
from rplnav.patient import InputError
from rplnav.service.access import TOKEN_PARAM, cds_principal
from rplnav.service.cards import CardMaker, clip
from rplnav.service.config import base_url
from rplnav.service.errors import ClientError
from rplnav.service.security import Unauthorized, looks_like_jwt

log = logging.getLogger("rplnav.service.cds")
router = APIRouter(tags=["cds-hooks"])

PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    "labs": "Observation?patient={{context.patientId}}&category=laboratory",
    "pregnancies": "Observation?patient={{context.patientId}}&code=urn:rplnav:codes:pregnancy-outcome|",
    "medications": "MedicationRequest?patient={{context.patientId}}",
}
SERVICES: dict[str, dict[str, Any]] = {
    "rplnav-patient-view": {
        "hook": "patient-view", "title": "RPL Navigator: recurrent pregnancy loss summary",
        "description": "Whether she meets each guideline's definition of recurrent pregnancy loss, her APS "
                       "classification (Sydney 2006, ACR/EULAR 2023), the most important missing work-up, the "
                       "options guidelines support for her and the ones they advise against, each with its source.",
    },
    "rplnav-order-select": {
        "hook": "order-select", "title": "RPL Navigator: check RPL treatments being selected",
        "description": "Warns when a selected medication (IVIG, intralipid, lymphocyte immunotherapy, "
                       "glucocorticoids, heparin, progesterone …) goes against guideline advice for her, is past "
                       "its timing window or is not permitted in her country; suggests aspirin + LMWH for "
                       "obstetric APS when it is missing.",
    },
    "rplnav-order-sign": {
        "hook": "order-sign", "title": "RPL Navigator: check RPL treatments before signing",
        "description": "The same checks as order-select, on every draft order about to be signed.",
    },
}
HOOK_VERSION = "2.0"


class FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="allow")
    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer", "bearer"]
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class HookRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="allow")
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: dict[str, Any] | None = None
    outcomeTimestamp: str = Field(min_length=1)


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackItem] = Field(min_length=1)


def outcome(status: int, text: str, code: str = "processing", headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return JSONResponse(body, status_code=status, headers=headers)


def malformed(e: ClientError) -> JSONResponse:
    """A body the bounded parser refused (400, 413, 415) as an OperationOutcome naming the problem."""
    text = "; ".join([e.title] + [str(p) for p in (e.problems or [])[:5]] + ([e.detail] if e.detail else []))
    return outcome(e.status, text, "invalid" if e.status == 400 else "not-supported")


def service_url(request: Request, path: str) -> str:
    """The configured public URL + path. The request's own URL (Host header, scheme) is used only when no
    public URL is set, which settings allow only without CDS clients or with --insecure-dev."""
    base = request.app.state.core.settings.public_url
    if base:
        return base + path
    return str(request.base_url).rstrip("/") + path


@dataclass(frozen=True)
class Caller:
    """A verified CDS client: its audit label (issuer, tenant) and the principal its reports are tied to."""

    label: str
    principal: str | None


async def authorise(request: Request) -> Caller:
    """The verified caller, or raises Unauthorized; 'insecure-dev' (no principal) when checks are off."""
    core = request.app.state.core
    if core.settings.insecure_dev:
        return Caller("insecure-dev", None)
    stray = [v for k, v in request.query_params.multi_items()
             if looks_like_jwt(v) or k.lower() in ("access_token", "token", "jwt")]
    args = (request.headers.get("authorization"), service_url(request, request.url.path), stray)
    # the replay check writes to the audit database: on the loop for SQLite, in a thread for a server
    if core.audit.local:
        claims = core.verifier.verify(*args)
    else:
        claims = await run_in_threadpool(core.verifier.verify, *args)
    who = claims["iss"]
    if claims.get("tenant"):
        who += f" tenant={claims['tenant']}"
    return Caller(who, cds_principal(claims))


def unauthorized() -> Response:
    return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})


@router.get("/cds-services", summary="CDS Hooks discovery",
            responses={200: {"description": "Services", "content": {"application/json": {"schema": {"type": "object"}}}},
                       401: {"description": "Unauthorized"}})
async def discovery(request: Request) -> Response:
    try:
        await authorise(request)
    except Unauthorized:
        return unauthorized()
    services = [{"id": sid, **meta, "prefetch": PREFETCH, "version": HOOK_VERSION} for sid, meta in SERVICES.items()]
    return JSONResponse({"services": services})


def ordered_therapies(a: Any, orders: list[dict[str, Any]]) -> list[str]:
    """The therapies the drafted medication orders are for, in order, each once (RxNorm or local code, or a
    drug name of the knowledge base's synonym table); orders for anything the assessment does not cover drop."""
    ids = {o["therapy"] for o in a["options"]}
    found = (therapy_of(r, ids) for r in orders if r.get("resourceType") in ("MedicationRequest", "MedicationStatement"))
    return list(dict.fromkeys(t for t in found if t))


def _unwrap(value: Any) -> Any:
    """Prefetch values: a resource, a searchset Bundle, null; cqf-ruler wraps them as {response, resource}."""
    if isinstance(value, dict) and "resourceType" not in value and "resource" in value:
        return value["resource"]
    return value


def _resources(value: Any) -> list[dict[str, Any]]:
    value = _unwrap(value)
    if not isinstance(value, dict):
        return []
    if value.get("resourceType") == "Bundle":
        out = []
        for e in value.get("entry") or []:
            r = e.get("resource") if isinstance(e, dict) else None
            if isinstance(r, dict) and r.get("resourceType") not in (None, "OperationOutcome"):
                out.append(r)
        return out
    return [value]


def _render(template: str, req: HookRequest, patient_id: str) -> str:
    user = str(req.context.get("userId") or "")
    # every value is percent-encoded: an id cannot add a path segment, a query or another host
    out = template.replace("{{context.patientId}}", quote(patient_id, safe=""))
    for k, v in req.context.items():
        if isinstance(v, str | int | float):
            out = out.replace("{{context." + k + "}}", quote(str(v), safe=""))
    for token, prefix in (("userPractitionerId", "Practitioner/"), ("userPractitionerRoleId", "PractitionerRole/"),
                          ("userPatientId", "Patient/"), ("userRelatedPersonId", "RelatedPerson/")):
        out = out.replace("{{" + token + "}}", quote(user[len(prefix):], safe="") if user.startswith(prefix) else "")
    return out


async def _audit(core: Any, **row: Any) -> str:
    if core.audit.local:
        return core.audit.record(**row)
    return await run_in_threadpool(core.audit.record, **row)


class PrefetchMissing(Exception):
    def __init__(self, keys: list[str], why: str):
        super().__init__(why)
        self.keys, self.why = keys, why


def allowed_server(request: Request, req: HookRequest) -> str:
    """The request's fhirServer, normalised, when it is on the configured list (RPLNAV_FHIR_SERVERS)."""
    try:
        base = base_url(req.fhirServer or "", "fhirServer")
    except ValueError:
        raise PrefetchMissing(list(PREFETCH), "fhirServer is not an absolute http(s) URL") from None
    if base not in request.app.state.core.settings.fhir_servers:
        raise PrefetchMissing(list(PREFETCH), "fhirServer is not one of the FHIR servers this service may query "
                                              "(RPLNAV_FHIR_SERVERS)")
    return base


def on_server(url: str, base: str) -> bool:
    """Same scheme, host and port as `base`, and a path under its path."""
    try:
        u, b = urlsplit(url), urlsplit(base)
        same_origin = (u.scheme, (u.hostname or "").lower(), u.port) == (b.scheme, b.hostname, b.port)
    except ValueError:
        return False
    return same_origin and not u.username and not u.password and (u.path == b.path or
                                                                  u.path.startswith(b.path + "/"))


async def _get(client: httpx.AsyncClient, url: str, headers: dict[str, str], timeout: float, key: str
               ) -> tuple[int, Any]:
    """GET a FHIR resource: the body read up to the input limit and parsed by the bounded parser."""
    async with client.stream("GET", url, headers=headers, timeout=timeout) as r:
        if r.status_code != 200:
            return r.status_code, None
        body = bytearray()
        async for chunk in r.aiter_bytes():
            body += chunk
            if len(body) > MAX_BYTES:
                raise PrefetchMissing([key], f"the FHIR server's answer is larger than {MAX_BYTES} bytes")
    try:
        return 200, parse_document(body.decode("utf-8"), "", "json")
    except (UnicodeDecodeError, DocumentError):
        raise PrefetchMissing([key], "the FHIR server answered with invalid or oversized JSON") from None


async def _fetch(request: Request, req: HookRequest, key: str, patient_id: str) -> Any:
    client: httpx.AsyncClient | None = request.app.state.http
    if client is None:  # app used without its lifespan (e.g. some test harnesses)
        async with httpx.AsyncClient() as temporary:
            request.app.state.http = temporary
            try:
                return await _fetch(request, req, key, patient_id)
            finally:
                request.app.state.http = None
    base = allowed_server(request, req)
    url = base + "/" + _render(PREFETCH[key], req, patient_id)
    headers = {"Accept": "application/fhir+json"}
    if req.fhirAuthorization is not None:
        headers["Authorization"] = f"Bearer {req.fhirAuthorization.access_token}"
    timeout = request.app.state.core.settings.fhir_timeout
    pages: list[dict[str, Any]] = []
    for _ in range(10):
        if not on_server(url, base):  # the EHR's token is only ever sent to the fhirServer it was issued for
            raise PrefetchMissing([key], "a next link points away from the fhirServer; not followed")
        status, doc = await _get(client, url, headers, timeout, key)
        if status == 404 and key == "patient":
            raise PrefetchMissing([key], "the FHIR server does not know this patient")
        if status != 200:
            raise PrefetchMissing([key], f"the FHIR server answered {status}")
        if not isinstance(doc, dict):
            raise PrefetchMissing([key], "the FHIR server answered with something that is not a resource")
        pages.append(doc)
        nxt = next((lk.get("url") for lk in doc.get("link") or [] if isinstance(lk, dict) and lk.get("relation")
                    == "next"), None) if doc.get("resourceType") == "Bundle" else None
        if not isinstance(nxt, str) or not nxt:
            break
        url = nxt
    if len(pages) == 1:
        return pages[0]
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [e for p in pages for e in (p.get("entry") or [])]}


async def gather(request: Request, req: HookRequest, patient_id: str) -> list[dict[str, Any]]:
    """Every resource the service needs: prefetch first, then the FHIR server; PrefetchMissing otherwise."""
    got: dict[str, Any] = {}
    missing = []
    for key in PREFETCH:
        value = (req.prefetch or {}).get(key, ...) if req.prefetch is not None else ...
        value = _unwrap(value) if value is not ... else ...
        if value is ... or (isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"):
            missing.append(key)
        else:
            got[key] = value
    if missing:
        if not req.fhirServer:
            raise PrefetchMissing(missing, "prefetch incomplete and no fhirServer to query")
        try:
            results = await asyncio.gather(*(_fetch(request, req, k, patient_id) for k in missing))
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            raise PrefetchMissing(missing, f"the FHIR server could not be queried ({type(e).__name__})") from None
        except ValueError:
            raise PrefetchMissing(missing, "the FHIR server answered with invalid JSON") from None
        got.update(dict(zip(missing, results, strict=True)))
    if not _resources(got.get("patient")):
        raise PrefetchMissing(["patient"], "no Patient resource")
    seen: set[tuple[str, str]] = set()
    out = []
    for key in PREFETCH:
        for r in _resources(got.get(key)):
            ident = (str(r.get("resourceType")), str(r.get("id", id(r))))
            if ident not in seen:
                seen.add(ident)
                out.append(r)
    return out


async def _caller_for(request: Request, service_id: str) -> Caller | Response:
    """The verified caller of a known service, or the response that refuses the call (bare 401, or 404)."""
    try:
        caller = await authorise(request)
    except Unauthorized:
        return unauthorized()
    if service_id not in SERVICES:
        return outcome(404, f"no CDS service '{service_id}'", "not-found")
    return caller


@router.post("/cds-services/{service_id}", summary="Call a CDS service",
             responses={200: {"description": "Cards", "content": {"application/json": {"schema": {"type": "object"}}}},
                        400: {"description": "Malformed request (OperationOutcome)"},
                        401: {"description": "Unauthorized"}, 404: {"description": "Unknown service"},
                        412: {"description": "Prefetch data missing and not obtainable (OperationOutcome)"}})
async def call_service(request: Request, service_id: str) -> Response:
    core = request.app.state.core
    caller = await _caller_for(request, service_id)
    if isinstance(caller, Response):
        return caller
    body = await request.body()
    try:
        raw = core.decode(body, request.headers.get("content-type"), yaml_ok=False)
        req = HookRequest.model_validate(raw)
    except ValidationError as e:
        return outcome(400, "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
                                      for err in e.errors()[:20]), "invalid")
    except ClientError as e:
        return malformed(e)
    hook = SERVICES[service_id]["hook"]
    if req.hook != hook:
        return outcome(400, f"service '{service_id}' answers the '{hook}' hook, not '{req.hook}'", "invalid")
    if req.fhirAuthorization is not None and not req.fhirServer:
        return outcome(400, "fhirAuthorization requires fhirServer (cds-r-1)", "invalid")
    if req.fhirServer is not None:
        try:
            base_url(req.fhirServer, "fhirServer")
        except ValueError as e:
            return outcome(400, str(e)[:300], "invalid")
    pid = req.context.get("patientId")
    if not isinstance(pid, str) or not pid:
        return outcome(400, "context.patientId is required", "required")
    pid = pid.split("/")[-1]
    orders: list[dict[str, Any]] = []
    if hook in ("order-select", "order-sign"):
        draft = req.context.get("draftOrders")
        if not isinstance(draft, dict):
            return outcome(400, "context.draftOrders (a Bundle) is required", "required")
        orders = _resources(draft)
        if hook == "order-select":
            sel = req.context.get("selections")
            if not isinstance(sel, list):
                return outcome(400, "context.selections is required for order-select", "required")
            wanted = {str(s) for s in sel}
            orders = [o for o in orders if f"{o.get('resourceType')}/{o.get('id')}" in wanted]
    try:
        resources = await gather(request, req, pid)
    except PrefetchMissing as e:
        log.info("412 for %s (%s): %s", service_id, ", ".join(e.keys), e.why)
        return outcome(412, f"{e.why}: {', '.join(e.keys)}", "incomplete")
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    event_id = uuid.uuid4().hex
    report_url = service_url(request, f"/reports/{event_id}")
    token = None
    if caller.principal is not None:
        # the clinician who follows the link has no JWT: a short-lived token ties the link to this caller
        not_after = time.time() + core.settings.report_ttl_hours * 3600
        token = core.links.token(event_id, caller.principal, not_after)
        report_url += f"?{TOKEN_PARAM}={token}"
    maker = CardMaker(service_url(request, ""), report_url)
    try:
        # On the event loop, not in a worker thread: the assessment is pure Python (~3-4 ms, holding the GIL),
        # so a thread adds a hand-off and GIL contention with the loop and nothing in parallel; each worker
        # process serves one core (uvicorn --workers).
        a = core.assess_doc(bundle)
    except InputError as e:
        a = None
        cards = [maker.card("RPL Navigator could not assess her: " + "; ".join(e.problems[:2]), "info",
                            "The EHR record lacks data RPL Navigator needs:\n" + "\n".join(
                                f"- {p}" for p in e.problems), {"label": "RPL Navigator"})]
        cards[0].pop("links", None)
    else:
        if a["losses"]["total"] == 0 and not a["facts"].get("current.pregnant") and hook == "patient-view":
            cards = []
        elif hook == "patient-view":
            cards = maker.patient_view(a)
        else:
            cards = maker.orders(a, ordered_therapies(a, orders), f"Patient/{pid}")
    for c in cards:
        c["summary"] = clip(c["summary"])
    out = {"cards": cards}
    # the audit row keeps the cards as shown, less the link token (a credential, never written down)
    kept = orjson.loads(orjson.dumps(cards).replace(token.encode(), b"(token)")) if token else cards
    # committed before the response is sent; SQLite (a local file, no fsync per commit) on the loop, a database
    # server in a worker thread so the loop is not held across a network round trip
    await _audit(core, kind="hook", endpoint=f"POST /cds-services/{service_id}", caller=caller.label,
                 input_sha256=sha256_of(body), status=200, output={"hookInstance": req.hookInstance, "cards": kept},
                 knowledge_version=core.kb.version, event_id=event_id, detail=a, principal=caller.principal)
    if core.settings.pause_after_audit_seconds:
        await asyncio.sleep(core.settings.pause_after_audit_seconds)
    return JSONResponse(out)


@router.post("/cds-services/{service_id}/feedback", summary="Card feedback",
             responses={200: {"description": "Stored"}, 400: {"description": "Malformed"},
                        401: {"description": "Unauthorized"}, 404: {"description": "Unknown service"}})
async def feedback(request: Request, service_id: str) -> Response:
    core = request.app.state.core
    caller = await _caller_for(request, service_id)
    if isinstance(caller, Response):
        return caller
    body = await request.body()
    try:
        fb = FeedbackRequest.model_validate(core.decode(body, request.headers.get("content-type"), yaml_ok=False))
    except ValidationError as e:
        return outcome(400, "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}"
                                      for err in e.errors()[:20]), "invalid")
    except ClientError as e:
        return malformed(e)
    for i, it in enumerate(fb.feedback):
        if it.outcome == "accepted" and not it.acceptedSuggestions:
            return outcome(400, f"feedback[{i}]: acceptedSuggestions is required when the outcome is accepted",
                           "required")
    items = [it.model_dump(exclude_none=True) for it in fb.feedback]
    n = await run_in_threadpool(core.audit.record_feedback, service_id, items, caller.label)
    await _audit(core, kind="feedback", endpoint=f"POST /cds-services/{service_id}/feedback", caller=caller.label,
                 input_sha256=sha256_of(body), status=200, output={"stored": n}, knowledge_version=core.kb.version)
    return JSONResponse({"stored": n})
