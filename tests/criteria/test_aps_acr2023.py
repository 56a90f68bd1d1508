"""2023 ACR/EULAR APS classification criteria (Barbhaiya et al. 2023), built from the published definitions.

Entry: >=1 clinical criterion (D1-D6) and a positive aPL test (LA, or aCL/anti-b2GPI >= 40 units) within 3
years of it. Only the highest criterion per domain counts. Classified with >= 3 clinical AND >= 3 laboratory
points. Weights: D1 VTE 1 (high-risk profile) / 3; D2 arterial 2 (high-risk profile) / 4; D3 microvascular
suspected 2 / established 5; D4 >=3 consecutive deaths <16+0 w 1, fetal death 16+0-33+6 w 1, severe PE or
severe placental insufficiency <34+0 w 3, both 4; D5 valve thickening 2 / vegetation 4; D6 platelets 20-130
x10^9/L 2; D7 LA single 1 / persistent 5; D8 persistent: IgM moderate-or-high 1, IgG moderate 4, IgG high (aCL
or anti-b2GPI) 5, IgG high (both) 7; moderate 40-79, high >= 80 units.
"""

from __future__ import annotations

from typing import Any

from tests.criteria.test_aps_sydney import (
    CLEAN,
    LA_PERSISTENT,
    NEGATIVE_PANEL,
    THREE_EARLY,
    la,
    loss,
    quant,
    run,
)


def acr(**kw) -> dict[str, Any]:
    return run(**kw).acr_eular_2023


def persistent(test: str, value: float, second: float | None = None, ref: float | None = None) -> list[dict]:
    return [quant(test, value, "2024-09-02", ref=ref), quant(test, value if second is None else second, "2024-12-09", ref=ref)]


LA_NEG = [la("2024-09-02", "negative"), la("2024-12-09", "negative")]
VTE = {"type": "venous", "date": "2024-01-10", "high_risk_profile": False}


# ---------------------------------------------------------------- worked examples (clinical-facts §6.2)

def test_recurrent_early_loss_alone_cannot_reach_three_clinical_points():
    r = run(pregnancies=THREE_EARLY, labs=LA_PERSISTENT + persistent("anticardiolipin_igg", 90)
            + persistent("anti_b2gpi_igg", 95))
    a = r.acr_eular_2023
    assert a["domains"]["D4"] == 1 and a["clinical_points"] == 1
    assert a["laboratory_points"] == 5 + 7
    assert a["status"] == "not_met"
    assert r.sydney_2006["status"] == "met"
    for d in (a, r.sydney_2006):
        assert "1 point" in d["note"] and "D4" in d["note"]
    assert r.facts()["aps.acr_eular_2023"] is False and r.facts()["aps.any_met"] is True


def test_early_losses_plus_thrombocytopenia_plus_persistent_la_is_classified():
    a = acr(pregnancies=THREE_EARLY, labs=LA_PERSISTENT, findings=dict(CLEAN, thrombocytopenia_lowest=100))
    assert a["domains"]["D4"] == 1 and a["domains"]["D6"] == 2
    assert a["clinical_points"] == 3 and a["laboratory_points"] == 5
    assert a["status"] == "met"


def test_severe_preeclampsia_plus_moderate_igg_acl_is_classified():
    birth = loss("31+0", "2024-02-01", outcome="live_birth", severe_preeclampsia=True, placental_insufficiency=False)
    a = acr(pregnancies=[birth], labs=LA_NEG + persistent("anticardiolipin_igg", 50))
    assert a["domains"]["D4"] == 3 and a["domains"]["D8"] == 4
    assert a["status"] == "met"


def test_contract_shape_and_citations():
    a = acr(pregnancies=THREE_EARLY, labs=LA_PERSISTENT, findings=dict(CLEAN, thrombocytopenia_lowest=100))
    for key in ("status", "clinical_points", "laboratory_points", "domains", "missing"):
        assert key in a
    assert set(a["domains"]) == {f"D{i}" for i in range(1, 9)}
    assert a["clinical"] and a["laboratory"]
    for e in a["clinical"] + a["laboratory"]:
        assert e["source"]["document"] == "barbhaiya-2023" and e["source"]["locator"]
    assert a["entry"]["source"]["document"] == "barbhaiya-2023"


