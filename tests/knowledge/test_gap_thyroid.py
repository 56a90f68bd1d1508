"""Thyroid in pregnancy (ATA 2017, read in review tables that quote it): TSH monitoring and the levothyroxine
statements for TPO-positive women, the preconception target and dose increase for treated hypothyroidism,
beside TABLET's answer for euthyroid TPO-positive women."""

from __future__ import annotations

import yaml

from tests.knowledge.conftest import stance

# Antenatal booking, 7+2 weeks, 9 Oct 2026: "32, two previous miscarriages (2024, 2025). Known TPO antibodies
# 220 (ref <34), TSH 1.8 before this pregnancy, not on thyroxine. Early scan: intrauterine, heartbeat seen. No
# bleeding. No medical history otherwise."
PREGNANT_TPO = yaml.safe_load("""
age: 32
current: {gestational_age: "7+2", intrauterine_confirmed: true, fetal_heart_activity: true, bleeding: false}
pregnancies:
  - {outcome: miscarriage, gestational_age: 8, date: 2024-03}
  - {outcome: miscarriage, gestational_age: "6+5", date: 2025-06}
labs:
  - {test: tsh, value: 1.8, unit: mIU/L, reference_high: 4.2, date: 2026-05-14}
  - {test: tpo_antibodies, value: 220, unit: IU/mL, reference_high: 34, date: 2026-05-14}
conditions: []
""")

# Fertility clinic, preconception, 20 Aug 2026: "36, hypothyroid on levothyroxine 75 micrograms since 2019, three
# miscarriages 2022-2025, wants to try again; TSH 3.1 last month."
TREATED_HYPOTHYROID = yaml.safe_load("""
age: 36
pregnancies:
  - {outcome: miscarriage, gestational_age: 7, date: 2022-10}
  - {outcome: miscarriage, gestational_age: 9, date: 2024-02}
  - {outcome: miscarriage, gestational_age: "6+1", date: 2025-05}
labs:
  - {test: tsh, value: 3.1, unit: mIU/L, date: 2026-07-20}
conditions: [hypothyroidism]
medications: [levothyroxine]
""")


def test_pregnant_euthyroid_tpo_positive_woman_has_tsh_monitored_and_meets_the_tablet_caution(assess):
    a = assess(**PREGNANT_TPO)
    mon = stance(a, "ata-tpo-tsh-monitoring")
    assert mon["applies"] is True and "30 weeks" in mon["statement"]
    assert mon["source"]["tier"] == "secondary"
    lt4 = stance(a, "ata-lt4-tpo-prior-loss")
    assert lt4["applies"] is True and lt4["stance"] == "conditional_for"
    assert "TABLET" in lt4["source"]["note"]
    # a normal TSH is not the raised-TSH population
    assert stance(a, "ata-lt4-tpo-raised-tsh")["applies"] is False


def test_a_raised_tsh_in_pregnancy_with_tpo_antibodies_calls_for_levothyroxine(assess):
    labs = [dict(lab, value=5.6) if lab["test"] == "tsh" else lab for lab in PREGNANT_TPO["labs"]]
    a = assess(**{**PREGNANT_TPO, "labs": labs})
    s = stance(a, "ata-lt4-tpo-raised-tsh")
    assert s["applies"] is True and s["stance"] == "strong_for" and s["certainty"] == "moderate"


def test_the_monitoring_statement_waits_for_a_pregnancy(assess):
    not_pregnant = {k: v for k, v in PREGNANT_TPO.items() if k != "current"}
    assert stance(assess(**not_pregnant), "ata-tpo-tsh-monitoring")["applies"] is False


def test_treated_hypothyroidism_gets_the_preconception_target_and_the_dose_increase(assess):
    s = stance(assess(**TREATED_HYPOTHYROID), "ata-lt4-treated-hypothyroid")
    assert s["applies"] is True
    assert "2.5" in s["statement"] and "20-30%" in s["statement"]
    assert s["source"]["verified"] is False


def test_ata_advises_against_ivig_for_euthyroid_women_with_rpl(assess):
    s = stance(assess(**PREGNANT_TPO), "ata-ivig-rpl")
    assert s["applies"] is True and s["stance"] == "conditional_against"
