"""Per-guideline stances for specific patients, each checking one recommendation id against the guideline text."""

from __future__ import annotations

from tests.knowledge.conftest import negative_apl, option, stance, sydney_obstetric_aps, unexplained


def refractory_aps():
    p = sydney_obstetric_aps()
    p["pregnancies"] = p["pregnancies"] + [
        {"outcome": "miscarriage", "gestational_age": "8+0", "date": "2025-06", "treatments": ["aspirin", "lmwh"]}]
    return p


# ---------------------------------------------------------------- ACR 2020
def test_acr_obstetric_aps_aspirin_lmwh_strong_for(assess):
    """ACR 2020: obstetric APS -> low-dose aspirin + prophylactic heparin (strong). Rec acr-oaps-aspirin-lmwh."""
    a = assess(**sydney_obstetric_aps())
    s = stance(a, "acr-oaps-aspirin-lmwh")
    assert s["applies"] is True and s["stance"] == "strong_for" and s["aps_definition"] == "sydney-2006"


def test_acr_refractory_stances(assess):
    """ACR 2020 refractory obstetric APS: HCQ conditional for; IVIG and therapeutic dose conditional against;
    prednisone strong against."""
    a = assess(**refractory_aps())
    assert stance(a, "acr-refractory-hcq")["applies"] is True
    assert stance(a, "acr-refractory-ivig") | {} and stance(a, "acr-refractory-ivig")["applies"] is True
    assert stance(a, "acr-refractory-ivig")["stance"] == "conditional_against"
    assert stance(a, "acr-refractory-therapeutic")["applies"] is True
    assert stance(a, "acr-refractory-prednisone")["stance"] == "strong_against"
    assert stance(a, "acr-refractory-prednisone")["applies"] is True


def test_acr_refractory_does_not_apply_before_a_loss_on_treatment(assess):
    a = assess(**sydney_obstetric_aps())
    assert stance(a, "acr-refractory-ivig")["applies"] is False


def test_acr_thrombotic_aps_therapeutic_dose(assess):
    """ACR 2020: thrombotic APS -> aspirin + therapeutic heparin (strong). Rec acr-taps-therapeutic."""
    p = sydney_obstetric_aps()
    p["findings"] = {**p["findings"], "thromboses": [{"type": "venous", "date": "2022-05"}]}
    a = assess(**p)
    s = stance(a, "acr-taps-therapeutic")
    assert s["applies"] is True and s["stance"] == "strong_for"


def test_acr_apl_positive_without_aps(assess):
    """ACR 2020: aPL-positive, APS criteria not met -> aspirin conditional for, adding heparin conditional
    against. A single positive LA (not persistent) with two losses does not meet Sydney."""
    p = unexplained(2)
    p["labs"] = [lab for lab in p["labs"] if lab["test"] != "lupus_anticoagulant"] + [
        {"test": "lupus_anticoagulant", "result": "positive", "date": "2025-04-20"}]
    a = assess(**p)
    assert stance(a, "acr-apl-aspirin")["applies"] is True
    assert stance(a, "acr-apl-no-heparin")["applies"] is True
    assert stance(a, "acr-apl-no-heparin")["stance"] == "conditional_against"
    assert stance(a, "acr-oaps-aspirin-lmwh")["applies"] is False


# ---------------------------------------------------------------- EULAR 2019
def test_eular_refractory_may_be_considered(assess):
    """EULAR 2019: despite aspirin + prophylactic heparin, therapeutic heparin, HCQ or first-trimester low-dose
    prednisolone may be considered (conditional for)."""
    a = assess(**refractory_aps())
    for rid in ("eular-refractory-therapeutic", "eular-refractory-hcq", "eular-refractory-prednisolone"):
        s = stance(a, rid)
        assert s["applies"] is True and s["stance"] == "conditional_for", rid
    assert stance(a, "eular-oaps-aspirin-lmwh")["applies"] is True


# ---------------------------------------------------------------- ESHRE
def test_eshre_ivig_applies_with_four_unexplained_losses(assess):
    """ESHRE 2022: repeated high-dose IVIG may help with >=4 unexplained losses. Rec eshre-ivig-4losses."""
    a = assess(**unexplained(4))
    s = stance(a, "eshre-ivig-4losses")
    assert s["applies"] is True and s["stance"] == "conditional_for"


def test_eshre_ivig_does_not_apply_with_two_losses(assess):
    a = assess(**unexplained(2))
    assert stance(a, "eshre-ivig-4losses")["applies"] is False


def test_eshre_ivig_does_not_apply_when_aps_explains_the_losses(assess):
    p = sydney_obstetric_aps()
    p["pregnancies"] = p["pregnancies"] + [{"outcome": "miscarriage", "gestational_age": "7+0", "date": "2025-06"}]
    a = assess(**p)
    assert stance(a, "eshre-ivig-4losses")["applies"] is False


def test_eshre_aps_three_losses_conditional_for(assess):
    """ESHRE: laboratory APS + >=3 losses -> aspirin before conception + heparin from the positive test."""
    a = assess(**sydney_obstetric_aps())
    s = stance(a, "eshre-aps-3losses-aspirin-heparin")
    assert s["applies"] is True and s["stance"] == "conditional_for" and s["source"]["verified"] is True