# ---------------------------------------------------------------- clinical domains

def test_d1_vte_with_and_without_high_risk_profile():
    without = acr(findings=dict(CLEAN, thromboses=[VTE]), labs=LA_PERSISTENT)
    assert without["domains"]["D1"] == 3 and without["status"] == "met"
    with_ = acr(findings=dict(CLEAN, thromboses=[dict(VTE, high_risk_profile=True)]), labs=LA_PERSISTENT)
    assert with_["domains"]["D1"] == 1 and with_["status"] == "not_met"
    unknown = acr(findings=dict(CLEAN, thromboses=[dict(VTE, high_risk_profile=None)]), labs=LA_PERSISTENT)
    assert unknown["domains"]["D1"] == 1 and unknown["domains_possible"]["D1"] == 3
    assert unknown["status"] == "indeterminate"
    assert any("high-risk VTE profile" in m for m in unknown["missing"])


def test_d1_highest_criterion_only():
    two = [dict(VTE, high_risk_profile=True), dict(VTE, date="2024-05-01")]
    assert acr(findings=dict(CLEAN, thromboses=two), labs=LA_PERSISTENT)["domains"]["D1"] == 3


def test_d2_arterial_thrombosis():
    at = {"type": "arterial", "date": "2024-01-10", "high_risk_profile": False}
    assert acr(findings=dict(CLEAN, thromboses=[at]), labs=LA_PERSISTENT)["domains"]["D2"] == 4
    at["high_risk_profile"] = True
    assert acr(findings=dict(CLEAN, thromboses=[at]), labs=LA_PERSISTENT)["domains"]["D2"] == 2


def test_superficial_thrombosis_scores_nothing():
    f = dict(CLEAN, thromboses=[dict(VTE, superficial=True)])
    assert acr(findings=f, labs=LA_PERSISTENT)["domains"]["D1"] == 0


def test_d3_microvascular():
    assert acr(findings=dict(CLEAN, microvascular="suspected"))["domains"]["D3"] == 2
    assert acr(findings=dict(CLEAN, microvascular="established"))["domains"]["D3"] == 5


def test_d5_cardiac_valve():
    assert acr(findings=dict(CLEAN, cardiac_valve="thickening"))["domains"]["D5"] == 2
    assert acr(findings=dict(CLEAN, cardiac_valve="vegetation"))["domains"]["D5"] == 4


def test_d6_platelet_boundaries():
    for count, points in ((19, 0), (20, 2), (100, 2), (130, 2), (131, 0)):
        assert acr(findings=dict(CLEAN, thrombocytopenia_lowest=count))["domains"]["D6"] == points, count


def test_d6_from_platelet_count_labs():
    f = {k: v for k, v in CLEAN.items() if k != "thrombocytopenia_lowest"}
    labs = [{"test": "platelet_count", "value": 250, "unit": "x10^9/L", "date": "2024-01-01"},
            {"test": "platelet_count", "value": 110, "unit": "x10^9/L", "date": "2024-03-01"}]
    assert acr(findings=f, labs=labs)["domains"]["D6"] == 2


def test_d4_early_window_15_6_vs_16_0():
    upto_15_6 = [loss("7+0", "2023-01-10"), loss("8+0", "2023-06-10"), loss("15+6", "2024-01-10")]
    a = acr(pregnancies=upto_15_6, labs=LA_PERSISTENT)
    assert a["domains"]["D4"] == 1
    assert [e["id"] for e in a["clinical"]] == ["acr2023.D4.consecutive_early_deaths"]
    at_16 = [loss("7+0", "2023-01-10"), loss("8+0", "2023-06-10"), loss("16+0", "2024-01-10")]
    a = acr(pregnancies=at_16, labs=LA_PERSISTENT)
    assert a["domains"]["D4"] == 1  # now from the fetal death at 16+0, not from the run
    assert [e["id"] for e in a["clinical"]] == ["acr2023.D4.fetal_death_16_34w"]


