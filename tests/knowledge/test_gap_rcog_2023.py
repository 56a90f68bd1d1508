"""RCOG Green-top 17 (2023) beyond its definition and progesterone: APS treatment, levothyroxine in euthyroid
TPO-positive women, immunotherapy and infection screening, so that a UK patient's matrix no longer shows these
as not encoded."""

from __future__ import annotations

import yaml

from tests.knowledge.conftest import stance, sydney_obstetric_aps

# Early pregnancy unit, Leeds, referral letter 3 Aug 2026: "29, three miscarriages at 6-8 weeks since 2023. TSH
# 2.4 with TPO antibodies 180 (ref <34). LA, aCL, B2GPI negative on two occasions. 3D scan normal, karyotypes
# normal. She has read about IVIG, steroids and intralipid online and asks about them."
TPO_POSITIVE_GB = yaml.safe_load("""
age: 29
country: GB
pregnancies:
  - {outcome: miscarriage, gestational_age: "6+4", date: 2023-09}
  - {outcome: miscarriage, gestational_age: "8+0", date: 2024-08}
  - {outcome: miscarriage, gestational_age: "7+1", date: 2025-12}
labs:
  - {test: tsh, value: 2.4, unit: mIU/L, date: 2026-02-11}
  - {test: tpo_antibodies, value: 180, unit: IU/mL, reference_high: 34, date: 2026-02-11}
  - {test: lupus_anticoagulant, result: negative, date: 2026-02-11}
  - {test: lupus_anticoagulant, result: negative, date: 2026-05-20}
  - {test: anticardiolipin_igg, result: negative, date: 2026-02-11}
  - {test: anticardiolipin_igm, result: negative, date: 2026-02-11}
  - {test: anti_b2gpi_igg, result: negative, date: 2026-02-11}
  - {test: anti_b2gpi_igm, result: negative, date: 2026-02-11}
findings: {uterus: normal, parental_karyotype: normal}
""")

IMMUNOTHERAPIES = ("ivig", "prednisolone", "intralipid", "lymphocyte-immunotherapy")


def test_euthyroid_tpo_positive_uk_patient_is_not_advised_levothyroxine_by_rcog_2023(assess):
    a = assess(**TPO_POSITIVE_GB)
    s = stance(a, "rcog23-levothyroxine-tpo")
    assert s["applies"] is True and s["stance"] == "conditional_against"
    assert s["source"]["verified"] is False  # treatment text of the 2023 guideline not read


def test_rcog_2023_keeps_immunotherapy_to_research(assess):
    a = assess(**TPO_POSITIVE_GB)
    for t in IMMUNOTHERAPIES:
        s = stance(a, f"rcog23-immunotherapy-{t}")
        assert s["applies"] is True and s["stance"] == "research_only", t


def test_rcog_2023_infection_screening_is_research_only_with_its_grade(assess):
    s = stance(assess(**TPO_POSITIVE_GB), "rcog23-test-infection")
    assert s["applies"] is True and s["stance"] == "research_only" and s["strength"] == "Grade C"
    assert s["source"]["verified"] is True


def test_rcog_2023_aps_treatment_applies_to_obstetric_aps_only(assess):
    assert stance(assess(**sydney_obstetric_aps()), "rcog23-aps-aspirin-heparin")["applies"] is True
    assert stance(assess(**TPO_POSITIVE_GB), "rcog23-aps-aspirin-heparin")["applies"] is False


def test_two_losses_are_outside_rcog_2023(assess):
    two = {**TPO_POSITIVE_GB, "pregnancies": TPO_POSITIVE_GB["pregnancies"][:2]}
    a = assess(**two)
    assert stance(a, "rcog23-levothyroxine-tpo")["applies"] is False
    assert stance(a, "rcog23-immunotherapy-ivig")["applies"] is False

