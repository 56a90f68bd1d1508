"""Result interpretation: usual limits across laboratories, the laboratory's own limits kept apart
(reference_high vs cutoff_p99), research cut-offs, qualitative levels and censored values."""

from __future__ import annotations

from typing import Any

import pytest

from rplnav.labs import interpret
from rplnav.patient import InputError, Lab

ASSESSED_ON = "2026-11-01"
THREE_EARLY = [{"outcome": "miscarriage", "gestational_age": g, "date": d}
               for g, d in ((7, "2023-02"), (8, "2024-01"), (6, "2025-01"))]


def lab(kb, test: str, **kw: Any) -> tuple[bool | None, str | None, tuple[str, ...]]:
    """One result read by the engine's rule: (positive, what it was judged against, needs)."""
    from rplnav.patient import parse_patient

    raw = {"test": test, "date": "2025-03-01", **kw}
    parsed = parse_patient({"schema": "rplnav.patient/v1", "id": "x", "age": 30, "assessed_on": ASSESSED_ON,
                            "labs": [raw]}, kb.tests, set(kb.therapies))
    res, basis = interpret(parsed.patient.labs[0], kb.tests[test], "it")
    return res.value, basis.text if basis else None, res.needs


# ---------------------------------------------------------------- usual limits (no laboratory limit given)

@pytest.mark.parametrize(("value", "expected"), [(2.1, False), (4.0, False), (4.3, None), (5.6, None), (5.7, True)])
def test_tsh_against_the_usual_upper_limits(kb, value, expected):
    pos, basis, needs = lab(kb, "tsh", value=value, unit="mIU/L")
    assert pos is expected
    if expected is None:
        assert any("reference_high" in n for n in needs)
        assert basis is None
    else:
        assert "usual range" in basis and "lab-cmmc-tsh" in basis and "limit was not given" in basis


def test_the_laboratorys_own_limit_wins_over_the_usual_range(kb):
    assert lab(kb, "tsh", value=4.3, unit="mIU/L", reference_high=4.5)[:2] == (False, None)
    assert lab(kb, "tsh", value=3.9, unit="mIU/L", reference_high=3.5)[:2] == (True, None)


@pytest.mark.parametrize(("value", "expected"), [(14, False), (27, False), (29, None), (36, None), (37, True)])
def test_prolactin_against_the_usual_upper_limits(kb, value, expected):
    assert lab(kb, "prolactin", value=value, unit="ng/mL")[0] is expected


def test_hba1c_against_the_usual_upper_limits(kb):
    assert lab(kb, "hba1c", value=5.2, unit="%")[0] is False
    assert lab(kb, "hba1c", value=5.8, unit="%")[0] is None
    assert lab(kb, "hba1c", value=6.1, unit="%")[0] is True


def test_tests_without_usual_limits_still_ask_for_the_laboratorys_limit(kb):
    pos, basis, needs = lab(kb, "homocysteine", value=9, unit="µmol/L")
    assert pos is None and basis is None and any("reference_high" in n for n in needs)


# ---------------------------------------------------------------- Sydney 2006: the 99th percentile only from cutoff_p99

@pytest.mark.parametrize("test,unit", [("anticardiolipin_igg", "GPL"), ("anticardiolipin_igm", "MPL")])
def test_low_acl_without_limits_is_negative_against_the_usual_range(kb, test, unit):
    pos, basis, _ = lab(kb, test, value=4, unit=unit)
    assert pos is False and "usual range" in basis and "lab-beutner-b59" in basis


def test_acl_inside_the_usual_span_asks_for_the_99th_percentile(kb):
    pos, _, needs = lab(kb, "anticardiolipin_igg", value=12, unit="GPL")
    assert pos is None and any("cutoff_p99" in n for n in needs)


def test_acl_above_the_uln_is_not_above_the_99th_percentile(kb):
    pos, _, needs = lab(kb, "anticardiolipin_igm", value=28, unit="MPL", reference_high=20)
    assert pos is None
    assert any("cutoff_p99" in n and "does not give as its 99th-percentile cut-off" in n for n in needs)
    assert lab(kb, "anticardiolipin_igm", value=28, unit="MPL", cutoff_p99=20)[0] is True
    assert lab(kb, "anticardiolipin_igm", value=28, unit="MPL", cutoff_p99=30)[0] is False
    assert lab(kb, "anticardiolipin_igm", value=41, unit="MPL", reference_high=20)[0] is True  # > 40 units
    assert lab(kb, "anticardiolipin_igm", value=12, unit="MPL", reference_high=20)[0] is False


