"""The remaining gaps of the specialist's review: the uterine septum (ASRM 2016, TRUST), VTE risk assessment for
hereditary thrombophilia (RCOG Green-top 37a; ESHRE's 'unless for VTE prevention'), the second-trimester cervical
pathway (NICE NG25), the early-pregnancy rescan rule (NICE NG126) and ASRM 2012 on immunotherapy."""

from __future__ import annotations

from typing import Any

import yaml

from tests.knowledge.conftest import option, stance, unexplained

# Gynaecology clinic, 11 Sep 2026: "30, miscarriages at 8 and 10 weeks (2024, 2025). 3D scan: partial (subseptate)
# uterus, indentation 1.4 cm. Bloods normal: TSH 1.7, aPL negative twice. Karyotypes normal. No medical history."
SUBSEPTATE = yaml.safe_load("""
age: 30
pregnancies:
  - {outcome: miscarriage, gestational_age: 8, date: 2024-04}
  - {outcome: miscarriage, gestational_age: 10, date: 2025-09}
labs:
  - {test: tsh, value: 1.7, unit: mIU/L, date: 2026-01-15}
  - {test: lupus_anticoagulant, result: negative, date: 2026-01-15}
  - {test: lupus_anticoagulant, result: negative, date: 2026-05-02}
  - {test: anticardiolipin_igg, result: negative, date: 2026-01-15}
  - {test: anticardiolipin_igm, result: negative, date: 2026-01-15}
  - {test: anti_b2gpi_igg, result: negative, date: 2026-01-15}
  - {test: anti_b2gpi_igm, result: negative, date: 2026-01-15}
findings: {uterus: subseptate, parental_karyotype: normal, thromboses: []}
conditions: []
""")

# Haematology letter, 2 Oct 2026: "34, heterozygous factor V Leiden found after her third miscarriage (2023-2026).
# No personal VTE; mother had a DVT. aPL negative x2, TSH 2.0, uterus normal. Asks whether she needs Clexane."
FVL = yaml.safe_load("""
age: 34
pregnancies:
  - {outcome: miscarriage, gestational_age: 7, date: 2023-02}
  - {outcome: miscarriage, gestational_age: 9, date: 2024-11}
  - {outcome: miscarriage, gestational_age: "6+4", date: 2026-03}
labs:
  - {test: factor_v_leiden, result: positive, note: heterozygous, date: 2026-06-01}
  - {test: tsh, value: 2.0, unit: mIU/L, date: 2026-06-01}
  - {test: lupus_anticoagulant, result: negative, date: 2026-06-01}
  - {test: lupus_anticoagulant, result: negative, date: 2026-09-10}
  - {test: anticardiolipin_igg, result: negative, date: 2026-06-01}
  - {test: anticardiolipin_igm, result: negative, date: 2026-06-01}
  - {test: anti_b2gpi_igg, result: negative, date: 2026-06-01}
  - {test: anti_b2gpi_igm, result: negative, date: 2026-06-01}
findings: {uterus: normal, thromboses: []}
conditions: []
""")

# Fetal medicine referral, 20 Aug 2026: "27, lost a baby at 19 weeks in March 2026 after painless cervical dilatation,
# one early miscarriage before. Planning a further pregnancy."
MIDTRIMESTER = yaml.safe_load("""
age: 27
pregnancies:
  - {outcome: miscarriage, gestational_age: 7, date: 2024-06}
  - {outcome: miscarriage, gestational_age: "19+2", date: 2026-03, morphologically_normal: true}
findings: {uterus: normal}
""")

# Early pregnancy unit, 1 Dec 2026: "three previous miscarriages; today 6+4 by dates, intrauterine sac with a small
# fetal pole, no heartbeat seen yet."
EARLY_SCAN = yaml.safe_load("""
age: 33
current: {gestational_age: "6+4", intrauterine_confirmed: true, fetal_heart_activity: false, bleeding: false}
pregnancies:
  - {outcome: miscarriage, gestational_age: 7, date: 2023-05}
  - {outcome: miscarriage, gestational_age: 8, date: 2024-07}
  - {outcome: miscarriage, gestational_age: 6, date: 2025-09}
""")


