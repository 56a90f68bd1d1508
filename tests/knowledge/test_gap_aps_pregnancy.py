"""APS in pregnancy beyond the miscarriage question: aspirin to prevent pre-eclampsia as its own indication
(NICE NG133, USPSTF 2021), fetal growth surveillance (RCOG Green-top 31) and the lupus-anticoagulant pitfalls.

The patients are written as the clinic letters that send them, with only what such a letter records.
"""

from __future__ import annotations

from typing import Any

import yaml

from tests.knowledge.conftest import option, stance

# Rheumatology-obstetric clinic, 14 Oct 2026: "31, G4P0. Miscarriages at 7, 6 and 8 weeks (2023-2025), then an
# intrauterine death at 17 weeks in March 2026, baby morphologically normal. LA positive Nov 2025 and again Mar
# 2026 (dRVVT); aCL and anti-B2GPI negative. No thrombosis. No other medical history. TSH 1.6, uterus normal on 3D
# scan, both karyotypes normal. Dx obstetric APS. Plan: aspirin + LMWH from a positive test next time."
OBSTETRIC_APS = yaml.safe_load("""
age: 31
country: GB
pregnancies:
  - {outcome: miscarriage, gestational_age: 7, date: 2023-05}
  - {outcome: miscarriage, gestational_age: 6, date: 2024-01}
  - {outcome: miscarriage, gestational_age: 8, date: 2025-02}
  - {outcome: miscarriage, gestational_age: 17, date: 2026-03, morphologically_normal: true}
labs:
  - {test: lupus_anticoagulant, result: positive, note: dRVVT, date: 2025-11-20}
  - {test: lupus_anticoagulant, result: positive, note: dRVVT, date: 2026-03-02}
  - {test: anticardiolipin_igg, result: negative, date: 2025-11-20}
  - {test: anticardiolipin_igm, result: negative, date: 2025-11-20}
  - {test: anti_b2gpi_igg, result: negative, date: 2025-11-20}
  - {test: anti_b2gpi_igm, result: negative, date: 2025-11-20}
  - {test: tsh, value: 1.6, unit: mIU/L, date: 2025-11-20}
findings: {uterus: normal, parental_karyotype: normal, thromboses: []}
conditions: []
""")

# Recurrent miscarriage clinic, GP referral: "35, three early miscarriages, one healthy son born at term in 2019
# after a pregnancy with severe pre-eclampsia (delivered by section). Work-up normal: LA, aCL, B2GPI negative x2,
# TSH 2.1, normal uterus, normal karyotypes. No medical history."
PREVIOUS_SEVERE_PE: dict[str, Any] = yaml.safe_load("""
age: 35
country: US
pregnancies:
  - {outcome: live_birth, gestational_age: 37, date: 2019-06, severe_preeclampsia: true}
  - {outcome: miscarriage, gestational_age: 7, date: 2023-04}
  - {outcome: miscarriage, gestational_age: "6+3", date: 2024-02}
  - {outcome: miscarriage, gestational_age: 8, date: 2025-01}
labs:
  - {test: lupus_anticoagulant, result: negative, date: 2025-04-01}
  - {test: lupus_anticoagulant, result: negative, date: 2025-07-10}
  - {test: anticardiolipin_igg, result: negative, date: 2025-04-01}
  - {test: anticardiolipin_igm, result: negative, date: 2025-04-01}
  - {test: anti_b2gpi_igg, result: negative, date: 2025-04-01}
  - {test: anti_b2gpi_igm, result: negative, date: 2025-04-01}
  - {test: tsh, value: 2.1, unit: mIU/L, date: 2025-04-01}
findings: {uterus: normal, parental_karyotype: normal, thromboses: []}
conditions: []
""")


def _with(patient: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**patient, **changes}


def test_obstetric_aps_is_offered_aspirin_from_12_weeks_to_prevent_pre_eclampsia(assess):
    a = assess(**OBSTETRIC_APS)
    assert a["aps"]["sydney-2006"]["status"] == "met"
    nice, us = stance(a, "nice133-aspirin-high-risk"), stance(a, "uspstf-aspirin-high-risk")
    assert nice["applies"] is True and nice["stance"] == "strong_for" and nice["guideline"] == "NICE-NG133"
    assert us["applies"] is True and us["strength"] == "Grade B" and us["source"]["verified"] is True
    assert "aps.sydney_2006 = true" in nice["because"]
    supported = {s["therapy"]: s for s in a["plan"]["supported"]}
    assert "aspirin_preeclampsia" in supported
    windows = supported["aspirin_preeclampsia"]["when"]
    assert windows and all("12 weeks" in w["text"] for w in windows)
    assert {w["source"]["document"] for w in windows} == {"nice-qs35", "uspstf-2021", "acog-co743"}