def test_b2gpi_has_no_fixed_threshold(kb):
    assert lab(kb, "anti_b2gpi_igg", value=2, unit="U/mL")[0] is False
    assert lab(kb, "anti_b2gpi_igg", value=90, unit="U/mL")[0] is None  # only a 99th percentile can decide
    assert lab(kb, "anti_b2gpi_igg", value=90, unit="U/mL", cutoff_p99=20)[0] is True


# ---------------------------------------------------------------- research cut-offs

def test_peripheral_nk_is_read_against_a_research_cutoff_never_the_lab_range(kb):
    pos, basis, _ = lab(kb, "nk_cells_peripheral", value=15, unit="%")
    assert pos is True and "research cut-off" in basis and "not a reference range" in basis
    pos, basis, _ = lab(kb, "nk_cells_peripheral", value=10, unit="%")
    assert pos is False and "research cut-off" in basis


def test_a_research_cutoff_rule_cannot_also_read_the_lab_range():
    from pydantic import ValidationError

    from rplnav.knowledge.model import PositiveRule
    with pytest.raises(ValidationError):
        PositiveRule.model_validate({"above": 12, "research_cutoff": True, "use_reference_high": True,
                                     "source": {"document": "seed-003", "locator": "x", "verified": False}})


# ---------------------------------------------------------------- qualitative levels and censored values

def test_censored_values_keep_a_bound_and_a_direction_never_a_number(kb):
    from rplnav.patient import parse_patient

    parsed = parse_patient({"schema": "rplnav.patient/v1", "id": "x", "age": 30, "assessed_on": ASSESSED_ON,
                            "labs": [{"test": "anticardiolipin_igm", "value": "<2", "unit": "MPL"},
                                     {"test": "tsh", "value": ">150", "unit": "mIU/L"}]},
                           kb.tests, set(kb.therapies))
    low, high = parsed.patient.labs
    assert low.value is None and (low.bound, low.bound_side) == (2.0, "below") and low.shown_value == "<2"
    assert high.value is None and (high.bound, high.bound_side) == (150.0, "above")


def test_censored_below_is_negative_only_when_the_bound_is_within_the_lowest_usual_limit(kb):
    assert lab(kb, "anticardiolipin_igm", value="<2", unit="MPL")[0] is False
    assert lab(kb, "anticardiolipin_igm", value="<10", unit="MPL")[0] is False  # '<10 negative' everywhere
    assert lab(kb, "anticardiolipin_igm", value="<15", unit="MPL")[0] is None
    assert lab(kb, "tsh", value=">150", unit="mIU/L")[0] is True
    assert lab(kb, "tsh", value="<0.01", unit="mIU/L")[0] is False  # not above the upper limit


def test_bad_censored_values_are_rejected_with_the_field(kb):
    from rplnav.patient import parse_patient

    with pytest.raises(InputError) as e:
        parse_patient({"schema": "rplnav.patient/v1", "id": "x", "age": 30, "assessed_on": ASSESSED_ON,
                       "labs": [{"test": "tsh", "value": "about 3", "unit": "mIU/L"}]}, kb.tests, set(kb.therapies))
    assert any(p.startswith("labs[0].value") for p in e.value.problems)
    with pytest.raises(ValueError):
        Lab.model_validate({"test": "tsh", "value": "~3"})


@pytest.mark.parametrize(("level", "sydney", "moderate"), [
    ("low_positive", None, False), ("moderate_positive", None, True), ("high_positive", True, True)])
def test_qualitative_levels_are_the_2023_bands(kb, level, sydney, moderate):
    """low 20-39, moderate 40-79, high >= 80 units (Barbhaiya 2023): Sydney's '>40' is certain only for high."""
    from rplnav.labs import level_reached

    assert lab(kb, "anticardiolipin_igg", result=level)[0] is sydney
    lab_ = Lab.model_validate({"test": "anticardiolipin_igg", "result": level})
    assert level_reached(lab_, 40, "it", "levels", kb.tests["anticardiolipin_igg"]).value is moderate


def test_any_test_accepts_the_qualitative_words(kb):
    assert lab(kb, "anti_b2gpi_igg", result="negative")[0] is False
    assert lab(kb, "tsh", result="positive")[0] is True
    pos, _, needs = lab(kb, "anticardiolipin_igg", result="positive")
    assert pos is None and any("titre" in n for n in needs)  # positive by the lab's cut-off, not Sydney's


# ---------------------------------------------------------------- patients written like clinic notes

def _note(make, labs, **kw):
    return make(pregnancies=THREE_EARLY, labs=labs, findings={"uterus": "normal", "parental_karyotype": "normal"},
                **kw)


