"""FHIR R4 intake (Bundle -> patient) and output (GuidanceResponse + RequestGroup)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from rplnav.cli import app as cli_app
from rplnav.examples import example_files
from rplnav.interop.fhir import FhirIntake, patient_to_bundle
from rplnav.patient import load_document, parse_patient

TODAY = dt.date(2026, 11, 1)
LOCAL_TEST = "urn:rplnav:codes:test"


def aps_bundle() -> dict[str, Any]:
    """Obstetric APS as an EHR might send it: verified codes where they exist, local codes otherwise, noise."""
    def preg(i: int, date: str, ga: str) -> dict[str, Any]:
        return {"resourceType": "Condition", "id": f"loss{i}", "subject": {"reference": "Patient/pat-aps"},
                "code": {"coding": [{"system": "http://snomed.info/sct", "code": "17369002",
                                     "display": "Miscarriage"}]},
                "onsetDateTime": date,
                "extension": [{"url": "urn:rplnav:fhir:extension:gestational-age", "valueString": ga}]}

    def la(i: int, date: str) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": f"la{i}", "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                          "code": "laboratory"}]}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "75515-7"}]},
                "effectiveDateTime": date,
                "interpretation": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                    "code": "POS"}]}]}

    def acl(i: int, date: str, value: float) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": f"acl{i}", "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                          "code": "laboratory"}]}],
                "code": {"coding": [{"system": LOCAL_TEST, "code": "anticardiolipin_igg"}],
                         "text": "Cardiolipin IgG"},
                "effectiveDateTime": date,
                "valueQuantity": {"value": value, "unit": "GPL U/mL", "system": "http://unitsofmeasure.org",
                                  "code": "[GPL'U]/mL"},
                "referenceRange": [{"high": {"value": 20, "unit": "GPL U/mL"}}]}

    resources = [
        {"resourceType": "Patient", "id": "pat-aps", "name": [{"family": "Doe", "given": ["Jane"]}],
         "gender": "female", "birthDate": "1993-05-01", "address": [{"country": "US"}]},
        preg(1, "2023-01-15", "6+5"), preg(2, "2023-09-20", "8+0"), preg(3, "2024-06-02", "7+2"),
        la(1, "2024-09-02"), la(2, "2024-12-09"), acl(1, "2024-09-02", 55), acl(2, "2024-12-09", 51),
        {"resourceType": "Observation", "id": "tsh1", "status": "final",
         "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                   "code": "laboratory"}]}],
         "code": {"coding": [{"system": "http://loinc.org", "code": "3016-3"},
                             {"system": LOCAL_TEST, "code": "tsh"}]},
         "effectiveDateTime": "2024-09-02", "valueQuantity": {"value": 2.4, "unit": "mIU/L"}},
        {"resourceType": "Observation", "id": "tpo1", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "8099-4"}]},
         "effectiveDateTime": "2024-09-02", "valueQuantity": {"value": 12, "unit": "IU/mL"}},
        {"resourceType": "Condition", "id": "aps-dx", "subject": {"reference": "Patient/pat-aps"},
         "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D68.61"}]}},
        {"resourceType": "MedicationRequest", "id": "asa1", "status": "completed", "intent": "order",
         "subject": {"reference": "Patient/pat-aps"}, "authoredOn": "2024-05-10",
         "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                   "code": "243670"}]}},
        {"resourceType": "MedicationRequest", "id": "zzz", "status": "active", "intent": "order",
         "subject": {"reference": "Patient/pat-aps"},
         "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                   "code": "1191"}], "text": "aspirin"}},
        {"resourceType": "Condition", "id": "f1", "subject": {"reference": "Patient/pat-aps"}, "code": {"coding": [{"system": "urn:rplnav:codes:finding",
                                                                      "code": "uterus=normal"}]}},
        {"resourceType": "Condition", "id": "f2", "subject": {"reference": "Patient/pat-aps"}, "code": {"coding": [{"system": "urn:rplnav:codes:finding",
                                                                      "code": "parental_karyotype=normal"}]}},
        {"resourceType": "Condition", "id": "f3", "subject": {"reference": "Patient/pat-aps"}, "code": {"coding": [{"system": "urn:rplnav:codes:finding",
                                                                      "code": "thromboses=none"}]}},
        {"resourceType": "Condition", "id": "f4", "subject": {"reference": "Patient/pat-aps"},
         "code": {"coding": [{"system": "urn:rplnav:codes:finding", "code": "conditions=none"}]}},
        {"resourceType": "Encounter", "id": "enc1", "status": "finished",
         "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}},
    ]
    return {"resourceType": "Bundle", "id": "b1", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{i:012d}", "resource": r}
                      for i, r in enumerate(resources)]}


def convert(bundle: dict[str, Any], kb) -> tuple[dict[str, Any], list[str]]:
    intake = FhirIntake(kb.tests, set(kb.therapies), today=TODAY)
    return intake.convert(bundle), intake.not_used


def test_bundle_is_valid_fhir_r4():
    Bundle.model_validate(aps_bundle())


def test_bundle_to_patient(kb):
    doc, not_used = convert(aps_bundle(), kb)
    assert doc["age"] == 33 and doc["country"] == "US" and doc["id"] == "pat-aps"
    assert [p["outcome"] for p in doc["pregnancies"]] == ["miscarriage"] * 3
    assert doc["pregnancies"][0] == {"outcome": "miscarriage", "gestational_age": "6+5", "date": "2023-01-15"}
    assert doc["pregnancies"][2]["treatments"] == ["aspirin"]
    la = [lab for lab in doc["labs"] if lab["test"] == "lupus_anticoagulant"]
    assert la == [{"test": "lupus_anticoagulant", "date": "2024-09-02", "result": "positive"},
                  {"test": "lupus_anticoagulant", "date": "2024-12-09", "result": "positive"}]
    acl = [lab for lab in doc["labs"] if lab["test"] == "anticardiolipin_igg"]
    assert acl[0] == {"test": "anticardiolipin_igg", "date": "2024-09-02", "value": 55, "unit": "GPL",
                      "reference_high": 20}
    tpo = [lab for lab in doc["labs"] if lab["test"] == "tpo_antibodies"]
    assert tpo == [{"test": "tpo_antibodies", "date": "2024-09-02", "value": 12, "unit": "IU/mL"}]  # LOINC 8099-4
    # an unverified RxNorm ingredient code is not read, but the drug name in its text is (synonym table)
    assert doc["medications"] == ["aspirin"]
    text = "\n".join(not_used)
    assert "Condition/aps-dx, ICD-10 D68.61" in text          # APS diagnosis: recomputed
    assert "Encounter/enc1" in text
    assert "MedicationRequest" not in text
    assert "Jane" not in json.dumps(doc)
    parse_patient(doc, kb.tests, set(kb.therapies))


def test_assessment_from_bundle_lists_not_used(client):
    r = client.post("/api/v1/assess", json=aps_bundle())
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["input_format"] == "fhir-r4-bundle"
    assert a["aps"]["sydney-2006"]["status"] == "met"
    assert any(s.startswith("Condition/aps-dx, ICD-10 D68.61") for s in a["not_used"])
    assert not any(s.startswith("Observation/tpo1") for s in a["not_used"])  # LOINC 8099-4 is read


def test_bundle_problems_are_422_with_not_used(client):
    b = aps_bundle()
    del b["entry"][0]["resource"]["birthDate"]
    r = client.post("/api/v1/assess", json=b)
    assert r.status_code == 422
    msgs = [p["message"] for p in r.json()["problems"]]
    assert any("age" == p["field"] for p in r.json()["problems"])
    assert any("no birthDate" in m for m in msgs)


@pytest.mark.parametrize("path", example_files(), ids=lambda p: p.stem)
def test_round_trip_patient_bundle_patient(path, kb, engine):
    """Every example patient survives patient -> FHIR Bundle -> patient with the same assessment."""
    doc = load_document(path.read_text(encoding="utf-8"), path.name)
    today = dt.date.fromisoformat(str(doc.get("assessed_on", TODAY.isoformat())))
    bundle = patient_to_bundle(doc, today)
    Bundle.model_validate(bundle)
    intake = FhirIntake(kb.tests, set(kb.therapies), today=today)
    back = intake.convert(bundle)
    assert intake.not_used == []
    a1 = engine.assess(parse_patient(doc, kb.tests, set(kb.therapies)))
    a2 = engine.assess(parse_patient(back, kb.tests, set(kb.therapies)))
    for key in ("losses", "rpl", "aps", "workup", "options", "alerts", "prognosis"):
        assert a1[key] == a2[key], key


def test_the_carrier_partner_survives_a_fhir_round_trip(kb):
    """findings.parental_karyotype_carrier travels as a local finding code like the karyotype itself."""
    path = Path(__file__).parents[1] / "realism" / "records" / "r14-balanced-translocation.yaml"
    doc = load_document(path.read_text(encoding="utf-8"), path.name)
    today = dt.date.fromisoformat(str(doc["assessed_on"]))
    intake = FhirIntake(kb.tests, set(kb.therapies), today=today)
    back = intake.convert(patient_to_bundle(doc, today))
    assert intake.not_used == []
    assert back["findings"]["parental_karyotype_carrier"] == "male"
    assert back["findings"]["parental_karyotype"] == "balanced_translocation"


def test_guidance_response_output(client):
    from fhir.resources.R4B.guidanceresponse import GuidanceResponse
    from fhir.resources.R4B.requestgroup import RequestGroup

    r = client.post("/api/v1/assess?format=fhir", json=aps_bundle())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/fhir+json")
    b = r.json()
    Bundle.model_validate(b)
    gr = b["entry"][0]["resource"]
    rg = b["entry"][1]["resource"]
    GuidanceResponse.model_validate(gr)
    RequestGroup.model_validate(rg)
    assert gr["result"]["reference"] == b["entry"][1]["fullUrl"]
    assert gr["requestIdentifier"]["value"] == rg["identifier"][0]["value"]
    assert {a["priority"] for a in rg["action"]} <= {"routine", "urgent", "stat"}
    assert all(a["documentation"][0]["type"] == "documentation" for a in rg["action"])
    params = {p["name"]: p.get("valueString") for p in gr["contained"][0]["parameter"]}
    assert params["knowledge_version"].startswith("sha256:")
    assert any(p["name"] == "not_used" for p in gr["contained"][0]["parameter"])


def test_cli_assess_accepts_a_bundle(tmp_path):
    f = tmp_path / "bundle.json"
    f.write_text(json.dumps(aps_bundle()))
    r = CliRunner().invoke(cli_app, ["assess", str(f), "--format", "json"])
    assert r.exit_code == 0, r.output
    a = json.loads(r.stdout)
    assert a["aps"]["sydney-2006"]["status"] == "met" and a["not_used"]