def test_eshre_unexplained_heparin_not_recommended(assess):
    a = assess(**unexplained(3))
    assert stance(a, "eshre-unexplained-aspirin-lmwh")["applies"] is True
    assert stance(a, "eshre-unexplained-aspirin-lmwh")["stance"] == "strong_against"
    assert stance(a, "eshre-aps-3losses-aspirin-heparin")["applies"] is False


def test_eshre_hereditary_thrombophilia_no_prophylaxis(assess):
    p = unexplained(3)
    p["labs"] = p["labs"] + [{"test": "factor_v_leiden", "result": "heterozygous", "date": "2025-01-10"}]
    a = assess(**p)
    assert stance(a, "eshre-thrombophilia-no-prophylaxis")["applies"] is True


def test_eshre_2017_nk_testing_insufficient_evidence(assess):
    a = assess(**unexplained(2))
    s = stance(a, "eshre17-test-nk")
    assert s["applies"] is True and s["stance"] == "insufficient_evidence" and s["certainty"] == "very_low"


# ---------------------------------------------------------------- GLADEL-PANLAR 2018
def test_gladel_sle_apl_ivig_strong_against(assess):
    """GLADEL-PANLAR 2018: SLE + aPL + RPL -> do not add IVIG (strong). Rec gladel-sle-apl-ivig."""
    a = assess(**sydney_obstetric_aps(conditions=["sle"]))
    s = stance(a, "gladel-sle-apl-ivig")
    assert s["applies"] is True and s["stance"] == "strong_against"


def test_gladel_needs_sle(assess):
    a = assess(**sydney_obstetric_aps())
    assert stance(a, "gladel-sle-apl-ivig")["applies"] is False


# ---------------------------------------------------------------- ASRI 2025
def test_asri_ivig_needs_four_losses_and_immune_marker(assess):
    """ASRI 2025 row 2: IVIG for immune abnormality (raised peripheral NK ...) and >=4 losses."""
    nk = {"test": "nk_cells_peripheral", "value": 18, "unit": "%", "date": "2025-01-10"}
    p4 = unexplained(4)
    p4["labs"] = p4["labs"] + [nk]
    assert stance(assess(**p4), "asri-ivig")["applies"] is True
    p3 = unexplained(3)
    p3["labs"] = p3["labs"] + [nk]
    assert stance(assess(**p3), "asri-ivig")["applies"] is False


def test_asri_lit_not_permitted_in_us(assess):
    a = assess(country="US", **unexplained(3))
    assert stance(a, "asri-lit-us")["applies"] is True
    assert stance(a, "asri-lit-us")["stance"] == "not_permitted"
    assert stance(a, "asri-lit")["applies"] is False


# ---------------------------------------------------------------- NICE / RCOG / Lancet
def bleeding_now(**extra):
    p = unexplained(3)
    p["current"] = {"gestational_age": "7+0", "intrauterine_confirmed": True, "bleeding": True}
    p.update(extra)
    return p


def test_nice_progesterone_with_bleeding(assess):
    """NICE NG126: scan-confirmed IUP + bleeding + previous miscarriage -> offer progesterone."""
    a = assess(**bleeding_now())
    assert stance(a, "nice-progesterone-bleeding")["applies"] is True
    assert stance(a, "nice-progesterone-no-bleeding")["applies"] is False
    assert stance(a, "rcog23-progesterone-bleeding")["applies"] is True
    assert option(a, "progesterone")["timing"]["windows"][0]["status"] in ("open", "closing")


def test_progesterone_without_bleeding(assess):
    a = assess(**unexplained(3))
    assert stance(a, "nice-progesterone-no-bleeding")["applies"] is True
    assert stance(a, "rcog23-progesterone-no-bleeding")["stance"] == "insufficient_evidence"
    assert stance(a, "rcog23-progesterone-no-bleeding")["applies"] is True


def test_lancet_levothyroxine_subclinical_hypothyroidism(assess):
    p = unexplained(3)
    p["labs"] = [lab for lab in p["labs"] if lab["test"] != "tsh"] + [
        {"test": "tsh", "value": 6.2, "unit": "mIU/L", "reference_high": 4.0, "date": "2025-01-10"}]
    # subclinical means a raised TSH with a free T4 within the range: without free T4 it stays undecided
    undecided = stance(assess(**p), "lancet-levothyroxine-sch")
    assert undecided["applies"] is None and any("free_t4" in n for n in undecided["needs"])
    p["labs"].append({"test": "free_t4", "value": 15, "unit": "pmol/L", "date": "2025-01-10"})
    a = assess(**p)
    assert stance(a, "lancet-levothyroxine-sch")["applies"] is True


# ---------------------------------------------------------------- work-up
def test_rcog_workup_after_three_first_trimester_losses(assess):
    a = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": "7+0"}] * 3, labs=negative_apl())
    assert stance(a, "rcog23-test-tpo")["applies"] is True
    assert stance(a, "rcog23-test-uterus")["applies"] is True
    two = assess(pregnancies=[{"outcome": "miscarriage", "gestational_age": "7+0"}] * 2)
    assert stance(two, "rcog23-test-tpo")["applies"] is False
    assert stance(two, "eshre22-test-la")["applies"] is True  # ESHRE starts after two losses