CLINIC_NEGATIVE = [
    {"test": "lupus_anticoagulant", "result": "negative", "date": "2025-03-01"},
    {"test": "anticardiolipin_igg", "value": 4, "unit": "GPL", "date": "2025-03-01"},
    {"test": "anticardiolipin_igm", "value": 5, "unit": "MPL", "date": "2025-03-01"},
    {"test": "anti_b2gpi_igg", "value": 2, "unit": "U/mL", "date": "2025-03-01"},
    {"test": "anti_b2gpi_igm", "result": "negative", "date": "2025-03-01"},
    {"test": "tsh", "value": 2.1, "unit": "mIU/L", "date": "2025-03-01"},
    {"test": "prolactin", "value": 14, "unit": "ng/mL", "date": "2025-03-01"},
]


def test_a_negative_panel_without_ranges_decides_the_sydney_laboratory_criteria(engine, make):
    doc = engine.assess(_note(make, CLINIC_NEGATIVE))
    syd = doc["aps"]["sydney-2006"]
    assert syd["status"] == "not_met"
    assert not [u for u in syd["undecided"] if u.startswith("sydney.laboratory")]
    assert not any("repeat" in m for m in syd["missing"])
    assert any("anticardiolipin IgM" in b and "usual range" in b for b in syd["interpretation"])
    acl = next(w for w in doc["workup"] if w["test"] == "anticardiolipin_igm")
    assert acl["status"] == "done" and "usual range" in acl["interpretation"][0]
    b2 = next(w for w in doc["workup"] if w["test"] == "anti_b2gpi_igm")
    assert b2["status"] == "done"  # a qualitative negative counts as done
    tsh = next(w for w in doc["workup"] if w["test"] == "tsh")
    assert "lab-cmmc-tsh" in tsh["interpretation"][0]
    assert "lab-cmmc-tsh" in {s["id"] for s in doc["sources"]}
    text = str(doc)
    assert "repeat anticardiolipin" not in text


ADVERSARIAL = [
    {"test": "anticardiolipin_igm", "value": 28, "unit": "MPL", "reference_high": 20, "note": "low positive",
     "date": "2025-03-01"},
    {"test": "anticardiolipin_igm", "value": 24, "unit": "MPL", "reference_high": 20, "note": "low positive",
     "date": "2025-06-10"},
    {"test": "lupus_anticoagulant", "result": "negative", "date": "2025-03-01"},
    {"test": "anti_b2gpi_igg", "result": "negative", "date": "2025-03-01"},
    {"test": "anti_b2gpi_igm", "result": "negative", "date": "2025-03-01"},
]


@pytest.mark.parametrize("with_igg", [False, True])
def test_low_titre_acl_igm_above_the_uln_never_makes_aps(engine, make, with_igg):
    labs = ADVERSARIAL + ([{"test": "anticardiolipin_igg", "value": 5, "unit": "GPL", "reference_high": 20,
                            "date": "2025-03-01"}] if with_igg else [])
    doc = engine.assess(_note(make, labs))
    syd, acr = doc["aps"]["sydney-2006"], doc["aps"]["acr-eular-2023"]
    assert syd["status"] in ("not_met", "indeterminate")
    assert any("cutoff_p99" in m for m in syd["missing"])
    assert acr["status"] != "met" and acr["laboratory_points"] == 0
    if with_igg:
        assert acr["domains_possible"]["D8"] == 0  # both isotypes below 40 units: the domain cannot score
        assert acr["status"] in ("not_met", "entry_not_met")
    for o in doc["options"]:
        for s in o["stances"]:
            if s["guideline"].startswith("ACR") and s["stance"] == "strong_for":
                assert s["applies"] is not True, (o["therapy"], s)


# ---------------------------------------------------------------- tests exclude what they test for

@pytest.mark.parametrize(("tsh", "expected"), [(2.1, False), (0.1, True), (0.3, None), (7.5, True)])
def test_a_tsh_result_decides_untreated_thyroid_dysfunction(engine, make, tsh, expected):
    facts = engine.facts(_note(make, [{"test": "tsh", "value": tsh, "unit": "mIU/L", "date": "2025-03-01"}]).patient)
    assert facts["thyroid.untreated_dysfunction"] is expected


def test_a_fully_negative_work_up_without_a_problem_list_is_unexplained(engine, make):
    """Conditions and thromboses omitted (not documented): the tests alone decide 'unexplained'."""
    parsed = _note(make, CLINIC_NEGATIVE)
    assert parsed.patient.conditions is None
    facts = engine.facts(parsed.patient)
    assert facts["aps.sydney_2006"] is False
    assert facts["rpl.unexplained"] is True


