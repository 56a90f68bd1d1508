"""CDS Hooks 2.0: discovery, patient-view and order-select/-sign with and without prefetch, 412, feedback."""

from __future__ import annotations

import copy
import datetime as dt
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from rplnav.interop.fhir import patient_to_bundle
from tests.service.conftest import example, fixture_json, free_port
from tests.service.test_fhir import aps_bundle

PV = "/cds-services/rplnav-patient-view"
SIGN = "/cds-services/rplnav-order-sign"
SELECT = "/cds-services/rplnav-order-select"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def split_prefetch(bundle: dict[str, Any]) -> dict[str, Any]:
    """Our prefetch keys, filled the way an EHR would (searchset Bundles; null when nothing found)."""
    res = [e["resource"] for e in bundle["entry"]]

    def searchset(items: list[dict[str, Any]]) -> dict[str, Any] | None:
        if not items:
            return None
        return {"resourceType": "Bundle", "type": "searchset", "total": len(items),
                "entry": [{"resource": r, "search": {"mode": "match"}} for r in items]}

    def is_preg(r: dict[str, Any]) -> bool:
        return any(c.get("system") == "urn:rplnav:codes:pregnancy-outcome" for c in r["code"].get("coding", []))

    return {
        "patient": next(r for r in res if r["resourceType"] == "Patient"),
        "conditions": searchset([r for r in res if r["resourceType"] == "Condition"]),
        "labs": searchset([r for r in res if r["resourceType"] == "Observation" and not is_preg(r)]),
        "pregnancies": searchset([r for r in res if r["resourceType"] == "Observation" and is_preg(r)]),
        "medications": searchset([r for r in res if r["resourceType"] == "MedicationRequest"]),
    }


def pv_request(bundle: dict[str, Any] | None = None, prefetch: bool = True, **over: Any) -> dict[str, Any]:
    b = bundle or aps_bundle()
    pid = next(e["resource"]["id"] for e in b["entry"] if e["resource"]["resourceType"] == "Patient")
    req: dict[str, Any] = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                           "context": {"userId": "Practitioner/123", "patientId": pid}}
    if prefetch:
        req["prefetch"] = split_prefetch(b)
    req.update(over)
    return req


def med(rid: str, *, rxnorm: str | None = None, local: str | None = None, text: str | None = None) -> dict[str, Any]:
    coding = []
    if rxnorm:
        coding.append({"system": RXNORM, "code": rxnorm})
    if local:
        coding.append({"system": "urn:rplnav:codes:therapy", "code": local})
    cc: dict[str, Any] = {}
    if coding:
        cc["coding"] = coding
    if text:
        cc["text"] = text
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/p"}, "medicationCodeableConcept": cc}