def _alerts(a: dict[str, Any]) -> set[str]:
    found = a["alerts"] + [al for o in a["options"] for al in o["alerts"]]
    return {al["id"] for al in found if "id" in al}


def test_a_partial_septum_with_losses_meets_asrm_2016_and_the_trust_result(assess):
    a = assess(**SUBSEPTATE)
    s = stance(a, "asrm16-septum-prior-loss")
    assert s["applies"] is True and s["stance"] == "conditional_for" and s["guideline"] == "ASRM-2016-SEPTUM"
    texts = " ".join(al["text"] for al in option(a, "septum_resection")["alerts"])
    assert "TRUST" in texts and "31%" in texts


def test_a_normal_uterus_is_not_the_septum_population(assess):
    normal = {**SUBSEPTATE, "findings": {**SUBSEPTATE["findings"], "uterus": "normal"}}
    assert stance(assess(**normal), "asrm16-septum-prior-loss")["applies"] is False


def test_hereditary_thrombophilia_is_routed_to_vte_assessment_not_miscarriage_heparin(assess):
    a = assess(**FVL)
    assert stance(a, "eshre-thrombophilia-no-lmwh")["applies"] is True  # no heparin to prevent miscarriage
    exception = stance(a, "eshre-thrombophilia-vte-exception")
    assert exception["applies"] is True and exception["source"]["verified"] is True
    rcog = stance(a, "rcog37a-vte-risk-assessment")
    assert rcog["applies"] is True and rcog["strength"] == "Grade C"
    assert "vte_risk_assessment" in {s["therapy"] for s in a["plan"]["supported"]}


def test_without_a_thrombotic_risk_the_vte_statement_stays_out_of_her_plan(assess):
    a = assess(**SUBSEPTATE)
    assert stance(a, "rcog37a-vte-risk-assessment")["applies"] is False


def test_a_mid_trimester_loss_opens_the_cervical_pathway(assess):
    a = assess(**MIDTRIMESTER)
    s = stance(a, "nice25-cerclage-or-progesterone")
    assert s["applies"] is True and "25 mm" in s["statement"] and s["source"]["verified"] is True
    window = option(a, "cervical_cerclage")["timing"]["windows"][0]
    assert "16+0" in window["text"] and "24+0" in window["text"]
    assert stance(assess(**SUBSEPTATE), "nice25-cerclage-or-progesterone")["applies"] is False


def test_no_heartbeat_on_an_early_scan_brings_the_rescan_rule(assess):
    assert "early-scan-rescan" in _alerts(assess(**EARLY_SCAN))
    beating = {**EARLY_SCAN, "current": {**EARLY_SCAN["current"], "fetal_heart_activity": True}}
    assert "early-scan-rescan" not in _alerts(assess(**beating))


def test_asrm_2012_does_not_recommend_immunotherapy(assess):
    a = assess(**SUBSEPTATE)
    for rid in ("asrm-immunotherapy-ivig", "asrm-immunotherapy-lymphocyte-immunotherapy"):
        s = stance(a, rid)
        assert s["applies"] is True and s["stance"] == "conditional_against" and s["source"]["verified"] is False


def test_eshre_ivig_depends_on_the_number_of_unexplained_losses(assess):
    """ESHRE 2022 opened IVIG to four or more unexplained losses; with two or three it stays advised against."""
    three, four = assess(**unexplained(3)), assess(**unexplained(4))
    assert stance(three, "eshre-ivig-under-4-losses")["applies"] is True
    assert stance(three, "eshre-ivig-4losses")["applies"] is False
    assert stance(four, "eshre-ivig-under-4-losses")["applies"] is False
    assert stance(four, "eshre-ivig-4losses")["applies"] is True