def test_d4_two_early_losses_score_nothing():
    assert acr(pregnancies=THREE_EARLY[:2], labs=LA_PERSISTENT)["domains"]["D4"] == 0


def test_d4_loss_at_10_weeks_still_in_the_2023_run():
    pregs = [loss("7+0", "2023-01-10"), loss("8+0", "2023-06-10"), loss("10+0", "2024-01-10")]
    assert acr(pregnancies=pregs, labs=LA_PERSISTENT)["domains"]["D4"] == 1


def test_d4_fetal_death_window_33_6_vs_34_0():
    assert acr(pregnancies=[loss("33+6", "2024-01-10", outcome="stillbirth")], labs=LA_PERSISTENT)["domains"]["D4"] == 1
    assert acr(pregnancies=[loss("34+0", "2024-01-10", outcome="stillbirth")], labs=LA_PERSISTENT)["domains"]["D4"] == 0


def test_d4_preeclampsia_and_placental_insufficiency():
    def birth(pe: bool, pi: bool, ga: str = "30+0") -> list[dict[str, Any]]:
        return [loss(ga, "2024-01-10", outcome="live_birth", severe_preeclampsia=pe, placental_insufficiency=pi)]

    assert acr(pregnancies=birth(True, False), labs=LA_PERSISTENT)["domains"]["D4"] == 3
    assert acr(pregnancies=birth(False, True), labs=LA_PERSISTENT)["domains"]["D4"] == 3
    assert acr(pregnancies=birth(True, True), labs=LA_PERSISTENT)["domains"]["D4"] == 4
    assert acr(pregnancies=birth(True, True, "34+0"), labs=LA_PERSISTENT)["domains"]["D4"] == 0


def test_undocumented_findings_leave_2023_open_and_are_named():
    a = acr(pregnancies=THREE_EARLY, labs=LA_PERSISTENT, findings={"uterus": "normal", "parental_karyotype": "normal",
                                                                   "thromboses": []})
    assert a["status"] == "indeterminate" and a["clinical_points"] == 1
    text = " ".join(a["missing"])
    assert "cardiac valve" in text and "platelet" in text and "microvascular" in text
    assert "has no date" not in text  # ask for the finding before its date
    assert "note" in a


# ---------------------------------------------------------------- laboratory domains

def test_d7_single_vs_persistent_la():
    f = dict(CLEAN, thromboses=[VTE])
    single = acr(findings=f, labs=[la("2024-09-02"), la("2024-12-09", "negative")] + NEGATIVE_PANEL)
    assert single["domains"]["D7"] == 1 and single["status"] == "not_met"
    pers = acr(findings=f, labs=LA_PERSISTENT + NEGATIVE_PANEL)
    assert pers["domains"]["D7"] == 5 and pers["status"] == "met"


def test_d8_moderate_boundary_39_vs_40():
    f = dict(CLEAN, thromboses=[VTE])
    assert acr(findings=f, labs=LA_NEG + persistent("anticardiolipin_igg", 39, ref=20))["domains"]["D8"] == 0
    assert acr(findings=f, labs=LA_NEG + persistent("anticardiolipin_igg", 40))["domains"]["D8"] == 4


def test_d8_high_boundary_79_vs_80():
    f = dict(CLEAN, thromboses=[VTE])
    assert acr(findings=f, labs=LA_NEG + persistent("anticardiolipin_igg", 79))["domains"]["D8"] == 4
    assert acr(findings=f, labs=LA_NEG + persistent("anticardiolipin_igg", 80))["domains"]["D8"] == 5


def test_d8_high_igg_in_both_assays_scores_seven():
    labs = LA_NEG + persistent("anticardiolipin_igg", 85) + persistent("anti_b2gpi_igg", 90)
    assert acr(findings=dict(CLEAN, thromboses=[VTE]), labs=labs)["domains"]["D8"] == 7


def test_d8_high_must_be_persistent_at_the_high_level():
    labs = LA_NEG + persistent("anticardiolipin_igg", 85, second=60)
    assert acr(findings=dict(CLEAN, thromboses=[VTE]), labs=labs)["domains"]["D8"] == 4