def order_request(bundle: dict[str, Any], meds: list[dict[str, Any]], hook: str = "order-sign",
                  selections: list[str] | None = None) -> dict[str, Any]:
    req = pv_request(bundle, hook=hook)
    req["context"]["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                     "entry": [{"resource": m} for m in meds]}
    if hook == "order-select":
        req["context"]["selections"] = selections or [f"MedicationRequest/{m['id']}" for m in meds]
    return req


def example_bundle(name: str) -> dict[str, Any]:
    doc = example(name)
    return patient_to_bundle(doc, dt.date.fromisoformat(str(doc.get("assessed_on", dt.date.today()))))


def check_cards(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The CDS Hooks 2.0 response rules that apply to every card."""
    assert set(body) <= {"cards", "systemActions"}
    for c in body["cards"]:
        assert len(c["summary"]) < 140, c["summary"]
        assert c["indicator"] in ("info", "warning", "critical")
        assert c["source"]["label"]
        assert c["uuid"]
        for k, v in c.items():
            assert v not in (None, "", [], {}), k
        if "suggestions" in c:
            assert c["selectionBehavior"] in ("at-most-one", "any")
            for s in c["suggestions"]:
                assert s["label"]
                for a in s["actions"]:
                    assert a["description"] and a["type"] in ("create", "update", "delete")
                    if a["type"] in ("create", "update"):
                        assert a["resource"]["resourceType"]
        for r in c.get("overrideReasons", []):
            assert r["display"]
        for lk in c.get("links", []):
            assert lk["label"] and lk["url"] and lk["type"] in ("absolute", "smart")
    return body["cards"]


# ------------------------------------------------------------------ a fake FHIR server
class FakeFhir:
    def __init__(self, bundle: dict[str, Any], fail: bool = False):
        self.resources = [e["resource"] for e in bundle["entry"]]
        self.fail = fail
        self.seen: list[tuple[str, str | None]] = []
        self.app = Starlette(routes=[Route("/fhir/{rest:path}", self.handle)])

    async def handle(self, request: Request) -> JSONResponse:
        self.seen.append((str(request.url.path) + "?" + request.url.query, request.headers.get("authorization")))
        if self.fail:
            return JSONResponse({"resourceType": "OperationOutcome", "issue": []}, status_code=500)
        rtype = request.path_params["rest"].split("/")[0]
        if "/" in request.path_params["rest"]:
            rid = request.path_params["rest"].split("/")[1]
            for r in self.resources:
                if r["resourceType"] == rtype and r["id"] == rid:
                    return JSONResponse(r)
            return JSONResponse({"resourceType": "OperationOutcome", "issue": []}, status_code=404)
        items = [r for r in self.resources if r["resourceType"] == rtype]
        code = request.query_params.get("code")
        if rtype == "Observation" and code:
            items = [r for r in items if any(code.rstrip("|") == c.get("system") for c in r["code"].get("coding", []))]
        if rtype == "Observation" and request.query_params.get("category") == "laboratory":
            items = [r for r in items if not any(c.get("system") == "urn:rplnav:codes:pregnancy-outcome"
                                                 for c in r["code"].get("coding", []))]
        # two pages, to exercise paging
        half = len(items) // 2
        page = int(request.query_params.get("page", "1"))
        chunk = items[:half] if page == 1 else items[half:]
        body: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in chunk]}
        if page == 1 and half:
            body["link"] = [{"relation": "next", "url": str(request.url.include_query_params(page=2))}]
        return JSONResponse(body)


@pytest.fixture
def fake_fhir(client) -> Iterator[Any]:
    """Starts fake FHIR servers, each put on the client app's list of FHIR servers it may query."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(bundle: dict[str, Any], fail: bool = False) -> tuple[FakeFhir, str]:
        fake = FakeFhir(bundle, fail)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning"))
        t = threading.Thread(target=server.run, daemon=True)
        t.start()
        deadline = time.time() + 10
        while not server.started and time.time() < deadline:
            time.sleep(0.02)
        servers.append((server, t))
        client.app.state.core.settings.fhir_servers.append(f"http://127.0.0.1:{port}/fhir")
        return fake, f"http://127.0.0.1:{port}/fhir"

    yield start
    for server, t in servers:
        server.should_exit = True
        t.join(5)


# ------------------------------------------------------------------ discovery
def test_discovery(client):
    r = client.get("/cds-services")
    assert r.status_code == 200
    services = {s["id"]: s for s in r.json()["services"]}
    assert {s["hook"] for s in services.values()} == {"patient-view", "order-select", "order-sign"}
    for s in services.values():
        assert s["description"] and s["title"]
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        assert "Observation?patient={{context.patientId}}" in s["prefetch"]["labs"]
        assert "MedicationRequest" in s["prefetch"]["medications"]
    assert r.headers["x-rplnav-insecure-dev"].startswith("JWT verification is OFF")


# ------------------------------------------------------------------ patient-view
def test_patient_view_with_prefetch(client):
    """One plan card (supported and advised against, both in the summary, cut at a word), then only critical
    safety cards; the detail is the plan with its citations, and the report is one link away."""
    r = client.post(PV, json=pv_request())
    assert r.status_code == 200, r.text
    cards = check_cards(r.json())
    plan = cards[0]
    assert plan["summary"].startswith("For her: Low-dose aspirin + prophylactic-dose heparin/LMWH (ACR-2020")
    assert " · Against: " in plan["summary"]
    assert "**Supported for her**" in plan["detail"] and "**Advised against for her**" in plan["detail"]
    assert "acr-oaps-aspirin-lmwh" in plan["detail"]
    assert all(c["indicator"] == "critical" for c in cards[1:])
    assert len(cards) <= 1 + len({c["summary"] for c in cards[1:]})
    assert any(lk["label"] == "Full RPL Navigator report" for lk in plan["links"])
    assert all(lk["url"].startswith("http://testserver/") for c in cards for lk in c.get("links", []))


def test_card_summaries_are_never_cut_mid_word():
    from rplnav.service.cards import clip

    text = "Against: Lymphocyte immunotherapy (partner or third-party lymphocytes), Prednisolone / prednisone"
    out = clip(text, 60)
    assert len(out) <= 60 and out.endswith("…")
    assert text.startswith(out[:-1]) and text[len(out) - 1] in " ,/("


def test_order_sign_lmwh_with_active_aspirin_in_aps_is_supported_and_timed(client):
    """LA-positive obstetric APS, already on aspirin 81 mg (an active order on her record): a drafted
    enoxaparin is the combination the guidelines support — no 'no guideline supports it' card — and the
    suggestion for a patient without either order times heparin from the positive pregnancy test."""
    bundle = aps_bundle()
    bundle["entry"].append({"resource": {
        "resourceType": "MedicationRequest", "id": "asa-active", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/" + next(e["resource"]["id"] for e in bundle["entry"]
                                                   if e["resource"]["resourceType"] == "Patient")},
        "authoredOn": "2026-10-01",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "243670"}],
                                      "text": "aspirin 81 MG Oral Tablet"}}})
    req = order_request(bundle, [med("d1", rxnorm="854235")])
    cards = check_cards(client.post(SIGN, json=req).json())
    assert not any("no guideline statement supports it" in c["summary"] for c in cards), \
        [c["summary"] for c in cards]
    assert not any(c.get("suggestions") for c in cards)
    # without any order on record, the suggestion proposes both, heparin from the positive test
    req = order_request(aps_bundle(), [med("d1", text="Immunoglobulin G 100 MG/ML Injectable Solution")])
    cards = check_cards(client.post(SIGN, json=req).json())
    actions = [a for c in cards for s in c.get("suggestions", []) for a in s["actions"]]
    lmwh = next(a for a in actions if a["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "854235")
    assert "positive pregnancy test" in lmwh["description"]
    assert "positive pregnancy test" in lmwh["resource"]["dosageInstruction"][0]["text"]
    ivig = [c for c in cards if c["summary"].startswith("This order (Intravenous immunoglobulin")]
    assert ivig


def test_spec_style_request_fetches_from_fhir_server(client, fake_fhir):
    """The spec's own example request: unknown prefetch key, fhirServer + fhirAuthorization."""
    b = aps_bundle()
    for e in b["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            e["resource"]["id"] = "1288992"
    fake, url = fake_fhir(b)
    req = fixture_json("spec-patient-view.json")
    req["fhirServer"] = url
    r = client.post(PV, json=req)
    assert r.status_code == 200, r.text
    cards = check_cards(r.json())
    assert cards[0]["summary"].startswith("For her: ")
    paths = [p for p, _ in fake.seen]
    assert any(p.startswith("/fhir/Patient/1288992") for p in paths)
    assert any("page=2" in p for p in paths)                       # followed the next link
    assert {a for _, a in fake.seen} == {"Bearer some-opaque-fhir-access-token"}


def test_partial_prefetch_fetches_only_what_is_missing(client, fake_fhir):
    fake, url = fake_fhir(aps_bundle())
    req = pv_request()
    del req["prefetch"]["labs"]
    req["fhirServer"] = url
    r = client.post(PV, json=req)
    assert r.status_code == 200
    assert all("category=laboratory" in p for p, _ in fake.seen) and fake.seen
    assert all(a is None for _, a in fake.seen)  # no fhirAuthorization given: no token sent


def test_412_without_prefetch_or_fhir_server(client):
    r = client.post(PV, json=pv_request(prefetch=False))
    assert r.status_code == 412
    assert r.json()["resourceType"] == "OperationOutcome"
    req = pv_request()
    del req["prefetch"]["medications"]
    r = client.post(PV, json=req)
    assert r.status_code == 412 and "medications" in r.json()["issue"][0]["diagnostics"]


def test_412_when_fhir_server_fails(client, fake_fhir):
    _, url = fake_fhir(aps_bundle(), fail=True)
    r = client.post(PV, json=pv_request(prefetch=False, fhirServer=url))
    assert r.status_code == 412
    r = client.post(PV, json=pv_request(prefetch=False, fhirServer="http://127.0.0.1:9/fhir"))
    assert r.status_code == 412


def test_prefetch_nulls_and_cqf_ruler_wrapping(client):
    req = pv_request()
    req["prefetch"]["medications"] = None           # queried, nothing found
    req["prefetch"]["pregnancies"] = None
    req["prefetch"] = {k: ({"response": {"status": "200 OK"}, "resource": v} if v is not None else None)
                       for k, v in req["prefetch"].items()}
    req["context"]["patientId"] = "Patient/pat-aps"
    r = client.post(PV, json=req)
    assert r.status_code == 200
    assert check_cards(r.json())[0]["summary"].startswith("For her: ")


def test_patient_without_losses_gets_no_cards(client):
    b = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Patient", "id": "p0", "birthDate": "1990-01-01"}}]}
    r = client.post(PV, json=pv_request(b))
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_patient_without_birth_date_gets_an_explaining_card(client):
    b = aps_bundle()
    del b["entry"][0]["resource"]["birthDate"]
    r = client.post(PV, json=pv_request(b))
    assert r.status_code == 200
    cards = check_cards(r.json())
    assert len(cards) == 1 and "could not assess" in cards[0]["summary"] and "age" in cards[0]["detail"]


@pytest.mark.parametrize("name", ["01", "02", "05", "06", "07", "08", "09", "10"])
def test_patient_view_for_every_example(client, name):
    r = client.post(PV, json=pv_request(example_bundle(name)))
    assert r.status_code == 200
    check_cards(r.json())


def test_malformed_hook_requests(client):
    assert client.post(PV, json={"hook": "patient-view"}).status_code == 400
    assert client.post(PV, content=b"{oops", headers={"Content-Type": "application/json"}).status_code == 400
    req = pv_request()
    req["hook"] = "order-sign"
    assert client.post(PV, json=req).status_code == 400
    req = pv_request()
    req["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 60, "scope": "x",
                                "subject": "s"}
    assert client.post(PV, json=req).status_code == 400          # cds-r-1: needs fhirServer
    assert client.post("/cds-services/nope", json=pv_request()).status_code == 404
    del req["fhirAuthorization"]
    del req["context"]["patientId"]
    assert client.post(PV, json=req).status_code == 400


# ------------------------------------------------------------------ orders
def test_order_sign_ivig_in_obstetric_aps_suggests_aspirin_lmwh(client):
    req = order_request(aps_bundle(), [med("d1", text="Immunoglobulin G 100 MG/ML Injectable Solution")])
    r = client.post(SIGN, json=req)
    assert r.status_code == 200, r.text
    cards = check_cards(r.json())
    ivig = [c for c in cards if c["summary"].startswith("This order (Intravenous immunoglobulin")
            or c["summary"].startswith("Intravenous immunoglobulin")]
    assert ivig and all(c["indicator"] in ("warning", "critical") for c in ivig)
    with_sugg = [c for c in cards if c.get("suggestions")]
    assert len(with_sugg) == 1
    sugg = with_sugg[0]["suggestions"][0]
    created = [a["resource"] for a in sugg["actions"]]
    # aspirin is an active order on her record, so only the missing LMWH is proposed
    codes = {r["medicationCodeableConcept"]["coding"][0]["code"] for r in created}
    assert codes == {"854235"}
    assert all(r["intent"] == "proposal" and r["status"] == "draft" for r in created)
    assert with_sugg[0]["overrideReasons"]
    assert all(c["source"]["label"] for c in cards)


def test_order_sign_prednisolone_against_guideline(client):
    req = order_request(aps_bundle(), [med("d1", rxnorm="198142")])
    cards = check_cards(client.post(SIGN, json=req).json())
    pred = [c for c in cards if c["summary"].startswith(("Prednisolone", "This order (Prednisolone"))]
    assert pred and pred[0]["indicator"] in ("warning", "critical")
    assert "ESHRE-2022" in pred[0]["summary"] or "ESHRE-2022" in pred[0]["detail"]


def test_order_sign_aspirin_and_lmwh_in_obstetric_aps_is_quiet(client):
    req = order_request(aps_bundle(), [med("d1", rxnorm="243670"), med("d2", rxnorm="854235")])
    cards = check_cards(client.post(SIGN, json=req).json())
    assert not any(c.get("suggestions") for c in cards)
    assert not any("not recommended" in c["summary"] for c in cards)


def test_order_sign_heparin_in_unexplained_rpl(client):
    req = order_request(example_bundle("02"), [med("d1", rxnorm="5224")])
    cards = check_cards(client.post(SIGN, json=req).json())
    hep = [c for c in cards if c["summary"].startswith(("Low-molecular-weight heparin", "This order (Low-molecular-weight heparin"))]
    assert hep and hep[0]["indicator"] in ("warning", "critical")
    assert not any(c.get("suggestions") for c in cards)


def test_order_sign_lymphocyte_immunotherapy_in_the_us_is_critical(client):
    b = example_bundle("02")
    for e in b["entry"]:
        if e["resource"]["resourceType"] == "Patient":
            e["resource"]["address"] = [{"country": "US"}]
    req = order_request(b, [med("d1", local="lymphocyte_immunotherapy")])
    cards = check_cards(client.post(SIGN, json=req).json())
    lit = [c for c in cards if c["summary"].startswith(("Lymphocyte immunotherapy", "This order (Lymphocyte immunotherapy"))]
    assert any(c["indicator"] == "critical" for c in lit)


def test_order_sign_intralipid_warns(client):
    req = order_request(example_bundle("02"), [med("d1", text="Intralipid 20% lipid emulsion")])
    cards = check_cards(client.post(SIGN, json=req).json())
    assert any(c["summary"].startswith(("Intralipid", "This order (Intralipid")) and c["indicator"] in ("warning", "critical") for c in cards)


def test_order_sign_progesterone_past_its_window(client):
    doc = example("08")
    doc = copy.deepcopy(doc)
    doc["current"]["gestational_age"] = "20+0"
    b = patient_to_bundle(doc, dt.date.fromisoformat(str(doc["assessed_on"])))
    req = order_request(b, [med("d1", local="progesterone")])
    cards = check_cards(client.post(SIGN, json=req).json())
    assert any("timing window has passed" in c["summary"] for c in cards), [c["summary"] for c in cards]


def test_order_select_uses_only_the_selections(client):
    req = fixture_json("cqf-ruler-style-order-select.json")
    req["prefetch"] = split_prefetch(aps_bundle())
    r = client.post(SELECT, json=req)
    assert r.status_code == 200, r.text
    cards = check_cards(r.json())
    assert any(c["summary"].startswith("Intravenous immunoglobulin") for c in cards)
    req["context"]["selections"] = ["MedicationRequest/draft-other"]
    cards = check_cards(client.post(SELECT, json=req).json())
    assert not any(c["summary"].startswith("Intravenous immunoglobulin") for c in cards)
    del req["context"]["selections"]
    assert client.post(SELECT, json=req).status_code == 400


# ------------------------------------------------------------------ feedback
def test_feedback(client):
    card = client.post(PV, json=pv_request()).json()["cards"][0]["uuid"]
    ok = {"feedback": [{"card": card, "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
                        "outcomeTimestamp": "2026-11-01T10:00:00Z"}]}
    r = client.post(PV + "/feedback", json=ok)
    assert r.status_code == 200 and r.json() == {"stored": 1}
    bad = {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-01T10:00:00Z"}]}
    assert client.post(PV + "/feedback", json=bad).status_code == 400
    assert client.post(PV + "/feedback", json={"feedback": [{"card": card, "outcome": "maybe",
                                                             "outcomeTimestamp": "x"}]}).status_code == 400
    assert client.post("/cds-services/nope/feedback", json=ok).status_code == 404


def test_order_select_ivig_shows_its_boxed_warnings_even_out_of_play(client):
    """A drafted IVIG order for a woman with one miscarriage, whom no IVIG statement speaks to: asking about it
    puts it in play, so the FDA boxed warnings (thrombosis, renal failure) come with the order."""
    doc = {"schema": "rplnav.patient/v1", "id": "one-loss", "age": 31,
           "pregnancies": [{"outcome": "miscarriage", "gestational_age": 8, "date": "2025-02"}]}
    req = order_request(patient_to_bundle(doc, dt.date(2026, 11, 1)), [med("d1", local="ivig")], hook="order-select")
    cards = check_cards(client.post(SELECT, json=req).json())
    texts = " ".join(c["detail"] for c in cards if c["indicator"] == "critical")
    assert "Boxed warning for every immune globulin product" in texts
    assert "renal failure" in texts
