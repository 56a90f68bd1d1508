"""A structural chromosome rearrangement in a partner: genetic counselling, PGT-SR and prenatal diagnosis as the
options the guidelines name, and which partner carries it as an input the record can state."""

from __future__ import annotations

import pytest
import yaml

from rplnav.patient import InputError, parse_patient
from tests.knowledge.conftest import option, stance

# Recurrent miscarriage clinic, 2 Sep 2026: "34, three miscarriages at 7-9 weeks (2023-2026), one with cytogenetics
# reporting an unbalanced der(11)t(11;22). Parental bloods: her partner carries a balanced t(11;22)(q23;q11);
# she is 46,XX. aPL screen negative twice, TSH 1.9, uterus normal on 3D scan. No medical history."
CARRIER_COUPLE = yaml.safe_load("""
age: 34
country: DE
pregnancies:
  - {outcome: miscarriage, gestational_age: "7+4", date: 2023-11}
  - {outcome: miscarriage, gestational_age: "9+0", date: 2024-10, poc_karyotype: unbalanced_structural}
  - {outcome: miscarriage, gestational_age: "8+1", date: 2026-01}
labs:
  - {test: lupus_anticoagulant, result: negative, date: 2026-03-03}
  - {test: lupus_anticoagulant, result: negative, date: 2026-06-10}
  - {test: anticardiolipin_igg, result: negative, date: 2026-03-03}
  - {test: anticardiolipin_igm, result: negative, date: 2026-03-03}
  - {test: anti_b2gpi_igg, result: negative, date: 2026-03-03}
  - {test: anti_b2gpi_igm, result: negative, date: 2026-03-03}
  - {test: tsh, value: 1.9, unit: mIU/L, date: 2026-03-03}
findings: {uterus: normal, parental_karyotype: balanced_translocation, parental_karyotype_carrier: male, thromboses: []}
conditions: []
""")

OPTIONS = ("genetic_counselling", "pgt_sr", "prenatal_diagnosis")


def test_a_translocation_carrier_couple_is_offered_counselling_pgt_sr_and_prenatal_diagnosis(assess):
    a = assess(**CARRIER_COUPLE)
    supported = {s["therapy"] for s in a["plan"]["supported"]}
    assert set(OPTIONS) <= supported
    assert stance(a, "eshre-sr-counselling")["applies"] is True
    assert stance(a, "asrm-sr-pgt")["applies"] is True and stance(a, "eshre-sr-pgt")["applies"] is True
    assert stance(a, "asrm-sr-prenatal")["applies"] is True
    assert any("natural conception" in c["text"] for c in option(a, "pgt_sr")["alerts"])


def test_the_carrier_is_recorded_and_kept(assess):
    a = assess(**CARRIER_COUPLE)
    assert a["facts"]["parental_karyotype.carrier"] == "male"
    assert a["facts"]["parental_karyotype.structural"] is True


def test_normal_karyotypes_bring_no_genetic_options(assess):
    normal = {**CARRIER_COUPLE, "findings": {"uterus": "normal", "parental_karyotype": "normal", "thromboses": []}}
    a = assess(**normal)
    for therapy in OPTIONS:
        assert all(s["applies"] is False for s in option(a, therapy)["stances"]), therapy


def test_the_options_are_for_known_carriers(assess):
    """The statements are written for carrier couples: an untested couple is not one (the work-up asks for the
    karyotype where a guideline recommends it), while an abnormality of unstated kind stays undecided."""
    untested = {**CARRIER_COUPLE, "findings": {"uterus": "normal", "thromboses": []}}
    a = assess(**untested)
    assert all(s["applies"] is False for t in OPTIONS for s in option(a, t)["stances"])
    other = {**CARRIER_COUPLE, "findings": {"uterus": "normal", "parental_karyotype": "other_abnormal", "thromboses": []}}
    assert stance(assess(**other), "eshre-sr-pgt")["applies"] is None


def test_a_carrier_without_an_abnormal_karyotype_is_a_contradiction(knowledge):
    doc = {"schema": "rplnav.patient/v1", "id": "x", "age": 30, **CARRIER_COUPLE,
           "findings": {"parental_karyotype": "normal", "parental_karyotype_carrier": "female"}}
    with pytest.raises(InputError) as e:
        parse_patient(doc, knowledge.tests, set(knowledge.therapies))
    assert "findings.parental_karyotype_carrier" in str(e.value)