def test_an_abnormal_hormone_test_means_hormonal_causes_are_not_excluded(engine, make):
    labs = [{"test": "lupus_anticoagulant", "result": "positive", "date": "2025-01-10"},
            {"test": "lupus_anticoagulant", "result": "positive", "date": "2025-04-18"},
            {"test": "tsh", "value": 1.7, "unit": "mIU/L", "date": "2025-01-10"},
            {"test": "prolactin", "value": 60, "unit": "ng/mL", "date": "2025-01-10"}]
    syd = engine.assess(_note(make, labs))["aps"]["sydney-2006"]
    assert syd["status"] != "met"
    assert "prolactin outside the range" in syd["note"]


def test_hormone_tests_not_done_are_named_as_caveats(engine, make):
    labs = [{"test": "lupus_anticoagulant", "result": "positive", "date": "2025-01-10"},
            {"test": "lupus_anticoagulant", "result": "positive", "date": "2025-04-18"},
            {"test": "tsh", "value": 1.7, "unit": "mIU/L", "date": "2025-01-10"},
            {"test": "hba1c", "value": 5.2, "unit": "%", "date": "2025-01-10"}]
    syd = engine.assess(_note(make, labs))["aps"]["sydney-2006"]
    assert syd["status"] == "met"
    assert "without prolactin (not tested)" in syd["note"]


def test_inclusive_censored_values(kb):
    assert lab(kb, "anticardiolipin_igm", value="<=9", unit="MPL")[0] is False
    assert lab(kb, "anticardiolipin_igm", value="<=10", unit="MPL")[0] is None  # 10 is weak positive at Beutner
    assert lab(kb, "tsh", value=">=5.7", unit="mIU/L")[0] is True


def test_fhir_comparator_is_read_as_a_censored_value_and_written_back(kb):
    from rplnav.interop.fhir import patient_to_bundle as to_fhir

    doc = {"schema": "rplnav.patient/v1", "id": "x", "age": 30,
           "labs": [{"test": "anticardiolipin_igm", "value": "<2", "unit": "MPL", "date": "2025-03-01"}]}
    obs = [e["resource"] for e in to_fhir(doc)["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert obs[0]["valueQuantity"] == {"value": 2, "comparator": "<", "unit": "MPL"}


@pytest.mark.parametrize(("ft4", "subclinical", "overt"), [(14, True, False), (8, False, True), (None, None, None)])
def test_free_t4_tells_subclinical_from_overt_hypothyroidism(engine, make, ft4, subclinical, overt):
    """TSH 5.8 above the laboratory's 4.2; free T4 14 pmol/L is within every usual range, 8 below every one.
    Without a free T4 neither can be told."""
    labs = [{"test": "tsh", "value": 5.8, "unit": "mU/L", "reference_high": 4.2, "date": "2026-08-12"}]
    if ft4 is not None:
        labs.append({"test": "free_t4", "value": ft4, "unit": "pmol/L", "date": "2026-08-12"})
    facts = engine.facts(_note(make, labs, conditions=[]).patient)
    assert facts["thyroid.subclinical_hypothyroidism"] is subclinical
    assert facts["thyroid.overt_hypothyroidism"] is overt


# ---------------------------------------------------------------- the laboratory's own lower limit

@pytest.mark.parametrize(("tsh", "low", "expected"), [(0.45, 0.5, True), (0.45, 0.3, False), (0.3, None, None)])
def test_the_laboratorys_lower_limit_decides_a_low_result(engine, make, tsh, low, expected):
    """TSH 0.45 lies between the usual lower limits (undecided without the lab's range); the lab's printed
    lower limit decides it either way."""
    lab = {"test": "tsh", "value": tsh, "unit": "mIU/L", "date": "2025-03-01"}
    if low is not None:
        lab |= {"reference_low": low, "reference_high": 4.5}
    facts = engine.facts(_note(make, [lab]).patient)
    assert facts["lab.tsh.low"] is expected
    assert facts["thyroid.untreated_dysfunction"] is expected


def test_a_lower_limit_not_below_the_upper_limit_is_refused_with_the_field(kb, make):
    with pytest.raises(InputError) as e:
        make(labs=[{"test": "tsh", "value": 2.0, "unit": "mIU/L", "reference_low": 5, "reference_high": 4.2,
                    "date": "2025-03-01"}])
    assert any("labs[0].reference_low" in p for p in e.value.problems)


def test_the_lab_range_is_shown_as_entered(engine, make):
    doc = engine.assess(_note(make, [{"test": "tsh", "value": 2.0, "unit": "mIU/L", "reference_low": 0.4,
                                      "reference_high": 4.0, "date": "2025-03-01"}]))
    from rplnav.render.common import result_text

    row = next(r for r in doc["results"] if r["test"] == "tsh")
    assert row["reference_low"] == 0.4 and "lab range 0.4-4" in result_text(row)