def test_the_pre_eclampsia_indication_is_its_own_option_beside_aspirin_with_heparin(assess):
    a = assess(**OBSTETRIC_APS)
    pe = option(a, "aspirin_preeclampsia")
    assert {s["guideline"] for s in pe["stances"]} == {"NICE-NG133", "USPSTF-2021", "ACOG-2018-ASPIRIN"}
    assert any(s["applies"] is True for s in option(a, "aspirin_lmwh")["stances"])


def test_a_previous_severe_pre_eclampsia_is_a_high_risk_factor_without_aps(assess):
    a = assess(**PREVIOUS_SEVERE_PE)
    assert a["aps"]["sydney-2006"]["status"] == "not_met"
    assert stance(a, "uspstf-aspirin-high-risk")["applies"] is True
    assert "history.severe_preeclampsia = true" in stance(a, "nice133-aspirin-high-risk")["because"]


def test_no_risk_factor_means_the_statements_do_not_apply(assess):
    births = [dict(p, severe_preeclampsia=False) if p["outcome"] == "live_birth" else p
              for p in PREVIOUS_SEVERE_PE["pregnancies"]]
    a = assess(**_with(PREVIOUS_SEVERE_PE, pregnancies=births))
    assert stance(a, "nice133-aspirin-high-risk")["applies"] is False
    assert stance(a, "uspstf-aspirin-high-risk")["applies"] is False


def test_an_unrecorded_pre_eclampsia_history_is_asked_for_not_guessed(assess):
    """A term birth whose letter does not say whether she had pre-eclampsia leaves the statement undecided and
    asks for that pregnancy's record; births before 20 weeks cannot have had it."""
    births = [{k: v for k, v in p.items() if k != "severe_preeclampsia"} for p in PREVIOUS_SEVERE_PE["pregnancies"]]
    s = stance(assess(**_with(PREVIOUS_SEVERE_PE, pregnancies=births)), "uspstf-aspirin-high-risk")
    assert s["applies"] is None and "pregnancies.severe_preeclampsia" in s["needs"]
    early = [p for p in births if p["outcome"] == "miscarriage"]
    assert stance(assess(**_with(PREVIOUS_SEVERE_PE, pregnancies=early)), "uspstf-aspirin-high-risk")["applies"] is False


def _alerts(a: dict[str, Any]) -> set[str]:
    found = a["alerts"] + [al for o in a["options"] for al in o["alerts"]]
    return {al["id"] for al in found if "id" in al}


def test_aps_brings_fetal_growth_surveillance_and_no_aps_does_not(assess):
    assert "aps-fetal-growth-surveillance" in _alerts(assess(**OBSTETRIC_APS))
    assert "aps-fetal-growth-surveillance" not in _alerts(assess(**PREVIOUS_SEVERE_PE))


def test_lupus_anticoagulant_pitfalls_show_when_the_result_may_be_distorted(assess):
    clot = _with(OBSTETRIC_APS, findings={**OBSTETRIC_APS["findings"], "thromboses": [{"type": "venous", "date": "2022-08"}]})
    assert "la-on-anticoagulants" in _alerts(assess(**clot))
    assert "la-on-anticoagulants" not in _alerts(assess(**OBSTETRIC_APS))
    pregnant = _with(OBSTETRIC_APS, current={"gestational_age": "7+1", "intrauterine_confirmed": True})
    assert "la-in-pregnancy" in _alerts(assess(**pregnant))
    assert "la-in-pregnancy" not in _alerts(assess(**OBSTETRIC_APS))


def test_acog_supports_aspirin_for_pre_eclampsia_but_not_for_early_loss(assess):
    """ACOG/SMFM Committee Opinion 743 (read in a summary): 81 mg from 12-28 weeks for high risk of
    pre-eclampsia; aspirin is not recommended to prevent early pregnancy loss."""
    a = assess(**OBSTETRIC_APS)
    assert stance(a, "acog743-aspirin-high-risk")["applies"] is True
    assert stance(a, "acog743-no-aspirin-early-loss")["applies"] is False  # APS: a separate question
    b = assess(**PREVIOUS_SEVERE_PE)
    assert stance(b, "acog743-aspirin-high-risk")["applies"] is True
    s = stance(b, "acog743-no-aspirin-early-loss")
    assert s["applies"] is True and s["stance"] == "conditional_against" and s["source"]["tier"] == "secondary"