def test_d8_single_result_scores_nothing_yet():
    labs = LA_NEG + [quant("anticardiolipin_igg", 90, "2024-12-09")]
    a = acr(findings=dict(CLEAN, thromboses=[VTE]), labs=labs)
    assert a["domains"]["D8"] == 0 and a["domains_possible"]["D8"] >= 5


def test_isolated_igm_scores_one_point():
    for test in ("anticardiolipin_igm", "anti_b2gpi_igm"):
        labs = LA_NEG + persistent(test, 150, ref=20)
        a = acr(findings=dict(CLEAN, thromboses=[VTE]), labs=labs)
        assert a["domains"]["D8"] == 1 and a["laboratory_points"] == 1


def test_igm_only_profile_meets_sydney_but_not_2023():
    labs = [la("2024-09-02", "negative"), la("2024-12-09", "negative")] + persistent("anticardiolipin_igm", 90)
    death = [loss("18+0", "2024-01-10", outcome="miscarriage", morphologically_normal=True)]
    r = run(pregnancies=death, labs=labs + NEGATIVE_PANEL[0:1] + NEGATIVE_PANEL[2:])
    assert r.sydney_2006["status"] == "met"
    assert r.acr_eular_2023["status"] == "not_met"
    assert "IgM" in r.acr_eular_2023["note"]


def test_highest_criterion_per_domain_only():
    labs = LA_NEG + persistent("anticardiolipin_igm", 150) + persistent("anticardiolipin_igg", 50)
    assert acr(findings=dict(CLEAN, thromboses=[VTE]), labs=labs)["domains"]["D8"] == 4


# ---------------------------------------------------------------- entry criterion

def test_entry_three_year_window():
    f = dict(CLEAN, thromboses=[dict(VTE, date="2020-01-10")])
    inside = acr(findings=f, labs=[la("2023-01-10"), la("2023-05-01")] + NEGATIVE_PANEL)
    assert inside["entry"]["met"] is True and inside["status"] == "met"
    outside = acr(findings=f, labs=[la("2023-01-11"), la("2023-05-01")] + NEGATIVE_PANEL)
    assert outside["entry"]["met"] is False and outside["status"] == "entry_not_met"


def test_entry_low_titre_acl_is_not_enough():
    f = dict(CLEAN, thromboses=[VTE])
    labs = LA_NEG + persistent("anticardiolipin_igg", 35, ref=20) + NEGATIVE_PANEL[1:]
    assert acr(findings=f, labs=labs)["status"] == "entry_not_met"


def test_entry_without_clinical_criterion():
    assert acr(labs=LA_PERSISTENT + NEGATIVE_PANEL)["status"] == "entry_not_met"


def test_entry_with_undated_event_is_undecided():
    f = dict(CLEAN, thromboses=[{"type": "venous", "high_risk_profile": False}])
    a = acr(findings=f, labs=LA_PERSISTENT + NEGATIVE_PANEL)
    assert a["status"] == "indeterminate" and a["entry"]["met"] is None
    assert any("findings.thromboses[0]" in m for m in a["missing"])


def test_dated_finding_can_satisfy_the_three_year_entry_window():
    """Entry needs a positive aPL test within 3 years of the clinical criterion: a dated valve finding can be
    checked against it; an undated one leaves entry undecided when it is the only clinical criterion."""
    labs = LA_PERSISTENT + persistent("anticardiolipin_igg", 90)
    undated = acr(labs=labs, findings=dict(CLEAN, cardiac_valve="vegetation"))
    assert undated["status"] in ("indeterminate", "entry_not_met")
    dated = acr(labs=labs, findings=dict(CLEAN, cardiac_valve="vegetation", cardiac_valve_date="2024-06"))
    assert dated["domains"]["D5"] == 4
    assert dated["status"] == "met"
    too_old = acr(labs=labs, findings=dict(CLEAN, cardiac_valve="vegetation", cardiac_valve_date="2019-01"))
    assert too_old["status"] != "met"
