"""FHIR from an EHR: standard LOINC, SNOMED CT and RxNorm codings as Epic- and Cerner-style exports send them.

No project extensions and no local codes: gestational age arrives as its own LOINC Observation, results with
UCUM units, interpretation flags and lab comments, drugs coded by RxNorm or named by brand.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from rplnav.interop.fhir import FhirIntake
from rplnav.patient import parse_patient
from tests.service.test_cds import SIGN, check_cards, med, order_request
from tests.service.test_fhir import aps_bundle

TODAY = dt.date(2026, 11, 1)
LOINC = "http://loinc.org"
SCT = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
INTERP = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
LAB = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory",
                    "display": "Laboratory"}]}]
PT = {"reference": "Patient/eIXesllypH3M9tAA5WdJftQ3"}


def obs(rid: str, loinc: str, display: str, date: str, **value: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final", "category": LAB, "subject": PT,
            "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display},
            "effectiveDateTime": date, "issued": date + "T14:02:00Z", **value}


def qty(v: float, unit: str, code: str | None = None, **more: Any) -> dict[str, Any]:
    return {"valueQuantity": {"value": v, "unit": unit, "system": UCUM, "code": code or unit, **more}}


def flag(code: str) -> dict[str, Any]:
    return {"interpretation": [{"coding": [{"system": INTERP, "code": code}]}]}


def loss(rid: str, date: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": rid, "subject": PT,
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": "resolved"}]},
            "code": {"coding": [{"system": SCT, "code": "17369002", "display": "Miscarriage"}],
                     "text": "Spontaneous miscarriage"},
            "onsetDateTime": date}


def ga(rid: str, date: str, weeks: float | None = None, days: int | None = None,
       focus: str | None = None) -> dict[str, Any]:
    r = {"resourceType": "Observation", "id": rid, "status": "final", "subject": PT,
         "code": {"coding": [{"system": LOINC, "code": "11884-4", "display": "Gestational age Estimated"}]},
         "effectiveDateTime": date}
    r.update(qty(weeks, "wk") if weeks is not None else qty(days, "d"))
    if focus:
        r["focus"] = [{"reference": focus}]
    return r


def epic_bundle() -> dict[str, Any]:
    """Three early losses, a full work-up with ranges mostly missing, current medications by RxNorm and name."""
    resources = [
        {"resourceType": "Patient", "id": "eIXesllypH3M9tAA5WdJftQ3", "gender": "female", "birthDate": "1991-03-14",
         "name": [{"family": "Example", "given": ["Anna"]}], "address": [{"country": "GB"}]},
        loss("loss1", "2024-02-10"), loss("loss2", "2024-09-01"), loss("loss3", "2025-04-20"),
        ga("ga1", "2024-02-10", weeks=7, focus="Condition/loss1"),      # linked by focus
        ga("ga2", "2024-09-01", days=60),                               # linked by date, given in days
        ga("ga3", "2025-03-01", weeks=9),                               # linked to nothing: listed, not used
        obs("tsh1", "3016-3", "TSH", "2025-06-02", **qty(2.1, "mIU/L", "m[IU]/L"),
            referenceRange=[{"low": {"value": 0.4, "unit": "mIU/L"}, "high": {"value": 4.2, "unit": "mIU/L"}}],
            note=[{"text": "Sample slightly haemolysed"}]),
        obs("tsh2", "11579-0", "TSH (2nd generation)", "2025-01-10", **qty(1.7, "mIU/L", "m[IU]/L")),
        obs("acg", "3181-5", "Cardiolipin IgG Ab", "2025-06-02", **qty(4, "GPL", "[GPL'U]"), **flag("N")),
        obs("acm", "3182-3", "Cardiolipin IgM Ab", "2025-06-02", **qty(2, "MPL", "[MPL'U]", comparator="<")),
        obs("b2g", "44448-9", "Beta-2 glycoprotein 1 IgG Ab", "2025-06-02", **qty(1.5, "U/mL", "[U]/mL")),
        obs("b2m", "44449-7", "Beta-2 glycoprotein 1 IgM Ab", "2025-06-02", **qty(2.2, "U/mL", "[U]/mL")),
        obs("la", "75514-0", "Lupus anticoagulant interpretation", "2025-06-02",
            valueCodeableConcept={"coding": [{"system": SCT, "code": "260385009", "display": "Negative"}],
                                  "text": "Not detected"}),
        obs("tpo", "8099-4", "Thyroperoxidase Ab", "2025-06-02", **qty(5, "IU/mL", "[iU]/mL")),
        obs("prl", "2842-3", "Prolactin", "2025-06-02", **qty(14, "ng/mL")),
        obs("a1c", "4548-4", "Hemoglobin A1c", "2025-06-02", **qty(5.2, "%")),
        obs("vitd", "62292-8", "25-OH vitamin D", "2025-06-02", **qty(32, "ng/mL")),
        obs("ft4", "3024-7", "Free T4", "2025-06-02", **qty(1.2, "ng/dL")),
        obs("plt", "777-3", "Platelets", "2025-06-02", **qty(250, "10*3/uL")),
        {"resourceType": "MedicationStatement", "id": "ms1", "status": "active", "subject": PT,
         "effectivePeriod": {"start": "2023-06-01"},
         "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "966222",
                                                   "display": "Levothyroxine Sodium 50 MCG Oral Tablet"}],
                                       "text": "levothyroxine 50 mcg tablet"}},
        {"resourceType": "MedicationRequest", "id": "mr1", "status": "completed", "intent": "order", "subject": PT,
         "authoredOn": "2025-03-30",
         "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "854235",
                                                   "display": "0.4 ML enoxaparin sodium 100 MG/ML Prefilled Syringe"}]}},
    ]
    return {"resourceType": "Bundle", "id": "epic-1", "type": "searchset",
            "entry": [{"fullUrl": f"https://fhir.example.org/api/FHIR/R4/{r['resourceType']}/{r['id']}",
                       "resource": r} for r in resources]}


def convert(bundle: dict[str, Any], kb) -> tuple[dict[str, Any], list[str]]:
    intake = FhirIntake(kb.tests, set(kb.therapies), today=TODAY, kb=kb)
    return intake.convert(bundle), intake.not_used


def test_epic_bundle_is_valid_fhir():
    Bundle.model_validate(epic_bundle())


def test_gestational_age_from_standard_loinc_observations(kb):
    doc, not_used = convert(epic_bundle(), kb)
    pregs = doc["pregnancies"]
    assert [p["outcome"] for p in pregs] == ["miscarriage"] * 3
    assert pregs[0]["gestational_age"] == 7          # by focus
    assert pregs[1]["gestational_age"] == "8+4"      # 60 days, by the same date
    assert "gestational_age" not in pregs[2]
    assert any(s.startswith("Observation/ga3, gestational age: not linked") for s in not_used)


def test_every_workup_loinc_is_read_with_units_flags_and_comments(kb):
    doc, not_used = convert(epic_bundle(), kb)
    labs = {(lab["test"], lab["date"]): lab for lab in doc["labs"]}
    assert labs[("tsh", "2025-06-02")] == {"test": "tsh", "date": "2025-06-02", "value": 2.1, "unit": "mIU/L",
                                           "reference_low": 0.4, "reference_high": 4.2,
                                           "note": "Sample slightly haemolysed"}
    assert labs[("tsh", "2025-01-10")]["value"] == 1.7                      # the 2nd-generation TSH code
    assert labs[("anticardiolipin_igg", "2025-06-02")]["note"] == "laboratory flag: N (normal)"
    assert labs[("anticardiolipin_igm", "2025-06-02")]["value"] == "<2"  # censored: a bound, never a number
    assert "note" not in labs[("anticardiolipin_igm", "2025-06-02")]
    assert labs[("lupus_anticoagulant", "2025-06-02")]["result"] == "negative"   # SNOMED 260385009
    for test in ("anti_b2gpi_igg", "anti_b2gpi_igm", "tpo_antibodies", "prolactin", "hba1c", "vitamin_d_25oh",
                 "free_t4", "platelet_count"):
        assert (test, "2025-06-02") in labs, test
    assert not [s for s in not_used if s.startswith("Observation/") and "/ga" not in s]


def test_medications_current_and_in_pregnancy(kb):
    doc, not_used = convert(epic_bundle(), kb)
    assert doc["medications"] == ["levothyroxine"]      # RxNorm code unknown to the table: read by its name
    assert not any(s.startswith("MedicationStatement/ms1") for s in not_used)  # current, not a loss treatment
    assert doc["pregnancies"][2]["treatments"] == ["lmwh"]  # enoxaparin syringe, ordered within that pregnancy


def test_no_condition_resources_means_conditions_not_documented(kb):
    doc, _ = convert(epic_bundle(), kb)
    assert "conditions" not in doc
    p = parse_patient(doc, kb.tests, set(kb.therapies), kb=kb).patient
    assert p.conditions is None and p.medications == ["levothyroxine"] and p.country == "GB"


def test_unverified_code_is_listed_not_read(kb):
    b = epic_bundle()
    b["entry"].append({"resource": obs("acg2", "8065-5", "Cardiolipin IgG Ab", "2025-09-02", **qty(3, "GPL"))})
    doc, not_used = convert(b, kb)
    assert ("anticardiolipin_igg", "2025-09-02") not in {(lab["test"], lab.get("date")) for lab in doc["labs"]}
    (line,) = [s for s in not_used if s.startswith("Observation/acg2")]
    assert "not verified" in line and "anticardiolipin_igg" in line


def test_cerner_style_la_panel_with_interpretation(kb):
    b = epic_bundle()
    b["entry"].append({"resource": obs("la2", "75881-3", "Lupus anticoagulant panel", "2025-09-10",
                                       **flag("POS"))})
    doc, _ = convert(b, kb)
    assert {"test": "lupus_anticoagulant", "date": "2025-09-10", "result": "positive"} in doc["labs"]


def test_brand_coded_ivig_order_draws_the_boxed_warning_card(client):
    draft = med("d1", rxnorm="1809671", text="GAMMAGARD LIQUID 10 % Injectable Solution")
    draft["medicationCodeableConcept"]["coding"][0]["display"] = "Gammagard Liquid 10 % Injectable Solution"
    r = client.post(SIGN, json=order_request(aps_bundle(), [draft]))
    assert r.status_code == 200, r.text
    cards = check_cards(r.json())
    boxed = [c for c in cards if c["summary"].startswith("Intravenous immunoglobulin") and "boxed warning" in
             c["summary"].lower()]
    assert boxed and boxed[0]["indicator"] == "critical"


def test_a_qualitative_result_for_a_numeric_only_test_is_listed_not_fatal(kb):
    b = epic_bundle()
    b["entry"].append({"resource": obs("b2q", "44448-9", "Beta-2 glycoprotein 1 IgG Ab", "2025-09-02",
                                       valueCodeableConcept={"text": "Negative"})})
    doc, not_used = convert(b, kb)
    kind = kb.tests["anti_b2gpi_igg"].kind
    if kind == "quantitative":
        assert any(s.startswith("Observation/b2q") for s in not_used)
    else:
        assert {"test": "anti_b2gpi_igg", "date": "2025-09-02", "result": "negative"} in doc["labs"]
    parse_patient(doc, kb.tests, set(kb.therapies), kb=kb)


def status(rid: str, date: str, code: str, display: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": "final", "subject": PT,
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "social-history"}]}],
            "code": {"coding": [{"system": LOINC, "code": "82810-3", "display": "Pregnancy status"}]},
            "effectiveDateTime": date,
            "valueCodeableConcept": {"coding": [{"system": SCT, "code": code, "display": display}]}}


def test_us_core_pregnancy_status_opens_the_current_pregnancy(kb):
    b = epic_bundle()
    b["entry"] += [{"resource": status("ps1", "2026-10-20", "77386006", "Pregnant")},
                   {"resource": ga("ga-now", "2026-10-20", weeks=6)}]   # 12 days before the assessment
    doc, not_used = convert(b, kb)
    assert doc["current"] == {"gestational_age": "7+5"}               # 6+0 measured, carried to 2026-11-01
    p = parse_patient(doc, kb.tests, set(kb.therapies), kb=kb).patient
    assert p.current is not None and p.current.gestational_age == 7 * 7 + 5


def test_a_later_outcome_or_not_pregnant_closes_it(kb):
    b = epic_bundle()
    b["entry"] += [{"resource": status("ps0", "2025-03-01", "77386006", "Pregnant")}]   # before loss3 (2025-04-20)
    doc, not_used = convert(b, kb)
    assert "current" not in doc
    assert any(s.startswith("Observation/ps0") and "no current pregnancy" in s for s in not_used)
    b["entry"] += [{"resource": status("ps2", "2026-10-01", "77386006", "Pregnant")},
                   {"resource": status("ps3", "2026-10-25", "60001007", "Not pregnant")}]
    doc, not_used = convert(b, kb)
    assert "current" not in doc
    assert any(s.startswith("Observation/ps2") and "earlier pregnancy status" in s for s in not_used)


def _acl_99th(rid: str, date: str, value: float, ranges: list[dict[str, Any]]) -> dict[str, Any]:
    return obs(rid, "3181-5", "Cardiolipin IgG Ab", date, **qty(value, "GPL", "[GPL'U]"), referenceRange=ranges)


def test_a_range_the_laboratory_calls_the_99th_percentile_is_read_as_cutoff_p99(kb):
    """Sydney 2006's '>99th percentile' route needs the cut-off the laboratory says is one; an ordinary
    reference range is never read as it."""
    p99 = [{"high": {"value": 18, "unit": "GPL"}, "text": "99th percentile of healthy controls"}]
    ordinary = [{"high": {"value": 20, "unit": "GPL"}}]
    b = epic_bundle()
    b["entry"] += [{"resource": _acl_99th("acl1", "2025-01-05", 30, ordinary + p99)},
                   {"resource": _acl_99th("acl2", "2025-05-02", 31, p99)}]
    doc, _ = convert(b, kb)
    acl = [lab for lab in doc["labs"] if lab["test"] == "anticardiolipin_igg" and lab["date"] < "2025-06-01"]
    assert acl[0]["reference_high"] == 20 and acl[0]["cutoff_p99"] == 18
    assert acl[1]["cutoff_p99"] == 18 and "reference_high" not in acl[1]
    plain, _ = convert({**epic_bundle(), "entry": epic_bundle()["entry"] +
                        [{"resource": _acl_99th("acl3", "2025-01-05", 30, ordinary)}]}, kb)
    assert not [lab for lab in plain["labs"] if "cutoff_p99" in lab]


def test_the_99th_percentile_read_from_fhir_decides_sydneys_laboratory_criterion(kb, engine):
    p99 = [{"high": {"value": 18, "unit": "GPL"}, "text": "P99"}]
    b = epic_bundle()
    b["entry"] += [{"resource": _acl_99th("acl1", "2025-01-05", 30, p99)},
                   {"resource": _acl_99th("acl2", "2025-05-02", 31, p99)}]
    doc, _ = convert(b, kb)
    patient = parse_patient(doc, kb.tests, set(kb.therapies), kb=kb)
    a = engine.assess(patient)
    assert "sydney.laboratory.anticardiolipin" in [c["id"] for c in a["aps"]["sydney-2006"]["laboratory"]]
